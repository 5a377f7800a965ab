package unixfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
	"github.com/trove-p2p/trove/unixfs/pb"
)

func randBytes(seed uint64, n int) []byte {
	return randData(rand.New(rand.NewPCG(seed, 42)), n)
}

var fileShapes = []struct {
	name string
	size int
	o    fileOpts
}{
	{"empty", 0, fileOpts{chunk: 16, fanout: 4}},
	{"one leaf", 10, fileOpts{chunk: 16, fanout: 4}},
	{"exact leaves", 64, fileOpts{chunk: 16, fanout: 4}},
	{"two levels", 100, fileOpts{chunk: 16, fanout: 4}},
	{"four levels", 1000, fileOpts{chunk: 7, fanout: 3}},
	{"dag-pb leaves", 777, fileOpts{chunk: 10, fanout: 5, dagpbLeaves: true}},
	{"inline root data", 500, fileOpts{chunk: 33, fanout: 4, inline: 20}},
	{"only inline", 20, fileOpts{chunk: 33, fanout: 4, inline: 20}},
	{"wide", 20000, fileOpts{chunk: 100, fanout: 174}},
}

func TestFileReadAt(t *testing.T) {
	ctx := context.Background()
	for i, tc := range fileShapes {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t)
			want := randBytes(uint64(i), tc.size)
			root := b.file(want, tc.o)
			st, err := Stat(ctx, b.s, root)
			if err != nil || st.Size != uint64(tc.size) {
				t.Fatalf("Stat = %+v, %v", st, err)
			}
			f, err := NewFile(ctx, b.s, root)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Size() != int64(tc.size) {
				t.Fatalf("Size = %d, want %d", f.Size(), tc.size)
			}
			got, err := io.ReadAll(f)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("ReadAll: %d bytes, %v; content equal=%v", len(got), err, bytes.Equal(got, want))
			}
			// Offsets around every chunk boundary, then random spans.
			var offs []int
			for o := 0; o <= tc.size+1; o += tc.o.chunk {
				offs = append(offs, o-1, o, o+1)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for range 200 {
				offs = append(offs, rng.IntN(tc.size+2))
			}
			for _, off := range offs {
				if off < 0 {
					continue
				}
				n := 1 + rng.IntN(3*tc.o.chunk)
				p := make([]byte, n)
				got, err := f.ReadAt(p, int64(off))
				end := min(off+n, tc.size)
				if off >= tc.size {
					if got != 0 || err != io.EOF {
						t.Fatalf("ReadAt past end (%d): %d, %v", off, got, err)
					}
					continue
				}
				if got != end-off || !bytes.Equal(p[:got], want[off:end]) {
					t.Fatalf("ReadAt(%d, %d) = %d bytes, %v; content mismatch", off, n, got, err)
				}
				if (end < off+n) != (err == io.EOF) {
					t.Fatalf("ReadAt(%d, %d) err = %v", off, n, err)
				}
			}
			// Seek and read through the cursor.
			if tc.size > 3 {
				if _, err := f.Seek(-3, io.SeekEnd); err != nil {
					t.Fatal(err)
				}
				tail, _ := io.ReadAll(f)
				if !bytes.Equal(tail, want[tc.size-3:]) {
					t.Fatalf("tail after Seek = %x", tail)
				}
			}
		})
	}
}

// TestFileLoadsOnlyNeeded checks that a read at one offset fetches one
// block per level of the tree, not the file.
func TestFileLoadsOnlyNeeded(t *testing.T) {
	ctx := context.Background()
	b := newBuilder(t)
	data := randBytes(1, 4096)
	root := b.file(data, fileOpts{chunk: 16, fanout: 4}) // 256 leaves, depth 4 + leaf
	f, err := NewFileOptions(ctx, b.s, root, FileOptions{Prefetch: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := b.s.Gets()
	p := make([]byte, 3)
	if _, err := f.ReadAt(p, 2000); err != nil || !bytes.Equal(p, data[2000:2003]) {
		t.Fatalf("ReadAt: %v", err)
	}
	if got := b.s.Gets() - before; got != 4 {
		t.Fatalf("one small read fetched %d blocks, want 4 (3 inner + 1 leaf)", got)
	}
	before = b.s.Gets()
	if _, err := f.ReadAt(p, 2003); err != nil || !bytes.Equal(p, data[2003:2006]) {
		t.Fatalf("ReadAt: %v", err)
	}
	if got := b.s.Gets() - before; got != 0 {
		t.Fatalf("re-reading the cached leaf fetched %d blocks", got)
	}
}

// TestFilePrefetch reads sequentially through a slow getter and checks that
// leaves are fetched concurrently, within the window, and that the bytes
// are right.
func TestFilePrefetch(t *testing.T) {
	ctx := context.Background()
	data := randBytes(2, 64*100)
	for _, leaves := range []bool{false, true} {
		t.Run(fmt.Sprint("dagpbLeaves=", leaves), func(t *testing.T) {
			b := newBuilder(t)
			root := b.file(data, fileOpts{chunk: 100, fanout: 8, dagpbLeaves: leaves})
			b.s.SetFaults(memstore.Faults{OnGet: func(context.Context, cid.Cid) error {
				time.Sleep(2 * time.Millisecond)
				return nil
			}})
			f, err := NewFileOptions(ctx, b.s, root, FileOptions{Prefetch: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := io.ReadAll(f)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("ReadAll: %v", err)
			}
			if peak := b.s.PeakGets(); peak < 3 || peak > 5 {
				t.Fatalf("peak concurrent Gets = %d, want 3..5 with a window of 4", b.s.PeakGets())
			}
		})
	}
}

func TestFileConcurrentReadAt(t *testing.T) {
	ctx := context.Background()
	b := newBuilder(t)
	data := randBytes(3, 5000)
	f, err := NewFileOptions(ctx, b.s, b.file(data, fileOpts{chunk: 50, fanout: 4}), FileOptions{CacheNodes: 2, CacheLeaves: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 0))
			p := make([]byte, 77)
			for range 100 {
				off := rng.IntN(len(data) - len(p))
				if _, err := f.ReadAt(p, int64(off)); err != nil || !bytes.Equal(p, data[off:off+len(p)]) {
					t.Errorf("ReadAt(%d): %v", off, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestFileErrors(t *testing.T) {
	ctx := context.Background()
	b := newBuilder(t)
	leafA, leafB := b.raw([]byte("0123456789")), b.raw([]byte("abcdefghij"))
	link := func(c cid.Cid) pb.Link { return pb.Link{Cid: c} }
	dir := b.dir(entry{"x", leafA})
	missing, _ := block.Sum(1, block.CodecRaw, block.HashSHA256, []byte("never stored"))
	tests := []struct {
		name    string
		root    cid.Cid
		open    error // error from NewFile
		read    error // error from reading everything
		readOff int64
	}{
		{"directory", dir, ErrNotFile, nil, 0},
		{"symlink", b.symlink("x"), ErrNotFile, nil, 0},
		{"sizes count mismatch", b.pbNode([]pb.Link{link(leafA), link(leafB)}, &pb.FSNode{Type: pb.TFile, BlockSizes: []uint64{10}}), ErrMalformed, nil, 0},
		{"filesize disagrees", b.pbNode([]pb.Link{link(leafA)}, &pb.FSNode{Type: pb.TFile, BlockSizes: []uint64{10}, FileSize: 11, HasFileSize: true}), ErrMalformed, nil, 0},
		{"child smaller than blocksize", b.pbNode([]pb.Link{link(leafA), link(leafB)}, &pb.FSNode{Type: pb.TFile, BlockSizes: []uint64{12, 10}}), nil, ErrMalformed, 0},
		{"child is a directory", b.pbNode([]pb.Link{link(dir)}, &pb.FSNode{Type: pb.TFile, BlockSizes: []uint64{10}}), nil, ErrNotFile, 0},
		{"missing leaf", b.pbNode([]pb.Link{link(leafA), link(missing)}, &pb.FSNode{Type: pb.TFile, BlockSizes: []uint64{10, 10}}), nil, block.ErrNotFound, 15},
		{"missing root", missing, block.ErrNotFound, nil, 0},
		{"sizes overflow", b.pbNode([]pb.Link{link(leafA), link(leafB)}, &pb.FSNode{Type: pb.TFile, BlockSizes: []uint64{1 << 62, 1 << 62}}), ErrMalformed, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFile(ctx, b.s, tc.root)
			if tc.open != nil {
				if !errors.Is(err, tc.open) {
					t.Fatalf("NewFile err = %v, want %v", err, tc.open)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = f.ReadAt(make([]byte, 20), tc.readOff)
			if !errors.Is(err, tc.read) {
				t.Fatalf("ReadAt err = %v, want %v", err, tc.read)
			}
		})
	}
}

// hintedStore is a getter that implements Prefetcher by recording the
// hints, as a network session would turn them into want lists.
type hintedStore struct {
	*memstore.Store
	mu    sync.Mutex
	hints []cid.Cid
}

func (h *hintedStore) Prefetch(_ context.Context, cids []cid.Cid) {
	h.mu.Lock()
	h.hints = append(h.hints, cids...)
	h.mu.Unlock()
}

func TestFilePrefetcherHint(t *testing.T) {
	ctx := context.Background()
	b := newBuilder(t)
	data := randBytes(6, 3200)
	root := b.file(data, fileOpts{chunk: 100, fanout: 4})
	h := &hintedStore{Store: b.s}
	f, err := NewFileOptions(ctx, h, root, FileOptions{Prefetch: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 10) // many reads per leaf
	var got []byte
	for {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	seen := map[string]int{}
	leaves := 0
	for _, c := range h.hints {
		seen[c.KeyString()]++
		if c.Type() == block.CodecRaw {
			leaves++
		}
	}
	for k, n := range seen {
		if n > 1 {
			t.Fatalf("block %x announced %d times", k, n)
		}
	}
	// 32 leaves under 8 parents: a leaf is announced before it is read
	// unless it is the first under its parent, which cannot be named until
	// the parent block itself has arrived.
	if leaves != 32-8 {
		t.Fatalf("%d leaves announced, want 24 of 32", leaves)
	}
}

// gatedStore blocks every Get of gated until open is closed or the
// caller's context ends, as a stalled network fetch does.
type gatedStore struct {
	*memstore.Store
	gated cid.Cid
	open  chan struct{}
}

func (g *gatedStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if c.Equals(g.gated) {
		select {
		case <-g.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Store.Get(ctx, c)
}

// ReadAtContext must give up a blocked read when its own context ends,
// report that cancellation, and leave the file readable afterwards.
func TestFileReadAtContextCancel(t *testing.T) {
	b := newBuilder(t)
	data := randBytes(9, 400)
	leafA, leafB := b.raw(data[:200]), b.raw(data[200:])
	root := b.pbNode([]pb.Link{{Cid: leafA}, {Cid: leafB}}, &pb.FSNode{Type: pb.TFile, BlockSizes: []uint64{200, 200}})
	g := &gatedStore{Store: b.s, gated: leafB, open: make(chan struct{})}
	f, err := NewFileOptions(context.Background(), g, root, FileOptions{Prefetch: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := f.ReadAtContext(ctx, make([]byte, 10), 250)
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("read of a gated block returned before cancel: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled read: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadAtContext ignored its context")
	}

	// Ungated blocks still read with a live context, and the gated one
	// once it opens: the cancel ended one read, not the file.
	p := make([]byte, 100)
	if n, err := f.ReadAtContext(context.Background(), p, 50); err != nil || !bytes.Equal(p[:n], data[50:150]) {
		t.Fatalf("read after cancel: %d, %v", n, err)
	}
	close(g.open)
	if n, err := f.ReadAtContext(context.Background(), p, 250); err != nil || !bytes.Equal(p[:n], data[250:350]) {
		t.Fatalf("gated read after open: %d, %v", n, err)
	}
}

// SlicesContext returns, for every shape and many ranges, slices whose
// concatenation is exactly what ReadAt returns, with the same count and
// EOF.
func TestFileSlicesContext(t *testing.T) {
	ctx := context.Background()
	for i, tc := range fileShapes {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t)
			want := randBytes(uint64(i), tc.size)
			f, err := NewFile(ctx, b.s, b.file(want, tc.o))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, r := range [][2]int{{0, tc.size}, {0, 1}, {1, 17}, {tc.size / 3, tc.size / 2}, {max(tc.size-5, 0), 10}, {tc.size, 4}} {
				vec, n, err := f.SlicesContext(ctx, int64(r[0]), r[1])
				got := bytes.Join(vec, nil)
				end := min(r[0]+r[1], tc.size)
				if r[0] >= tc.size {
					if n != 0 || !errors.Is(err, io.EOF) {
						t.Errorf("at %d past the end: %d, %v", r[0], n, err)
					}
					continue
				}
				if n != end-r[0] || !bytes.Equal(got, want[r[0]:end]) || (end-r[0] < r[1]) != errors.Is(err, io.EOF) {
					t.Errorf("range %v: n %d (%d bytes joined), err %v; want %d bytes", r, n, len(got), err, end-r[0])
				}
			}
		})
	}
}

// lendingStore lends blocks of a memstore and counts loans not returned.
type lendingStore struct {
	block.Getter
	out atomic.Int64
}

func (l *lendingStore) Lend(ctx context.Context, c cid.Cid) ([]byte, func(), error) {
	b, err := l.Get(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	l.out.Add(1)
	var once sync.Once
	return b, func() { once.Do(func() { l.out.Add(-1) }) }, nil
}

func TestFileLendSlices(t *testing.T) {
	ctx := context.Background()
	for i, tc := range fileShapes {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t)
			want := randBytes(uint64(i), tc.size)
			ls := &lendingStore{Getter: b.s}
			f, err := NewFile(ctx, ls, b.file(want, tc.o))
			if err != nil {
				t.Fatal(err)
			}
			// Sequential reads first, so that prefetches run and are
			// consumed; then odd ranges.
			ranges := [][2]int{}
			for off := 0; off < tc.size; off += 7 << 10 {
				ranges = append(ranges, [2]int{off, 7 << 10})
			}
			ranges = append(ranges, [][2]int{{0, tc.size}, {0, 1}, {1, 17}, {tc.size / 3, tc.size / 2}, {max(tc.size-5, 0), 10}, {tc.size, 4}}...)
			for _, r := range ranges {
				vec, release, n, err := f.LendSlices(ctx, int64(r[0]), r[1])
				got := bytes.Join(vec, nil)
				release()
				end := min(r[0]+r[1], tc.size)
				if r[0] >= tc.size {
					if n != 0 || !errors.Is(err, io.EOF) {
						t.Errorf("at %d past the end: %d, %v", r[0], n, err)
					}
					continue
				}
				if n != end-r[0] || !bytes.Equal(got, want[r[0]:end]) || (end-r[0] < r[1]) != errors.Is(err, io.EOF) {
					t.Errorf("range %v: n %d (%d bytes joined), err %v; want %d bytes", r, n, len(got), err, end-r[0])
				}
			}
			f.Close()
			if n := ls.out.Load(); n != 0 {
				t.Errorf("%d loans not returned", n)
			}
		})
	}
}

// TestFileWriteToLends: WriteTo over a Lender getter, from the start and
// from a seek, writes exactly the file's bytes and returns every loan.
func TestFileWriteToLends(t *testing.T) {
	ctx := context.Background()
	for i, tc := range fileShapes {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t)
			want := randBytes(uint64(i)+100, tc.size)
			ls := &lendingStore{Getter: b.s}
			root := b.file(want, tc.o)
			for _, from := range []int64{0, int64(tc.size) / 3} {
				f, err := NewFile(ctx, ls, root)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.Seek(from, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				n, err := f.WriteTo(&out)
				if err != nil || n != int64(tc.size)-from || !bytes.Equal(out.Bytes(), want[from:]) {
					t.Errorf("WriteTo from %d: %d bytes, %v; want %d", from, n, err, int64(tc.size)-from)
				}
				f.Close()
				if n := ls.out.Load(); n != 0 {
					t.Errorf("%d loans not returned", n)
				}
			}
		})
	}
}
