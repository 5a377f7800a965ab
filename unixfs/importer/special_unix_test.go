//go:build unix

package importer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Special files have no UnixFS form: the walk refuses them by name rather
// than blocking on a FIFO or skipping silently.
func TestImportPathRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := ImportPath(context.Background(), dir, Params{}, DirOptions{}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "fifo") {
		t.Fatalf("err = %v", err)
	}
	if _, err := ImportPath(context.Background(), filepath.Join(dir, "missing"), Params{}, DirOptions{}, nil, nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing path: %v", err)
	}
}
