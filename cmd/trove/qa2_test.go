package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/node"
)

// Regression tests for the second fresh-eyes pass over the CLI.

// TestDaemonGoneMidCommand: a daemon that dies while a command streams
// from it (kill -9, a crash) is named as such, not as a bare "unexpected
// EOF" or "api: event stream ended without a result". A fake daemon
// answers every request with a truncated body and drops the connection.
func TestDaemonGoneMidCommand(t *testing.T) {
	r := filepath.Join(t.TempDir(), "repo")
	mustTrove(t, r, nil, "init")
	root := strings.TrimSpace(mustTrove(t, r, strings.NewReader("local\n"), "add", "-q", "-"))
	sock := filepath.Join(r, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"Peer`))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if err := os.WriteFile(filepath.Join(r, "api"), []byte("unix:"+sock+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"get", root, "-o", filepath.Join(t.TempDir(), "out")},
		{"cat", root},
		{"stats"},
	} {
		_, errs, code := trove(t, r, nil, args...)
		if code != exitError || !strings.Contains(errs, "daemon stopped answering") || strings.Count(errs, "Error:") != 1 {
			t.Errorf("%s with the daemon gone mid-command: exit %d, %q", args[0], code, errs)
		}
	}
}

// TestProgressBarRateFromFirstUpdate: get makes its copy-out bar before
// the daemon downloads; a 10 s download then showed a 200 MiB copy at
// 17 MiB/s instead of ~130. The rate counts from the first update.
func TestProgressBarRateFromFirstUpdate(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(1000, 0)
	p := newProgressBar(&buf)
	p.now = func() time.Time { return clock }
	clock = clock.Add(10 * time.Second) // the download, before any copy
	p.update(1 << 20)
	clock = clock.Add(time.Second)
	p.update(101 << 20)
	p.finish()
	out := buf.String()
	if last := out[strings.LastIndex(out, "\r"):]; !strings.Contains(last, "101.0 MiB  100.0 MiB/s") {
		t.Errorf("rate not counted from the first update: %q", out)
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

// TestInterruptedGetCopyNamesForce: Ctrl-C while get writes a tree leaves
// what was written, so a plain rerun is exit 8; the message must say to
// rerun with --force, not that running it again resumes.
func TestInterruptedGetCopyNamesForce(t *testing.T) {
	r := filepath.Join(t.TempDir(), "repo")
	dir := filepath.Join(t.TempDir(), "many")
	os.MkdirAll(dir, 0o755)
	for i := range 300 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), bytes.Repeat([]byte{byte(i)}, 64<<10), 0o644)
	}
	root := strings.TrimSpace(mustTrove(t, r, nil, "add", "-qr", dir))
	for attempt := 0; ; attempt++ {
		out := filepath.Join(t.TempDir(), "out")
		ctx, cancel := context.WithCancel(context.Background())
		go func() { // cancel once the copy has begun
			for ctx.Err() == nil {
				if _, err := os.Stat(filepath.Join(out, "f000")); err == nil {
					cancel()
					return
				}
				time.Sleep(100 * time.Microsecond)
			}
		}()
		_, errs, code := troveCtx(t, ctx, r, nil, "get", root, "-o", out)
		cancel()
		if code == exitOK && attempt < 5 {
			continue // the copy won the race; try again
		}
		if code != exitInterrupted || !strings.Contains(errs, "--force") || strings.Contains(errs, "running it again resumes") {
			t.Fatalf("get interrupted mid-copy: exit %d, %q", code, errs)
		}
		if _, _, code := trove(t, r, nil, "get", root, "-o", out); code != exitExists {
			t.Errorf("plain rerun: exit %d, want %d", code, exitExists)
		}
		mustTrove(t, r, nil, "get", "--force", root, "-o", out)
		sameTree(t, dir, out)
		return
	}
}

// TestGetExistingOutputBeforeFetch: get onto an existing path without
// --force is refused before the daemon downloads anything; it used to
// fetch (and pin) a whole 200 MiB file and only then exit 8.
func TestGetExistingOutputBeforeFetch(t *testing.T) {
	r := filepath.Join(t.TempDir(), "repo")
	mustTrove(t, r, nil, "init")
	startInProcessDaemon(t, r)
	out := filepath.Join(t.TempDir(), "exists")
	os.WriteFile(out, []byte("mine"), 0o644)
	// Nobody has this CID: reaching the fetch would be exit 4.
	missing := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	_, errs, code := trove(t, r, nil, "get", missing, "-o", out)
	if code != exitExists || !strings.Contains(errs, "--force") {
		t.Errorf("get onto an existing file: exit %d, %q", code, errs)
	}
	if b, _ := os.ReadFile(out); string(b) != "mine" {
		t.Errorf("existing file changed: %q", b)
	}
	// So is a missing parent directory (exit 5) or a parent that is a
	// file (exit 1).
	if _, errs, code := trove(t, r, nil, "get", missing, "-o", filepath.Join(t.TempDir(), "no", "x")); code != exitNoFile {
		t.Errorf("get under a missing directory: exit %d, %q", code, errs)
	}
	if _, errs, code := trove(t, r, nil, "get", missing, "-o", filepath.Join(out, "x")); code != exitError || !strings.Contains(errs, "not a directory") {
		t.Errorf("get under a file: exit %d, %q", code, errs)
	}
	if pins := mustTrove(t, r, nil, "pin", "ls"); pins != "" {
		t.Errorf("a refused get left pins: %q", pins)
	}
}

// TestGCHelpOnDiskSpace: gc's help promised to "return the disk space",
// but a gc after deleting a 200 MiB file returned none (the value log is
// reclaimed a 256 MiB file at a time, never the one being written).
func TestGCHelpOnDiskSpace(t *testing.T) {
	out := mustTrove(t, t.TempDir(), nil, "gc", "--help")
	if strings.Contains(out, "return the disk space") || !strings.Contains(out, "256 MiB") {
		t.Errorf("gc --help on disk space:\n%s", out)
	}
}

// TestProgressETAOverflow: a stalled peer drove the rate toward 0 and the
// ETA overflowed into -9223372036 s in get --json; unknown is 0.
func TestProgressETAOverflow(t *testing.T) {
	var buf bytes.Buffer
	jsonProgress(&buf)(node.FetchProgress{Cid: "x", Have: 1, Total: 9, Rate: 0.01, ETA: -9223372036.854776})
	if !strings.Contains(buf.String(), `"ETA":0,`) {
		t.Errorf("overflowed ETA printed as %s", buf.String())
	}
}

// TestGetNamesUnreachablePeer: get --peer with that peer down said only
// "no peer could deliver it"; like cat and ls it now says which named
// peer could not be reached.
func TestGetNamesUnreachablePeer(t *testing.T) {
	r := filepath.Join(t.TempDir(), "repo")
	mustTrove(t, r, nil, "init")
	startInProcessDaemon(t, r)
	down := "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWLEeQdAgnRQq5G2ioJkikvRzTbsPVQtJbnnd2M95sVLLT"
	_, errs, code := trove(t, r, nil, "get", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "--peer", down, "-o", filepath.Join(t.TempDir(), "x"))
	if code != exitNotFound || !strings.Contains(errs, "could not reach "+down) || strings.Count(errs, "Error:") != 1 {
		t.Errorf("get from a down --peer: exit %d, %q", code, errs)
	}
}

// TestConfigCreatesRepoOnFirstUse: --repo "is created on first use", but
// config set and show refused a new path with "repo not initialized".
func TestConfigCreatesRepoOnFirstUse(t *testing.T) {
	r := filepath.Join(t.TempDir(), "new")
	mustTrove(t, r, nil, "config", "set", "Transfer.MaxUpload", "1MB/s")
	if out := mustTrove(t, r, nil, "config", "show"); !strings.Contains(out, `"MaxUpload": "1MB/s"`) {
		t.Errorf("config show after set on a new repo:\n%s", out)
	}
	if out := mustTrove(t, filepath.Join(t.TempDir(), "new2"), nil, "config", "show"); !strings.Contains(out, `"PeerID"`) {
		t.Errorf("config show on a new repo:\n%s", out)
	}
}

// TestOwnTicketNoWarning: cat or ls of the ticket this node's own share
// printed (the first thing a user tries) warned "could not reach" it:
// a node cannot dial itself.
func TestOwnTicketNoWarning(t *testing.T) {
	r := filepath.Join(t.TempDir(), "repo")
	mustTrove(t, r, nil, "init")
	startInProcessDaemon(t, r)
	root := strings.TrimSpace(mustTrove(t, r, strings.NewReader("mine\n"), "add", "-q", "-"))
	tk := strings.TrimSpace(mustTrove(t, r, nil, "share", root))
	out, errs, code := trove(t, r, nil, "cat", tk)
	if code != 0 || out != "mine\n" || errs != "" {
		t.Errorf("cat of this node's own ticket: exit %d, %q, stderr %q", code, out, errs)
	}
}
