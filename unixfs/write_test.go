package unixfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/car"
	"github.com/trove-p2p/trove/internal/memstore"
)

// snapshot records every path under dir (relative, with a type marker and
// for files the content) so tests can compare trees and prove that
// nothing else appeared.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link:" + target
		case d.IsDir():
			out[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = "file:" + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteToTree(t *testing.T) {
	ctx := context.Background()
	b := newBuilder(t)
	big := randBytes(9, 5000)
	var many []entry
	for i := range 300 {
		name := "h" + string(rune('a'+i%26)) + strings.Repeat("x", i%7) + string(rune('0'+i/26))
		many = append(many, entry{name, b.raw([]byte(name))})
	}
	slices.SortFunc(many, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	many = slices.CompactFunc(many, func(a, b entry) bool { return a.name == b.name })
	root := b.dir(
		entry{"a", b.dir(entry{"b.txt", b.raw([]byte("hello\n"))}, entry{"c", b.dir(entry{"d.bin", b.file(big, fileOpts{chunk: 64, fanout: 4})})})},
		entry{"e", b.raw(nil)},
		entry{"empty", b.dir()},
		entry{"hamt", b.hamt(many, 256)},
		entry{"up", b.symlink("../../etc/passwd")},
		entry{"abs", b.symlink("/etc")},
	)
	want := map[string]string{
		".": "dir", "a": "dir", "a/b.txt": "file:hello\n", "a/c": "dir", "a/c/d.bin": "file:" + string(big),
		"e": "file:", "empty": "dir", "hamt": "dir", "up": "link:../../etc/passwd", "abs": "link:/etc",
	}
	var hamtBytes int
	for _, e := range many {
		want["hamt/"+e.name] = "file:" + e.name
		hamtBytes += len(e.name)
	}

	out := filepath.Join(t.TempDir(), "out")
	var last int64
	calls := 0
	st, err := WriteTo(ctx, b.s, root, out, WriteOptions{Progress: func(n int64) {
		if n < last {
			t.Errorf("progress went back: %d after %d", n, last)
		}
		last = n
		calls++
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, out)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %.40q, want %.40q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d paths written, want %d", len(got), len(want))
	}
	wantBytes := int64(6 + len(big) + hamtBytes)
	if st.Files != 3+len(many) || st.Dirs != 5 || st.Symlinks != 2 || st.Bytes != wantBytes || last != wantBytes || calls == 0 {
		t.Errorf("Stats = %+v, last progress %d, want %d bytes", st, last, wantBytes)
	}

	// A second write without Force refuses and changes nothing.
	if _, err := WriteTo(ctx, b.s, root, out, WriteOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("rewrite without Force: %v", err)
	}
	// With Force it merges into the existing tree, replacing files.
	os.WriteFile(filepath.Join(out, "a", "b.txt"), []byte("changed"), 0o644)
	os.WriteFile(filepath.Join(out, "extra"), []byte("kept"), 0o644)
	if _, err := WriteTo(ctx, b.s, root, out, WriteOptions{Force: true}); err != nil {
		t.Fatalf("rewrite with Force: %v", err)
	}
	got = snapshot(t, out)
	if got["a/b.txt"] != "file:hello\n" || got["extra"] != "file:kept" {
		t.Fatalf("after Force: b.txt=%q extra=%q", got["a/b.txt"], got["extra"])
	}

	// A single file and a single symlink as the top level.
	single := filepath.Join(t.TempDir(), "d.bin")
	if _, err := WriteTo(ctx, b.s, b.file(big, fileOpts{chunk: 100, fanout: 3}), single, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(single); !bytes.Equal(b, big) {
		t.Fatal("single file content differs")
	}
}

// hostileNames are entry names that must never reach the filesystem.
var hostileNames = []string{"", ".", "..", "../escape", "a/b", "/abs", "a\x00b", "a\\b", "..\\escape"}

func TestWriteToHostileNames(t *testing.T) {
	ctx := context.Background()
	for _, name := range hostileNames {
		t.Run(strings.ReplaceAll(name, "/", "SLASH"), func(t *testing.T) {
			b := newBuilder(t)
			evil := b.raw([]byte("evil"))
			evilDir := b.dir(entry{"payload", evil})
			good := b.raw([]byte("good"))
			var trees []cid.Cid
			trees = append(trees,
				b.dir(entry{"ok", good}, entry{name, evil}),
				b.dir(entry{"sub", b.dir(entry{name, evilDir})}),
				b.hamt([]entry{{"ok", good}, {name, evil}}, 256),
			)
			for i, root := range trees {
				base := t.TempDir()
				out := filepath.Join(base, "out")
				_, err := WriteTo(ctx, b.s, root, out, WriteOptions{})
				if !rejected(err, name, i == 2) {
					t.Fatalf("tree %d: err = %v, want ErrBadPath", i, err)
				}
				assertNoEvil(t, base)
				if filepath.Dir(out) != base {
					t.Fatal("test bug")
				}

				// The same tree through a CAR file fails the same way.
				var buf bytes.Buffer
				if err := car.Export(ctx, b.s, root, &buf); err != nil {
					t.Fatal(err)
				}
				s2 := memstore.New()
				if _, _, err := car.Import(ctx, &buf, s2); err != nil {
					t.Fatal(err)
				}
				base2 := t.TempDir()
				if _, err := WriteTo(ctx, s2, root, filepath.Join(base2, "out"), WriteOptions{}); !rejected(err, name, i == 2) {
					t.Fatalf("tree %d via CAR: err = %v, want ErrBadPath", i, err)
				}
				assertNoEvil(t, base2)
			}
		})
	}
}

// rejected reports whether err is the refusal expected for name. In a HAMT
// an empty name leaves a link named only by its slot, which reads as a
// sub-shard pointer, so it fails as a malformed shard instead.
func rejected(err error, name string, hamt bool) bool {
	if hamt && name == "" {
		return errors.Is(err, ErrMalformed)
	}
	return errors.Is(err, ErrBadPath)
}

// assertNoEvil checks that no file holding the hostile payload exists
// anywhere under base (nor next to it), and nothing but "out" was created.
func assertNoEvil(t *testing.T, base string) {
	t.Helper()
	for p, v := range snapshot(t, filepath.Dir(base)) {
		if v == "file:evil" {
			t.Fatalf("hostile entry written at %s", p)
		}
	}
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		if e.Name() != "out" {
			t.Fatalf("%s created next to out", e.Name())
		}
	}
}

// TestWriteToSymlinksNotFollowed builds trees that try to write through a
// symlink they created themselves, or through one already in a target
// directory, and checks that the outside directory stays empty.
func TestWriteToSymlinksNotFollowed(t *testing.T) {
	ctx := context.Background()
	b := newBuilder(t)
	outside := t.TempDir()
	evil := b.raw([]byte("evil"))
	// Same name twice: first a symlink out, then a directory to write through it.
	dup := b.dir(entry{"x", b.symlink(outside)}, entry{"x", b.dir(entry{"payload", evil})})
	// Same name twice: a symlink to a file outside, then a file to write over it.
	dupFile := b.dir(entry{"y", b.symlink(filepath.Join(outside, "target"))}, entry{"y", evil})

	for _, root := range []cid.Cid{dup, dupFile} {
		for _, force := range []bool{false, true} {
			out := filepath.Join(t.TempDir(), "out")
			if _, err := WriteTo(ctx, b.s, root, out, WriteOptions{Force: force}); err == nil {
				t.Errorf("duplicate names (force=%v): no error", force)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Fatalf("wrote %s outside the target", ents[0].Name())
			}
		}
	}

	// An existing symlink inside out, with Force: a directory of the same
	// name must not be entered; a file of the same name replaces the link
	// itself, not its target.
	out := t.TempDir()
	os.Symlink(outside, filepath.Join(out, "x"))
	os.WriteFile(filepath.Join(outside, "target"), []byte("untouched"), 0o644)
	os.Symlink(filepath.Join(outside, "target"), filepath.Join(out, "y"))
	if _, err := WriteTo(ctx, b.s, b.dir(entry{"x", b.dir(entry{"payload", evil})}), out, WriteOptions{Force: true}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("dir over symlink: %v", err)
	}
	if _, err := WriteTo(ctx, b.s, b.dir(entry{"y", evil}), out, WriteOptions{Force: true}); err != nil {
		t.Fatalf("file over symlink with Force: %v", err)
	}
	if got := snapshot(t, outside); len(got) != 2 || got["target"] != "file:untouched" {
		t.Fatalf("outside changed: %v", got)
	}
	if fi, _ := os.Lstat(filepath.Join(out, "y")); !fi.Mode().IsRegular() {
		t.Fatalf("y is %v, want a regular file replacing the link", fi.Mode())
	}
	// Without Force the existing link is an error and stays a link.
	os.Remove(filepath.Join(out, "y"))
	os.Symlink(filepath.Join(outside, "target"), filepath.Join(out, "y"))
	if _, err := WriteTo(ctx, b.s, b.dir(entry{"y", evil}), filepath.Join(out, "fresh"), WriteOptions{}); err != nil {
		t.Fatal(err) // a fresh directory: fine
	}
	if _, err := WriteTo(ctx, b.s, evil, filepath.Join(out, "y"), WriteOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("file over existing link without Force: %v", err)
	}
	if got := snapshot(t, outside); got["target"] != "file:untouched" {
		t.Fatalf("outside changed: %v", got)
	}
}

// TestWriteToNoPartialFile checks that a file whose blocks run out midway
// leaves neither the final name nor a temp file behind.
func TestWriteToNoPartialFile(t *testing.T) {
	ctx := context.Background()
	b := newBuilder(t)
	data := randBytes(5, 3000)
	root := b.file(data, fileOpts{chunk: 100, fanout: 4})
	n, _ := getNode(ctx, b.s, root)
	lost := n.pb.Links[len(n.pb.Links)-1].Cid // the last subtree
	b.s.SetFaults(memstore.Faults{Missing: []cid.Cid{lost}})
	dir := t.TempDir()
	out := filepath.Join(dir, "f")
	var progress int64
	_, err := WriteTo(ctx, b.s, b.dir(entry{"ok", b.raw([]byte("fine"))}, entry{"f", root}), out, WriteOptions{Progress: func(n int64) { progress = n }})
	if !errors.Is(err, block.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if progress == 0 {
		t.Fatal("the file was not partly written before the failure; test proves nothing")
	}
	got := snapshot(t, out)
	if len(got) != 2 || got["ok"] != "file:fine" {
		t.Fatalf("left behind: %v", got)
	}
}

func TestWriteToTrailingSlash(t *testing.T) {
	b := newBuilder(t)
	root := b.dir(entry{"f", b.raw([]byte("x"))})
	out := filepath.Join(t.TempDir(), "out") + "/"
	if _, err := WriteTo(context.Background(), b.s, root, out, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, out); got["f"] != "file:x" {
		t.Fatalf("wrote %v", got)
	}
}

// TestWriteToForceNeverReplacesDir: Force replaces files but never puts a
// file or symlink where a directory is, and says so in its own words (the
// rename used to fail naming trove's temporary file), leaving nothing
// behind.
func TestWriteToForceNeverReplacesDir(t *testing.T) {
	ctx := context.Background()
	b := newBuilder(t)
	file := b.raw([]byte("a file"))
	for _, tc := range []struct {
		name string
		root cid.Cid
		at   string // what must stay a directory, relative to out
	}{
		{"top-level file", file, ""},
		{"file in a tree", b.dir(entry{"x", file}), "x"},
		{"symlink in a tree", b.dir(entry{"x", b.symlink("elsewhere")}), "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if err := os.MkdirAll(filepath.Join(out, tc.at, "keep"), 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := WriteTo(ctx, b.s, tc.root, out, WriteOptions{Force: true})
			if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "is a directory") || strings.Contains(err.Error(), ".trove-") {
				t.Fatalf("err = %v, want ErrExist saying the target is a directory", err)
			}
			if fi, err := os.Stat(filepath.Join(out, tc.at, "keep")); err != nil || !fi.IsDir() {
				t.Fatal("the directory was touched")
			}
			ents, _ := os.ReadDir(filepath.Dir(filepath.Join(out, tc.at)))
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".trove-") {
					t.Fatalf("temporary file %s left behind", e.Name())
				}
			}
		})
	}
}

// TestWriteToGetterEOFIsAFailure: a getter whose error wraps io.EOF (an
// HTTP client's "Post ...: EOF" when the daemon it reads through dies)
// is a failed read, not the end of the file. The crash tier found a
// streaming get publishing a truncated file under its final name that
// way; both the whole-file and the in-directory paths must leave nothing.
func TestWriteToGetterEOFIsAFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail int // the Get, counted from 1, that fails
	}{
		{"first leaf", 2},
		{"later leaf", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := newBuilder(t)
			root := b.file(randBytes(6, 3000), fileOpts{chunk: 100, fanout: 4})
			var gets atomic.Int32
			b.s.SetFaults(memstore.Faults{OnGet: func(context.Context, cid.Cid) error {
				if gets.Add(1) >= int32(tc.fail) {
					return fmt.Errorf(`Post "http://trove/v0/fetch/block": %w`, io.EOF)
				}
				return nil
			}})
			out := filepath.Join(t.TempDir(), "f")
			_, err := WriteTo(ctx, b.s, root, out, WriteOptions{})
			if err == nil {
				t.Fatal("WriteTo succeeded although a block read failed")
			}
			if got := snapshot(t, filepath.Dir(out)); len(got) != 1 {
				t.Fatalf("left behind: %v", got)
			}
		})
	}
}
