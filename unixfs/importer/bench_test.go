package importer

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
)

// benchSize is the input length: $TROVE_BENCH_SIZE bytes, default 256 MiB.
func benchSize(b *testing.B) int64 {
	if s := os.Getenv("TROVE_BENCH_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("TROVE_BENCH_SIZE=%q", s)
		}
		return n
	}
	return 256 << 20
}

// patternReader produces n pseudo-random bytes without holding them, so
// the benchmark measures the importer and not the input's memory.
type patternReader struct {
	left  int64
	state uint64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	i := 0
	for ; i+8 <= len(p); i += 8 {
		r.state = r.state*6364136223846793005 + 1442695040888963407
		s := r.state
		p[i], p[i+1], p[i+2], p[i+3] = byte(s>>56), byte(s>>48), byte(s>>40), byte(s>>32)
		p[i+4], p[i+5], p[i+6], p[i+7] = byte(s>>24), byte(s>>16), byte(s>>8), byte(s)
	}
	for ; i < len(p); i++ {
		p[i] = byte(i)
	}
	r.left -= int64(len(p))
	return len(p), nil
}

// cachedReader replays one in-memory 16 MiB block up to n bytes: the
// stand-in for a page-cached file, where reading costs a memcpy.
type cachedReader struct {
	src  []byte
	left int64
	off  int
}

func newCachedReader(n int64) *cachedReader {
	src := make([]byte, 16<<20)
	io.ReadFull(&patternReader{left: int64(len(src)), state: 1}, src)
	return &cachedReader{src: src, left: n}
}

func (r *cachedReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := copy(p, r.src[r.off:])
	r.off = (r.off + n) % len(r.src)
	r.left -= int64(n)
	return n, nil
}

func (r *cachedReader) reset(n int64) { r.left, r.off = n, 0 }

// mapSink is an in-memory block store: it keeps every block, as a
// memory-backed blockstore would, without verifying (the importer made them).
type mapSink struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *mapSink) Put(_ context.Context, c cid.Cid, data []byte) error {
	s.mu.Lock()
	s.m[c.KeyString()] = data
	s.mu.Unlock()
	return nil
}

func BenchmarkImport(b *testing.B) {
	size := benchSize(b)
	for _, bc := range []struct {
		name string
		sink func() Putter
	}{
		{"only-hash", func() Putter { return nil }},
		{"mem-sink", func() Putter { return &mapSink{m: map[string][]byte{}} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := newCachedReader(size)
			b.SetBytes(size)
			b.ResetTimer()
			for b.Loop() {
				r.reset(size)
				if _, err := ImportReader(context.Background(), r, Params{}, bc.sink()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkImportFile reads a real file (written once, then in the page
// cache) with only-hash: the `trove add --only-hash` path.
func BenchmarkImportFile(b *testing.B) {
	size := benchSize(b)
	path := b.TempDir() + "/input"
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, newCachedReader(size)); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, err := ImportFile(context.Background(), path, Params{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSHA256Parallel is the ceiling for BenchmarkImport: raw SHA-256
// of 1 MiB chunks on every core, with no I/O.
func BenchmarkSHA256Parallel(b *testing.B) {
	size := benchSize(b)
	chunk := make([]byte, 1<<20)
	io.ReadFull(&patternReader{left: int64(len(chunk)), state: 2}, chunk)
	w := runtime.GOMAXPROCS(0)
	b.SetBytes(size)
	for b.Loop() {
		var wg sync.WaitGroup
		per := size / int64(len(chunk)) / int64(w)
		for range w {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range per {
					sha256.Sum256(chunk)
				}
			}()
		}
		wg.Wait()
	}
}
