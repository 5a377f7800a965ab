package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIThroughDaemonMatchesOffline runs the same command lines against
// an offline repo and against a repo a daemon serves, and requires the
// same stdout and exit code from each: users must not be able to tell.
func TestCLIThroughDaemonMatchesOffline(t *testing.T) {
	src := t.TempDir()
	randomTree(t, src, 7)
	offline, online := t.TempDir(), t.TempDir()
	startInProcessDaemon(t, online)
	t.Chdir(t.TempDir())

	added := mustTrove(t, offline, nil, "add", "-r", src)
	root := strings.Fields(strings.Split(strings.TrimSpace(added), "\n")[strings.Count(added, "\n")-1])[1]
	var file string
	for _, l := range strings.Split(added, "\n") {
		if f := strings.Fields(l); len(f) == 3 && strings.Contains(f[2], ".") {
			file = f[1]
		}
	}
	steps := [][]string{
		{"add", "-r", src},
		{"add", "-q", "-"},
		{"add", "--json", "-w", "-r", src},
		{"ls", root},
		{"ls", "--json", root},
		{"pin", "ls"},
		{"pin", "add", "--name", "x", root},
		{"pin", "ls", "--json"},
		{"block", "stat", root},
		{"block", "get", root},
		{"dag", "export", root},
		{"cat", "nonsense"},
		{"cat", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"},
		{"ls", root + "/no-such-name"},
		{"add", filepath.Join(src, "does-not-exist")},
		{"add", src},
		{"pin", "rm", root},
		{"pin", "ls"},
	}
	if file != "" {
		steps = append(steps, []string{"cat", file})
	}
	for _, args := range steps {
		stdin := "the same bytes on both sides\n"
		wantOut, _, wantCode := trove(t, offline, strings.NewReader(stdin), args...)
		gotOut, gotErr, gotCode := trove(t, online, strings.NewReader(stdin), args...)
		if gotCode != wantCode || gotOut != wantOut {
			t.Errorf("trove %v through the daemon: exit %d (offline %d)\nstdout differs: %v\nstderr: %s",
				args, gotCode, wantCode, gotOut != wantOut, gotErr)
		}
	}
	// get writes the same tree on the client side.
	mustTrove(t, offline, nil, "get", root, "-o", "off")
	mustTrove(t, online, nil, "get", root, "-o", "on")
	a, b := listTree(t, "off"), listTree(t, "on")
	if a != b || a == "" {
		t.Errorf("get trees differ:\n%s\nvs\n%s", a, b)
	}
	if _, _, code := trove(t, online, nil, "get", root, "-o", "on"); code != exitExists {
		t.Errorf("get over existing output: exit %d, want %d", code, exitExists)
	}
}

func TestNetworkCommands(t *testing.T) {
	repo := t.TempDir()
	for _, args := range [][]string{{"id"}, {"peers"}, {"stats"}, {"routing", "findprovs", "bafkqaaa"}} {
		_, errs, code := trove(t, repo, nil, args...)
		if code != exitError || !strings.Contains(errs, "needs a running daemon") || !strings.Contains(errs, "trove daemon") {
			t.Errorf("%v without daemon: exit %d, %q", args, code, errs)
		}
	}
	d := startInProcessDaemon(t, repo)
	id := d.P2P().ID().String()
	out := mustTrove(t, repo, nil, "id")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != id || len(lines) < 2 || !strings.HasSuffix(lines[1], "/p2p/"+id) {
		t.Errorf("id printed %q", out)
	}
	other := startInProcessDaemon(t, t.TempDir())
	if out := mustTrove(t, repo, nil, "connect", other.P2P().Addrs()[0].String()); out != "connected "+other.P2P().ID().String()+"\n" {
		t.Errorf("connect printed %q", out)
	}
	if out := mustTrove(t, repo, nil, "peers"); !strings.HasPrefix(out, other.P2P().ID().String()+" /ip4/127.0.0.1/tcp/") {
		t.Errorf("peers printed %q", out)
	}
	if out := mustTrove(t, repo, nil, "stats"); !strings.Contains(out, "Peers:        1\n") || !strings.Contains(out, "PeerID:       "+id) {
		t.Errorf("stats printed %q", out)
	}
	if _, errs, code := trove(t, repo, nil, "connect", "/ip4/127.0.0.1/tcp/1"); code != exitUsage {
		t.Errorf("connect without /p2p: exit %d, %s", code, errs)
	}
	if _, errs, code := trove(t, repo, nil, "routing", "provide", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"); code != exitNotFound {
		t.Errorf("provide of a missing block: exit %d, %s", code, errs)
	}
	if _, errs, code := trove(t, repo, nil, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"); code != exitLocked {
		t.Errorf("second daemon: exit %d, %s", code, errs)
	}
}

// TestGetWhenDaemonStops: a get through a daemon that is being stopped
// ends promptly and says the daemon stopped, not that the user pressed
// Ctrl-C, while still exiting as interrupted.
func TestGetWhenDaemonStops(t *testing.T) {
	seedRepo, fetchRepo := t.TempDir(), t.TempDir()
	seed := startInProcessDaemon(t, seedRepo)
	fetch := startInProcessDaemon(t, fetchRepo)
	src := filepath.Join(t.TempDir(), "big")
	data := make([]byte, 4<<20)
	rand.NewChaCha8([32]byte{1}).Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := strings.TrimSpace(mustTrove(t, seedRepo, nil, "add", "-q", src))
	mustTrove(t, seedRepo, nil, "config", "set", "Transfer.MaxUpload", "256KB/s")
	addr := seed.P2P().Addrs()[0].String() + "/p2p/" + seed.P2P().ID().String()
	type result struct {
		errs string
		code int
	}
	done := make(chan result, 1)
	go func() {
		_, errs, code := trove(t, fetchRepo, nil, "get", c, "--peer", addr, "-o", filepath.Join(t.TempDir(), "out"))
		done <- result{errs, code}
	}()
	time.Sleep(700 * time.Millisecond) // well into a 16 s download
	start := time.Now()
	fetch.Close()
	r := <-done
	if r.code != exitInterrupted || !strings.Contains(r.errs, "daemon stopped while") {
		t.Fatalf("get when the daemon stopped: exit %d, %s", r.code, r.errs)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("get ended %v after the daemon began to stop", d)
	}
}
