package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
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

// Only-hash isolates chunking and hashing from Badger.
func BenchmarkAddOnlyHash64MiB(b *testing.B) { benchAdd(b, 64<<20, true) }

// addBenchSize is $TROVE_ADD_BENCH_SIZE bytes, default 64 MiB, so that
// `go test -bench .` stays quick; the published figures use 1 GiB
// (TROVE_ADD_BENCH_SIZE=1073741824, see docs/performance.md).
func addBenchSize(b *testing.B) int64 {
	s := os.Getenv("TROVE_ADD_BENCH_SIZE")
	if s == "" {
		return 64 << 20
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("TROVE_ADD_BENCH_SIZE=%q", s)
	}
	return n
}

// benchFile writes size random bytes to a file and reads it once, so the
// benchmark adds a page-cached file as `trove add FILE` does, and the
// generator's cost stays out of the timed loop.
func benchFile(b *testing.B, size int64) string {
	path := filepath.Join(b.TempDir(), "input")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, randReader(7, size)); err != nil {
		b.Fatal(err)
	}
	// Written back now, so that the first measurement does not pay for
	// flushing the input.
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// sha256Limit hashes size bytes as 1 MiB chunks on every core and returns
// MB/s: the ceiling for only-hash on this machine at this moment.
func sha256Limit(size int64) float64 {
	chunk := make([]byte, 1<<20)
	io.ReadFull(randReader(3, int64(len(chunk))), chunk)
	w := runtime.GOMAXPROCS(0)
	per := size / int64(len(chunk)) / int64(w)
	start := time.Now()
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for range per {
				sha256.Sum256(chunk)
			}
		})
	}
	wg.Wait()
	return mbps(per*int64(w)*int64(len(chunk)), time.Since(start))
}

// storeLimit writes size bytes of 1 MiB blocks through a blockstore Batch
// with no hashing (keys are made up; the store trusts its input) and
// commits: the ceiling for durable add's storage half.
func storeLimit(b *testing.B, size int64) float64 {
	s, err := blockstore.Open(b.TempDir(), blockstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const bs = 1 << 20
	pool := make([]byte, 16<<20)
	io.ReadFull(randReader(5, int64(len(pool))), pool)
	cids := make([]cid.Cid, size/bs)
	var key [8]byte
	for i := range cids {
		binary.BigEndian.PutUint64(key[:], uint64(i))
		c, err := block.Sum(1, block.CodecRaw, block.HashSHA256, key[:])
		if err != nil {
			b.Fatal(err)
		}
		cids[i] = c
	}
	ctx := context.Background()
	start := time.Now()
	bt := s.NewBatch()
	for i, c := range cids {
		off := (i * bs) % len(pool)
		if err := bt.Put(ctx, c, pool[off:off+bs]); err != nil {
			b.Fatal(err)
		}
	}
	if err := bt.Commit(); err != nil {
		b.Fatal(err)
	}
	return mbps(int64(len(cids))*bs, time.Since(start))
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

// BenchmarkAdd1GiB adds one page-cached file (1 GiB with
// TROVE_ADD_BENCH_SIZE=1073741824) durably and with only-hash, and
// measures in the same run the two limits it is judged against: raw
// SHA-256 on all cores and raw Batch writes into the store. Each
// sub-benchmark reports its own MB/s next to the limit and the ratio, so a
// loaded machine shows up in both rather than as a false regression.
func BenchmarkAdd1GiB(b *testing.B) {
	size := addBenchSize(b)
	path := benchFile(b, size)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		onlyHash bool
	}{{"durable", false}, {"only-hash", true}} {
		b.Run(tc.name, func(b *testing.B) {
			n, err := Open(ctx, b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			// The limits are taken first, on a quiet store, once per
			// sub-benchmark; the timer starts at the first b.Loop.
			sha := sha256Limit(size)
			var st float64
			if !tc.onlyHash {
				st = storeLimit(b, size)
			}
			var elapsed time.Duration
			runs := 0
			b.SetBytes(size)
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				_, err = n.Add(ctx, ReaderEntry(f), AddOptions{OnlyHash: tc.onlyHash})
				elapsed += time.Since(start)
				runs++
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
			got := mbps(size*int64(runs), elapsed)
			b.ReportMetric(sha, "sha256-MB/s")
			b.ReportMetric(got/sha, "x-sha256")
			if !tc.onlyHash {
				b.ReportMetric(st, "store-MB/s")
				b.ReportMetric(got/st, "x-store")
			}
		})
	}
}

// BenchmarkSHA256Parallel is raw SHA-256 of 1 MiB chunks on every core,
// the only-hash ceiling, as a benchmark of its own.
func BenchmarkSHA256Parallel(b *testing.B) {
	chunk := make([]byte, 1<<20)
	io.ReadFull(randReader(3, int64(len(chunk))), chunk)
	b.SetBytes(int64(len(chunk)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sha256.Sum256(chunk)
		}
	})
}

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
