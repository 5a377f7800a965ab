package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-p2p/trove/node"
)

// startSlowSeeder runs a daemon on a new repo whose uploads are capped at
// rate, adds src to it and returns the daemon, its address and the root.
func startSlowSeeder(t *testing.T, rate, src string) (*node.Daemon, string, string) {
	t.Helper()
	repo := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := node.StartDaemon(ctx, repo, node.DaemonOptions{
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true,
		Transfer: node.TransferOptions{MaxUpload: rate},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	out := mustTrove(t, repo, nil, "add", "-r", src)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return d, d.P2P().Addrs()[0].String(), strings.Fields(lines[len(lines)-1])[1]
}

func writeRandomFiles(t *testing.T, dir string, sizes map[string]int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	for name, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pinOf is the type of root's pin on d ("" if none).
func pinOf(t *testing.T, d *node.Daemon, root string) string {
	pins, err := d.Node().PinLs(context.Background())
	if err != nil {
		t.Error(err)
	}
	for _, p := range pins {
		if p.Cid == root {
			return p.Type
		}
	}
	return ""
}

// watchOutput polls dir while a get runs and records what a user would
// see: temp files with bytes in them, and final files, while the daemon's
// download is still partial.
type outputWatch struct {
	mu                  sync.Mutex
	tmpWhilePartial     int64 // largest temp file seen while the pin was partial
	finalWhilePartial   []string
	finalNameIncomplete []string // final names seen with fewer bytes than the source
}

func watchOutput(t *testing.T, ctx context.Context, d *node.Daemon, root, dir, src string) *outputWatch {
	w := &outputWatch{}
	go func() {
		for ctx.Err() == nil {
			partial := pinOf(t, d, root) == "partial"
			filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
				if err != nil || e.IsDir() {
					return nil
				}
				fi, err := e.Info()
				if err != nil {
					return nil
				}
				w.mu.Lock()
				defer w.mu.Unlock()
				if strings.HasPrefix(e.Name(), ".trove-") {
					if partial && fi.Size() > w.tmpWhilePartial {
						w.tmpWhilePartial = fi.Size()
					}
					return nil
				}
				rel, _ := filepath.Rel(dir, p)
				if want, err := os.Stat(filepath.Join(src, rel)); err == nil && fi.Size() != want.Size() {
					w.finalNameIncomplete = append(w.finalNameIncomplete, rel)
				}
				if partial {
					w.finalWhilePartial = append(w.finalWhilePartial, rel)
				}
				return nil
			})
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return w
}

// TestGetWritesWhileDownloading: through a daemon, get writes each file
// as its blocks arrive, not after the whole DAG is in the repo: with a
// seeder capped at 4 MB/s and 12 MiB in three files, output bytes appear
// (in temp files) and whole files appear under their final names while
// the download still holds its partial pin. No final name ever holds
// fewer bytes than the file, and the end result is the tree, pinned
// recursively, as before.
func TestGetWritesWhileDownloading(t *testing.T) {
	src := t.TempDir()
	writeRandomFiles(t, src, map[string]int{"a.bin": 4 << 20, "b.bin": 4 << 20, "c.bin": 4<<20 + 5})
	_, seedAddr, root := startSlowSeeder(t, "4MB/s", src)
	repo := t.TempDir()
	d := startInProcessDaemon(t, repo)
	out := filepath.Join(t.TempDir(), "out")

	ctx, stop := context.WithCancel(context.Background())
	w := watchOutput(t, ctx, d, root, filepath.Dir(out), src)
	stdout := mustTrove(t, repo, nil, "get", "--json", root, "--peer", seedAddr, "-o", out)
	stop()
	sameTree(t, src, out)
	if got := pinOf(t, d, root); got != "recursive" {
		t.Errorf("pin after get: %q", got)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tmpWhilePartial < 1<<20 {
		t.Errorf("while downloading, the output held at most %d bytes: get waited for the download", w.tmpWhilePartial)
	}
	if len(w.finalWhilePartial) == 0 {
		t.Error("no file appeared under its name before the download completed")
	}
	if len(w.finalNameIncomplete) > 0 {
		t.Errorf("final names seen incomplete: %v", w.finalNameIncomplete)
	}
	// --json still prints the download's events, then the copy's result.
	var last map[string]any
	dec := json.NewDecoder(strings.NewReader(stdout))
	types := map[string]int{}
	for dec.More() {
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("get --json: %v in %q", err, stdout)
		}
		if ty, ok := v["Type"].(string); ok {
			types[ty]++
		}
		if _, ready := v["Ready"]; ready {
			t.Errorf("get --json printed the internal Ready event: %v", v)
		}
		last = v
	}
	if types["progress"] == 0 || types["fetched"] != 1 || last["Cid"] != root || last["Files"] != float64(3) {
		t.Errorf("get --json: %v events, last %v", types, last)
	}
}

// TestStreamingGetInterruptedResumes: Ctrl-C in the middle of a streaming
// get exits 130 and leaves no file under its final name and no temp file
// (a single file: it appears whole or not at all); the partial pin keeps
// what arrived, and the same get run again receives only the rest.
func TestStreamingGetInterruptedResumes(t *testing.T) {
	src := t.TempDir()
	writeRandomFiles(t, src, map[string]int{"big.bin": 12 << 20})
	_, seedAddr, root := startSlowSeeder(t, "4MB/s", src)
	file := strings.Fields(mustTrove(t, t.TempDir(), nil, "add", "-q", "-n", filepath.Join(src, "big.bin")))[0]
	repo := t.TempDir()
	d := startInProcessDaemon(t, repo)
	dir := t.TempDir()
	out := filepath.Join(dir, "big.bin")

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), ".trove-") && fi.Size() > 2<<20 {
					cancel()
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	_, errs, code := troveCtx(t, ctx, repo, nil, "get", root+"/big.bin", "--peer", seedAddr, "-o", out)
	cancel()
	if code != exitInterrupted {
		t.Fatalf("interrupted get: exit %d, %s", code, errs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("an interrupted get left %v", ents)
	}
	if got := pinOf(t, d, file); got != "partial" {
		t.Errorf("pin after interruption: %q, want partial", got)
	}

	stdout := mustTrove(t, repo, nil, "get", "--json", root+"/big.bin", "--peer", seedAddr, "-o", out)
	want, _ := os.ReadFile(filepath.Join(src, "big.bin"))
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("resumed get: %d bytes, %v", len(got), err)
	}
	for _, l := range strings.Split(stdout, "\n") {
		var ev struct {
			Type     string
			Received int64
		}
		if json.Unmarshal([]byte(l), &ev) == nil && ev.Type == "fetched" && (ev.Received >= int64(len(want)) || ev.Received == 0) {
			t.Errorf("the resumed get received %d of %d bytes; want only what was missing", ev.Received, len(want))
		}
	}
	if got := pinOf(t, d, file); got != "recursive" {
		t.Errorf("pin after the resumed get: %q", got)
	}
}

// TestTransferBarShowsWritten: a streaming get has one progress line, the
// download's figures followed by the bytes written so far.
func TestTransferBarShowsWritten(t *testing.T) {
	var buf strings.Builder
	bar := &transferBar{w: &buf}
	bar.update(node.FetchProgress{Have: 8 << 20, Total: 12 << 20, Rate: 1 << 20, Peers: 1})
	bar.wrote(5 << 20)
	bar.finish()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	if len(lines) != 1 || !strings.Contains(last, "8.0 MiB / 12.0 MiB") || !strings.HasSuffix(last, "written 5.0 MiB") {
		t.Errorf("progress output %q: want one line ending in the bytes written", buf.String())
	}
}

// TestStreamingGetClientKilled: kill -9 of the get command mid-file leaves
// nothing under the final name (a temp file may stay beside it); the
// daemon keeps the partial pin, and the same get run again completes the
// file intact.
func TestStreamingGetClientKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "trove")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	src := t.TempDir()
	writeRandomFiles(t, src, map[string]int{"big.bin": 12 << 20})
	_, seedAddr, root := startSlowSeeder(t, "4MB/s", src)
	file := strings.Fields(mustTrove(t, t.TempDir(), nil, "add", "-q", "-n", filepath.Join(src, "big.bin")))[0]
	repo := t.TempDir()
	d := startInProcessDaemon(t, repo)
	dir := t.TempDir()
	out := filepath.Join(dir, "big.bin")

	cmd := exec.Command(bin, "--repo", repo, "get", root+"/big.bin", "--peer", seedAddr, "-o", out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for killed := false; !killed; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no temp file grew past 2 MiB")
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), ".trove-") && fi.Size() > 2<<20 {
				cmd.Process.Kill()
				killed = true
			}
		}
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("get was not killed mid-file: %v", err)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Fatal("a killed get left a file under the final name")
	}
	waitUntil(t, 10*time.Second, "the daemon to notice the client is gone", func() bool {
		st, err := d.Node().Transfers()
		return err == nil && len(st.Downloads) == 0
	})
	if got := pinOf(t, d, file); got != "partial" {
		t.Errorf("pin after the client was killed: %q, want partial", got)
	}
	mustTrove(t, repo, nil, "get", root+"/big.bin", "--peer", seedAddr, "-o", out)
	want, _ := os.ReadFile(filepath.Join(src, "big.bin"))
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("get after the kill: %d bytes, %v", len(got), err)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestGetWritesItselfWhenDaemonWont: a get that reaches the daemon over
// its TCP API (which cannot vouch for the caller's user) is refused the
// daemon-side write and writes the tree itself from the blocks the daemon
// serves, with the same result and --json events.
func TestGetWritesItselfWhenDaemonWont(t *testing.T) {
	src := t.TempDir()
	writeRandomFiles(t, src, map[string]int{"a.bin": 3 << 20, "b.bin": 1<<20 + 7})
	_, seedAddr, root := startSlowSeeder(t, "100MB/s", src)
	repo := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := node.StartDaemon(ctx, repo, node.DaemonOptions{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true, APIAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	var tcpOnly string
	for _, a := range d.APIAddrs() {
		if strings.HasPrefix(a, "tcp:") {
			tcpOnly = a + "\n"
		}
	}
	if tcpOnly == "" {
		t.Fatalf("no TCP API in %v", d.APIAddrs())
	}
	// The CLI reads the api file to find the daemon: list only TCP.
	if err := os.WriteFile(filepath.Join(repo, "api"), []byte(tcpOnly), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	stdout := mustTrove(t, repo, nil, "get", "--json", root, "--peer", seedAddr, "-o", out)
	sameTree(t, src, out)
	if !strings.Contains(stdout, `"Type":"fetched"`) || !strings.Contains(stdout, `"Files": 2`) {
		t.Errorf("get --json over TCP printed %q", stdout)
	}
}
