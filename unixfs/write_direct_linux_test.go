package unixfs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/trove-p2p/trove/internal/directio"
	"golang.org/x/sys/unix"
)

// resident counts the pages of file path that are in the page cache.
func resident(t *testing.T, path string) (in, total int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	pg := os.Getpagesize()
	vec := make([]byte, (len(m)+pg-1)/pg)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		in += int(v & 1)
	}
	return in, len(vec)
}

// directWorks reports whether dir's file system takes O_DIRECT writes.
func directWorks(t *testing.T, dir string) bool {
	f, err := os.Create(filepath.Join(dir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	w := directio.Open(f)
	defer w.Close()
	w.WriteAt(directio.Aligned(1<<16, 1<<16), 0)
	return w.Direct() > 0
}

// A get's large output goes around the page cache, its small ones through
// it, and both hold the right bytes.
func TestWriteToLargeFileDirect(t *testing.T) {
	dir := t.TempDir()
	if !directWorks(t, dir) {
		t.Skipf("the file system of %s does not take O_DIRECT writes: nothing to test", dir)
	}
	b := newBuilder(t)
	for _, tc := range []struct {
		name   string
		size   int
		direct bool
	}{
		{"large", directio.MinSize + 3<<20 + 77, true},
		{"small", directio.MinSize - 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randBytes(uint64(tc.size), tc.size)
			root := b.file(data, fileOpts{chunk: 256 << 10, fanout: 7})
			out := filepath.Join(dir, tc.name)
			st, err := WriteTo(context.Background(), b.s, root, out, WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st.Bytes != int64(tc.size) {
				t.Fatalf("wrote %d bytes, want %d", st.Bytes, tc.size)
			}
			in, total := resident(t, out) // before reading it, which would cache it
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("the output differs from the file")
			}
			t.Logf("%d of %d pages in the page cache after the write", in, total)
			if tc.direct && in > 2 {
				t.Errorf("%d of %d pages cached: the file was not written direct", in, total)
			}
			if !tc.direct && in < total/2 {
				t.Errorf("%d of %d pages cached: a small file should go through the page cache", in, total)
			}
		})
	}
}
