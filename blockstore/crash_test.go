package blockstore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenAfterKillLeavesEmptyVlog is a regression test from the crash
// tier (cmd/trove TestCrashPoints): a process killed while Badger creates
// a value-log file can leave it empty, without even its header, and
// Badger then refused to open the store ("Open existing file ... Create a
// new file"). Such a file holds nothing; Open now removes it.
func TestOpenAfterKillLeavesEmptyVlog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	blocks := dag(t, "crash", 3, 4<<10)
	for _, b := range blocks {
		if err := s.Put(ctx, b.c, b.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if len(files) == 0 {
		t.Fatal("no value-log file")
	}
	empty := filepath.Join(dir, "000099.vlog")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	for _, b := range blocks {
		if got, err := s.Get(ctx, b.c); err != nil || !bytes.Equal(got, b.data) {
			t.Fatalf("%s after reopening: %v", b.c, err)
		}
	}
	if _, err := os.Stat(empty); err == nil {
		t.Error("the empty value-log file is still there")
	}
}
