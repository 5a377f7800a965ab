package directio

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// tempFile is a file on the test's temp dir, which is where a get writes
// (a real file system: ext4 on the CI machines).
func tempFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestWriteAtSpans(t *testing.T) {
	const size = 3<<20 + 123
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(rand.Uint32())
	}
	al := Aligned(size, 4096)
	copy(al, want)
	cases := []struct {
		name  string
		spans [][2]int // [off, len), in write order
		src   []byte   // what the spans are cut from
	}{
		{"one aligned write", [][2]int{{0, size}}, al},
		{"1 MiB pieces in order", [][2]int{{0, 1 << 20}, {1 << 20, 1 << 20}, {2 << 20, 1 << 20}, {3 << 20, 123}}, al},
		{"out of order", [][2]int{{2 << 20, 1<<20 + 123}, {0, 1 << 20}, {1 << 20, 1 << 20}}, al},
		{"ragged offsets", [][2]int{{0, 5000}, {5000, 1<<20 + 7}, {1<<20 + 5007, size - (1<<20 + 5007)}}, al},
		{"unaligned memory", [][2]int{{0, size}}, nil}, // src set below
		{"small writes", [][2]int{{0, 100}, {100, 4000}, {4100, size - 4100}}, al},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			if src == nil {
				src = Aligned(size+1, 4096)[1:] // one byte past an aligned address
				copy(src, want)
			}
			f := tempFile(t)
			w := Open(f)
			defer w.Close()
			for _, s := range tc.spans {
				n, err := w.WriteAt(src[s[0]:s[0]+s[1]], int64(s[0]))
				if err != nil || n != s[1] {
					t.Fatalf("WriteAt(%d, %d) = %d, %v", s[0], s[1], n, err)
				}
			}
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("file differs from what was written (%d bytes, want %d)", len(got), len(want))
			}
			if w.d == nil && w.closer == nil {
				t.Logf("no O_DIRECT on %s: every write was buffered", filepath.Dir(f.Name()))
				return
			}
			if w.Direct() == 0 {
				t.Errorf("nothing was written direct")
			}
			if w.Direct()%int64(w.offAlign) != 0 {
				t.Errorf("%d bytes direct: not whole units of %d", w.Direct(), w.offAlign)
			}
		})
	}
}

// refusing is a direct descriptor of a file system that accepted the
// O_DIRECT open but refuses the writes.
type refusing struct {
	mu    sync.Mutex
	calls int
}

func (r *refusing) WriteAt([]byte, int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return 0, &os.PathError{Op: "write", Path: "out", Err: syscall.EINVAL}
}

func TestWriteAtFallsBack(t *testing.T) {
	f := tempFile(t)
	r := &refusing{}
	w := &File{f: f, d: r, memAlign: 4096, offAlign: 4096}
	data := Aligned(2<<20, 4096)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for off := 0; off < len(data); off += 1 << 20 {
		if n, err := w.WriteAt(data[off:off+1<<20], int64(off)); err != nil || n != 1<<20 {
			t.Fatalf("WriteAt = %d, %v", n, err)
		}
	}
	got, _ := os.ReadFile(f.Name())
	if !bytes.Equal(got, data) {
		t.Fatal("file differs after the fall-back")
	}
	if r.calls != 1 {
		t.Errorf("direct writes tried %d times; want 1, then buffered for good", r.calls)
	}
	if w.Direct() != 0 {
		t.Errorf("Direct() = %d after a refusal", w.Direct())
	}
}

func TestSeq(t *testing.T) {
	f := tempFile(t)
	w := Open(f)
	defer w.Close()
	s := NewSeq(w)
	var want []byte
	buf := Aligned(1<<20, 4096)
	for i := range 5 {
		for j := range buf {
			buf[j] = byte(i + j)
		}
		n := len(buf) - i*1000 // the last pieces short, as a file's tail is
		if _, err := s.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		want = append(want, buf[:n]...)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f.Name())
	if !bytes.Equal(got, want) {
		t.Fatal("sequential writes differ")
	}
}

func TestAligned(t *testing.T) {
	for _, a := range []int{512, 4096, 65536} {
		b := Aligned(1000, a)
		if len(b) != 1000 || cap(b) != 1000 {
			t.Fatalf("len %d cap %d", len(b), cap(b))
		}
		if p := uintptrOf(b); p%uintptr(a) != 0 {
			t.Fatalf("address %#x not aligned to %d", p, a)
		}
	}
}

// full is a direct descriptor on a full disk.
type full struct{}

func (full) WriteAt([]byte, int64) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "out", Err: syscall.ENOSPC}
}

// A write error behind the producer reaches it: at a later Write or at
// the latest at Close, never lost.
func TestSeqReportsWriteError(t *testing.T) {
	f := tempFile(t)
	s := NewSeq(&File{f: f, d: full{}, memAlign: 4096, offAlign: 4096})
	buf := Aligned(1<<20, 4096)
	var werr error
	for range 10 {
		if _, werr = s.Write(buf); werr != nil {
			break
		}
	}
	cerr := s.Close()
	if !errors.Is(cerr, syscall.ENOSPC) {
		t.Fatalf("Close = %v, want ENOSPC", cerr)
	}
	if werr != nil && !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("Write = %v, want ENOSPC", werr)
	}
}
