//go:build unix

package unixfs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRemoveStale: a get removes the temporary files that killed gets
// left in its directory, and nothing else: not one a live writer holds,
// not one just created, not a file that only looks like one.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if d, err := os.Open(dir); err == nil {
		local := localLocks(d)
		d.Close()
		if !local {
			t.Skipf("%s is not on a file system whose flock locks RemoveStale trusts (localLocks): it removes nothing there", dir)
		}
	}
	old := time.Now().Add(-2 * staleAge)
	mk := func(age time.Time, keepOpen bool) string {
		f, name, err := CreateTemp(r)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("partial")
		if keepOpen {
			t.Cleanup(func() { f.Close() })
		} else {
			f.Close() // what the kernel does for a killed writer
		}
		if err := os.Chtimes(filepath.Join(dir, name), age, age); err != nil {
			t.Fatal(err)
		}
		return name
	}
	dead := mk(old, false)
	live := mk(old, true) // a slow get, still writing, its file unchanged for a while
	fresh := mk(time.Now(), false)
	for _, name := range []string{".trove-notours.tmp", ".trove-0123456789abcdef.txt", "keep"} {
		os.WriteFile(filepath.Join(dir, name), nil, 0o644)
		os.Chtimes(filepath.Join(dir, name), old, old)
	}

	b := newBuilder(t)
	root := b.file([]byte("content"), fileOpts{chunk: 4, fanout: 2})
	if _, err := WriteTo(context.Background(), b.s, root, filepath.Join(dir, "out"), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		dead: false, live: true, fresh: true,
		".trove-notours.tmp": true, ".trove-0123456789abcdef.txt": true, "keep": true, "out": true,
	} {
		_, err := os.Lstat(filepath.Join(dir, name))
		if got := err == nil; got != want {
			t.Errorf("%s: present %v, want %v", name, got, want)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 6 {
		t.Errorf("%d entries left, want 6", len(ents))
	}
}
