package node

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
)

// randReader is an endless stream of incompressible bytes, so benchmarks
// measure hashing and storage rather than the generator or a cache.
func randReader(seed byte, n int64) io.Reader {
	var s [32]byte
	s[0] = seed
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func benchAdd(b *testing.B, size int64, onlyHash bool) {
	ctx := context.Background()
	n, err := Open(ctx, b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	b.SetBytes(size)
	i := byte(0)
	for b.Loop() {
		i++
		if _, err := n.Add(ctx, ReaderEntry(randReader(i, size)), AddOptions{OnlyHash: onlyHash}); err != nil {
			b.Fatal(err)
		}
	}
}

// Durable add (import, batch commit with fsync, pin) of one file.
func BenchmarkAdd64MiB(b *testing.B) { benchAdd(b, 64<<20, false) }
func BenchmarkAdd1GiB(b *testing.B)  { benchAdd(b, 1<<30, false) }

// Only-hash isolates chunking and hashing from Badger.
func BenchmarkAddOnlyHash64MiB(b *testing.B) { benchAdd(b, 64<<20, true) }

func BenchmarkCat64MiB(b *testing.B) {
	ctx := context.Background()
	n, err := Open(ctx, b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	const size = 64 << 20
	res, err := n.Add(ctx, ReaderEntry(randReader(1, size)), AddOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	for b.Loop() {
		if m, err := n.Cat(ctx, res.Roots[0], io.Discard); err != nil || m != size {
			b.Fatal(m, err)
		}
	}
}

// TestBenchHelpersRoundTrip keeps the benchmark data path honest: what the
// benchmark adds is what cat returns.
func TestBenchHelpersRoundTrip(t *testing.T) {
	ctx := context.Background()
	n := openNode(t, t.TempDir(), Options{})
	want, _ := io.ReadAll(randReader(9, 3<<20))
	res, err := n.Add(ctx, ReaderEntry(randReader(9, 3<<20)), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := n.Cat(ctx, res.Roots[0], &got); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("cat: %v, equal=%v", err, bytes.Equal(got.Bytes(), want))
	}
}
