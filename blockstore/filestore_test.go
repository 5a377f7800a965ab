package blockstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trove-p2p/trove/block"
)

// refFile writes the leaves of a dag() to one file, back to back, and
// stores each leaf as a reference into it and the root as bytes, the way
// add --nocopy does. It returns the file's path.
func refFile(t *testing.T, s *Store, bs []blk) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "content")
	var all []byte
	for _, b := range bs[:len(bs)-1] {
		all = append(all, b.data...)
	}
	if err := os.WriteFile(path, all, 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := StatFile(path)
	if err != nil {
		t.Fatal(err)
	}
	batch := s.NewBatch()
	var off int64
	for _, b := range bs[:len(bs)-1] {
		if err := batch.PutRef(ctx, b.c, Ref{Path: path, Offset: off, Length: len(b.data), File: id}); err != nil {
			t.Fatal(err)
		}
		off += int64(len(b.data))
	}
	root := bs[len(bs)-1]
	if err := batch.Put(ctx, root.c, root.data); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, root.c, PinOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := batch.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRefReadsBackAndStoresNoBytes(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	bs := dag(t, "ref", 8, 64<<10)
	refFile(t, s, bs)
	for _, b := range bs {
		got, err := s.Get(ctx, b.c)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(b.data) {
			t.Fatalf("%s: bytes differ", b.c)
		}
		got, err = s.AppendBlock(ctx, b.c, []byte("prefix"))
		if err != nil || string(got) != "prefix"+string(b.data) {
			t.Fatalf("AppendBlock(%s): %v", b.c, err)
		}
		if n, err := s.Size(ctx, b.c); err != nil || n != len(b.data) {
			t.Fatalf("Size(%s) = %d, %v", b.c, n, err)
		}
		// The mount borrows blocks (Lend): a referenced one is read
		// and checked like Get, not taken for missing.
		lent, release, err := s.Lend(ctx, b.c)
		if err != nil || string(lent) != string(b.data) {
			t.Fatalf("Lend(%s): %d bytes, %v", b.c, len(lent), err)
		}
		release()
	}
	mustHave(t, s, bs, true)
	st, err := s.Stat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root := bs[len(bs)-1]
	if st.Blocks != 1 || st.Bytes != int64(len(root.data)) || st.Refs != 8 || st.RefBytes != 8*64<<10 {
		t.Fatalf("stat = %+v, want the root stored and 8 references of 64 KiB", st)
	}
	n := 0
	for _, err := range s.AllKeys(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != len(bs) {
		t.Fatalf("AllKeys yielded %d keys, want %d", n, len(bs))
	}
}

// TestRefChangedFileIsMissing changes the referenced file in each way a
// user might and checks that the blocks it affects count as missing and
// never come out with other bytes.
func TestRefChangedFileIsMissing(t *testing.T) {
	const leaf = 64 << 10
	tests := []struct {
		name string
		// change alters the file; it returns the leaves that must be
		// missing for Get.
		change func(t *testing.T, path string) []int
		// hasStays: the change keeps size, mtime and inode, so the cheap
		// Has cannot see it; only Get's hash does.
		hasStays bool
	}{
		{"byte flipped", func(t *testing.T, path string) []int {
			flip(t, path, 2*leaf+5)
			return []int{0, 1, 2, 3}
		}, false},
		{"byte flipped, mtime put back", func(t *testing.T, path string) []int {
			fi, _ := os.Stat(path)
			flip(t, path, 2*leaf+5)
			if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			return []int{2}
		}, true},
		{"mtime touched", func(t *testing.T, path string) []int {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
			return []int{0, 1, 2, 3}
		}, false},
		{"truncated", func(t *testing.T, path string) []int {
			if err := os.Truncate(path, leaf); err != nil {
				t.Fatal(err)
			}
			return []int{0, 1, 2, 3}
		}, false},
		{"deleted", func(t *testing.T, path string) []int {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			return []int{0, 1, 2, 3}
		}, false},
		{"replaced by a copy", func(t *testing.T, path string) []int {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(path)
			tmp := path + ".new"
			if err := os.WriteFile(tmp, data, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			return []int{0, 1, 2, 3} // another inode
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := openT(t, t.TempDir(), Options{})
			bs := dag(t, "chg", 4, leaf)
			path := refFile(t, s, bs)
			gone := tt.change(t, path)
			for i, b := range bs[:4] {
				missing := contains(gone, i)
				got, err := s.Get(ctx, b.c)
				switch {
				case missing && !errors.Is(err, block.ErrNotFound):
					t.Fatalf("leaf %d: Get = %d bytes, %v; want not found", i, len(got), err)
				case !missing && (err != nil || string(got) != string(b.data)):
					t.Fatalf("leaf %d: Get: %v", i, err)
				}
				has, err := s.Has(ctx, b.c)
				if err != nil {
					t.Fatal(err)
				}
				if want := !missing || tt.hasStays; has != want {
					t.Fatalf("leaf %d: Has = %v, want %v", i, has, want)
				}
			}
			// verify reports exactly the affected references, and
			// repair drops them.
			res, err := s.Verify(ctx, VerifyOptions{Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Refs != 4 || res.StaleRefs != len(gone) || res.RefsDropped != len(gone) || res.DanglingPins != 1 {
				t.Fatalf("verify = refs %d, stale %d, dropped %d, dangling %d; want 4, %d, %d, 1",
					res.Refs, res.StaleRefs, res.RefsDropped, res.DanglingPins, len(gone), len(gone))
			}
			st, err := s.Stat(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Refs != int64(4-len(gone)) {
				t.Fatalf("after repair %d references, want %d", st.Refs, 4-len(gone))
			}
		})
	}
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestGCRemovesUnpinnedRefs(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	bs := dag(t, "gc", 5, 4<<10)
	refFile(t, s, bs)
	res, err := s.GC(ctx, GCOptions{SkipReclaim: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Refs != 0 || res.Blocks != 0 {
		t.Fatalf("GC of pinned content deleted %+v", res)
	}
	if err := s.Unpin(ctx, bs[len(bs)-1].c); err != nil {
		t.Fatal(err)
	}
	res, err = s.GC(ctx, GCOptions{SkipReclaim: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Refs != 5 || res.Blocks != 1 {
		t.Fatalf("GC after unpin = %+v, want 5 references and the root", res)
	}
	st, err := s.Stat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Refs != 0 || st.Blocks != 0 {
		t.Fatalf("stat after GC = %+v", st)
	}
	mustHave(t, s, bs, false)
}

func TestAdoptReplacesStoredCopy(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	data := []byte("head|the leaf bytes|tail")
	leaf := data[5:19]
	c := rawCid(t, leaf)
	if err := s.Put(ctx, c, leaf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := StatFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ss := s.Session()
	defer ss.End()
	// A range that does not hold the bytes is refused and the copy stays.
	if err := ss.Adopt(ctx, c, Ref{Path: path, Offset: 4, Length: len(leaf), File: id}); !errors.Is(err, block.ErrNotFound) {
		t.Fatalf("Adopt of the wrong range = %v", err)
	}
	if st, _ := s.Stat(ctx); st.Blocks != 1 || st.Refs != 0 {
		t.Fatalf("after a refused adopt: %+v", st)
	}
	if err := ss.Adopt(ctx, c, Ref{Path: path, Offset: 5, Length: len(leaf), File: id}); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stat(ctx); st.Blocks != 0 || st.Refs != 1 || st.RefBytes != int64(len(leaf)) {
		t.Fatalf("after adopt: %+v", st)
	}
	got, err := s.Get(ctx, c)
	if err != nil || string(got) != string(leaf) {
		t.Fatalf("Get after adopt = %q, %v", got, err)
	}
}

func TestPutRefRefuses(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	bs := dag(t, "refuse", 1, 16)
	abs := filepath.Join(t.TempDir(), "f")
	tests := []struct {
		name string
		blk  blk
		ref  Ref
		want error
	}{
		{"dag-pb block", bs[1], Ref{Path: abs, Length: 1, File: FileID{Size: 1}}, ErrNotRaw},
		{"relative path", bs[0], Ref{Path: "f", Length: 1, File: FileID{Size: 1}}, errBadRef},
		{"unclean path", bs[0], Ref{Path: abs + "/../f", Length: 1, File: FileID{Size: 1}}, errBadRef},
		{"range past the end", bs[0], Ref{Path: abs, Offset: 1, Length: 16, File: FileID{Size: 16}}, errBadRef},
		{"too long", bs[0], Ref{Path: abs, Length: block.MaxSize + 1, File: FileID{Size: block.MaxSize + 1}}, errBadRef},
	}
	ss := s.Session()
	defer ss.End()
	for _, tt := range tests {
		if err := ss.PutRef(ctx, tt.blk.c, tt.ref); !errors.Is(err, tt.want) {
			t.Errorf("%s: PutRef = %v, want %v", tt.name, err, tt.want)
		}
	}
}
