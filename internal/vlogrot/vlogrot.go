// Package vlogrot damages a Badger value log on disk the way a failing
// disk does, for tests of what trove does with rotten blocks. It is test
// support, in a package of its own so the store's and the node's tests
// share one way of doing it.
package vlogrot

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Flip flips one byte of needle's only occurrence in the value-log files
// under dir, at offset off inside it. It fails the test unless needle is
// found exactly once, so a test cannot pass by corrupting nothing. The
// store may be open: Badger then reads the damaged bytes through its map
// with no error of its own.
func Flip(t testing.TB, dir string, needle []byte, off int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	hits := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(data, needle)
		if i < 0 {
			continue
		}
		hits++
		if bytes.Contains(data[i+1:], needle) {
			hits++
		}
		fh, err := os.OpenFile(f, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.WriteAt([]byte{data[i+off] ^ 0x01}, int64(i+off)); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if hits != 1 {
		t.Fatalf("block bytes found %d times in the value log, want exactly 1", hits)
	}
}
