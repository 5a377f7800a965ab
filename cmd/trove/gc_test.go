package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/node"
)

func TestDaemonGC(t *testing.T) {
	old, had := os.LookupEnv("GOGC")
	defer func() {
		if had {
			os.Setenv("GOGC", old)
		} else {
			os.Unsetenv("GOGC")
		}
	}()
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	os.Unsetenv("GOGC")
	daemonGC()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Fatalf("without GOGC the daemon runs GC at %d%%, want 50%%", got)
	}
	os.Setenv("GOGC", "200")
	daemonGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("with GOGC set the daemon changed GC to %d%%", got)
	}
}

// TestGCNoteOnPartialPins: gc during (or after an interrupted) get counts
// the blocks its partial pin still lacks; that is expected and must not
// read as a warning about lost data.
func TestGCNoteOnPartialPins(t *testing.T) {
	r := filepath.Join(t.TempDir(), "repo")
	dir := filepath.Join(t.TempDir(), "d")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "a"), []byte("aaa"), 0o644)
	os.WriteFile(filepath.Join(dir, "b"), []byte("bbb"), 0o644)
	root := strings.TrimSpace(mustTrove(t, r, nil, "add", "-qr", dir))
	// Keep only the directory block, as a get holds it before its files arrive.
	mustTrove(t, r, nil, "pin", "rm", root)
	mustTrove(t, r, nil, "pin", "add", "--direct", root)
	mustTrove(t, r, nil, "gc")
	mustTrove(t, r, nil, "pin", "rm", root)
	n, err := node.Open(context.Background(), r, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Blockstore().Pin(context.Background(), cid.MustParse(root), blockstore.PinOptions{Kind: blockstore.PinPartial, Name: "trove get"}); err != nil {
		t.Fatal(err)
	}
	n.Close()
	out, errs, code := trove(t, r, nil, "gc")
	if code != 0 || !strings.Contains(out, "removed 0 blocks") || strings.Contains(errs, "warning") ||
		!strings.Contains(errs, "lack 2 blocks") || !strings.Contains(errs, "1 partial pin(s)") {
		t.Errorf("gc with a partial pin: exit %d, %q %q", code, out, errs)
	}
}
