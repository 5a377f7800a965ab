package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// getEvent is one NDJSON line of `get --json` (progress or fetched).
type getEvent struct {
	Type     string `json:"Type"`
	Received int64  `json:"Received"`
	Have     int64  `json:"Have"`
	Pin      string `json:"Pin"`
}

// runGet starts `get --json` and calls onEvent for each event line until
// it returns true; it returns the command (still running or not) and the
// events seen, the rest of stdout drained in the background.
func runGet(t *testing.T, bin, repo string, onEvent func(getEvent) bool, args ...string) (*exec.Cmd, <-chan []getEvent, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--repo", repo, "get", "--json"}, args...)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events := make(chan []getEvent, 1)
	go func() {
		var seen []getEvent
		br := bufio.NewReader(out)
		for {
			line, err := br.ReadString('\n')
			var ev getEvent
			if strings.HasPrefix(line, "{\"Type\"") && json.Unmarshal([]byte(line), &ev) == nil {
				seen = append(seen, ev)
				if onEvent != nil && onEvent(ev) {
					onEvent = nil
				}
			}
			if err != nil {
				break
			}
		}
		io.Copy(io.Discard, out)
		events <- seen
	}()
	return cmd, events, &errb
}

// TestBinaryTransfer is the transfer tier on real processes: A and C seed
// the same file, throttled per peer so the download takes a few seconds;
// B gets it from both, A is killed with SIGKILL mid-get, and the get still
// completes with the right bytes. Then a get interrupted by Ctrl-C and
// started again receives only what was missing.
func TestBinaryTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three daemons")
	}
	bin := filepath.Join(t.TempDir(), "trove")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	base := t.TempDir()
	repoA, repoB, repoC := filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")
	slow := []string{"--max-upload-per-peer", "4MB/s"}
	a := startDaemonProc(t, bin, repoA, slow...)
	c := startDaemonProc(t, bin, repoC, slow...)
	b := startDaemonProc(t, bin, repoB)

	data := make([]byte, 24<<20)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	file := filepath.Join(base, "data.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var root string
	for _, repo := range []string{repoA, repoC} {
		out, errs, code := troveBin(t, bin, repo, "add", "-q", file)
		if code != 0 {
			t.Fatalf("add: exit %d\n%s", code, errs)
		}
		root = strings.TrimSpace(out)
	}

	// Kill -9 of one seeder mid-get.
	dst := filepath.Join(base, "out.bin")
	cmd, events, errb := runGet(t, bin, repoB, func(ev getEvent) bool {
		if ev.Type == "progress" && ev.Received > 2<<20 {
			a.cmd.Process.Kill()
			return true
		}
		return false
	}, root, "--peer", a.listen[0], "--peer", c.listen[0], "-o", dst)
	if err := waitBounded(cmd, 30*time.Second); err != nil {
		t.Fatalf("get with a seeder killed: %v\n%s", err, errb)
	}
	if len(<-events) == 0 {
		t.Error("no progress events on stdout")
	}
	if werr := <-a.exited; werr == nil || !strings.Contains(werr.Error(), "killed") {
		t.Errorf("seeder A was not killed mid-get (%v); the test proved nothing", werr)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded bytes differ (%d of %d, %v)", len(got), len(data), err)
	}
	if out, _, _ := troveBin(t, bin, repoB, "pin", "ls"); !strings.Contains(out, root+" recursive") {
		t.Errorf("pin after get: %q", out)
	}

	// Ctrl-C, then again: the second run receives about what was missing.
	file2 := filepath.Join(base, "data2.bin")
	data2 := append([]byte("second file\n"), data[:16<<20]...)
	os.WriteFile(file2, data2, 0o644)
	out, errs, code := troveBin(t, bin, repoC, "add", "-q", file2)
	if code != 0 {
		t.Fatalf("add: exit %d\n%s", code, errs)
	}
	root2 := strings.TrimSpace(out)
	dst2 := filepath.Join(base, "out2.bin")
	var first getEvent
	hit := make(chan struct{})
	cmd, events, errb = runGet(t, bin, repoB, func(ev getEvent) bool {
		if ev.Type == "progress" && ev.Have > 4<<20 {
			first = ev
			close(hit)
			return true
		}
		return false
	}, root2, "--peer", c.listen[0], "-o", dst2)
	select {
	case <-hit:
		cmd.Process.Signal(os.Interrupt)
	case <-time.After(30 * time.Second):
		t.Fatalf("no progress past 4 MiB\n%s", errb)
	}
	err := waitBounded(cmd, 30*time.Second)
	<-events
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("interrupted get: %v, want exit %d\n%s", err, exitInterrupted, errb)
	}
	if out, _, _ := troveBin(t, bin, repoB, "pin", "ls"); !strings.Contains(out, root2+" partial") {
		t.Errorf("pin after interrupted get: %q", out)
	}
	if _, errs, code := troveBin(t, bin, repoC, "config", "set", "Transfer.MaxUploadPerPeer", "0"); code != 0 {
		t.Fatalf("config set: exit %d\n%s", code, errs)
	}
	cmd, events, errb = runGet(t, bin, repoB, nil, root2, "-o", dst2)
	if err := waitBounded(cmd, 30*time.Second); err != nil {
		t.Fatalf("resumed get: %v\n%s", err, errb)
	}
	var fetched getEvent
	for _, ev := range <-events {
		if ev.Type == "fetched" {
			fetched = ev
		}
	}
	// Have counts DAG bytes (inner nodes too), so the final Have is the
	// whole DAG and what the first run lacked is the difference.
	missing := fetched.Have - first.Have
	if fetched.Pin != "recursive" || fetched.Received > missing || fetched.Have < int64(len(data2)) || fetched.Received < missing-(8<<20) {
		t.Errorf("resumed get received %d bytes; %d were missing after the first run (%+v)", fetched.Received, missing, fetched)
	}
	t.Logf("first run had %d bytes, second received %d of %d", first.Have, fetched.Received, len(data2))
	if got, err := os.ReadFile(dst2); err != nil || !bytes.Equal(got, data2) {
		t.Fatalf("resumed bytes differ (%d of %d, %v)", len(got), len(data2), err)
	}

	// kill -9 of the getting daemon mid-get; restarted, get resumes.
	if _, errs, code := troveBin(t, bin, repoC, "config", "set", "Transfer.MaxUploadPerPeer", "4MB/s"); code != 0 {
		t.Fatalf("config set: exit %d\n%s", code, errs)
	}
	file3 := filepath.Join(base, "data3.bin")
	data3 := append([]byte("third file\n"), data[:16<<20]...)
	os.WriteFile(file3, data3, 0o644)
	out, errs, code = troveBin(t, bin, repoC, "add", "-q", file3)
	if code != 0 {
		t.Fatalf("add: exit %d\n%s", code, errs)
	}
	root3 := strings.TrimSpace(out)
	dst3 := filepath.Join(base, "out3.bin")
	hit = make(chan struct{})
	cmd, events, errb = runGet(t, bin, repoB, func(ev getEvent) bool {
		if ev.Type == "progress" && ev.Have > 4<<20 {
			first = ev
			close(hit)
			return true
		}
		return false
	}, root3, "--peer", c.listen[0], "-o", dst3)
	select {
	case <-hit:
		b.cmd.Process.Kill()
	case <-time.After(30 * time.Second):
		t.Fatalf("no progress past 4 MiB\n%s", errb)
	}
	<-b.exited
	if err := waitBounded(cmd, 30*time.Second); err == nil {
		t.Error("get succeeded although its daemon was killed")
	}
	<-events
	b = startDaemonProc(t, bin, repoB)
	if _, errs, code := troveBin(t, bin, repoC, "config", "set", "Transfer.MaxUploadPerPeer", "0"); code != 0 {
		t.Fatalf("config set: exit %d\n%s", code, errs)
	}
	cmd, events, errb = runGet(t, bin, repoB, nil, root3, "--peer", c.listen[0], "-o", dst3, "--force")
	if err := waitBounded(cmd, 30*time.Second); err != nil {
		t.Fatalf("get after daemon restart: %v\n%s", err, errb)
	}
	fetched = getEvent{}
	for _, ev := range <-events {
		if ev.Type == "fetched" {
			fetched = ev
		}
	}
	missing = fetched.Have - first.Have
	if fetched.Pin != "recursive" || fetched.Received > missing || fetched.Received < missing-(8<<20) {
		t.Errorf("get after kill -9 received %d bytes; %d were missing (%+v)", fetched.Received, missing, fetched)
	}
	t.Logf("after kill -9: had %d bytes, second run received %d of %d", first.Have, fetched.Received, len(data3))
	if got, err := os.ReadFile(dst3); err != nil || !bytes.Equal(got, data3) {
		t.Fatalf("bytes after kill -9 and resume differ (%d of %d, %v)", len(got), len(data3), err)
	}

	// cat of a ticket streams from its provider; stats shows the served bytes.
	small := filepath.Join(base, "small.txt")
	os.WriteFile(small, []byte("streamed by ticket\n"), 0o644)
	out, errs, code = troveBin(t, bin, repoC, "add", "-q", "--ticket", small)
	fields := strings.Fields(out)
	if code != 0 || len(fields) != 4 || fields[1] != "ticket" || !strings.HasPrefix(fields[3], "trove://") {
		t.Fatalf("add --ticket: exit %d %q\n%s", code, out, errs)
	}
	if got, errs, code := troveBin(t, bin, repoB, "cat", fields[3]); code != 0 || got != "streamed by ticket\n" {
		t.Errorf("cat of a ticket: exit %d %q\n%s", code, got, errs)
	}
	out, errs, code = troveBin(t, bin, repoC, "stats", "--json")
	var st struct {
		Transfers struct {
			Served map[string]int64
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Transfers.Served[b.peer] < int64(len(data2))/2 {
		t.Errorf("stats on C: exit %d %q %s", code, out, errs)
	}
	c.stop(t)
	b.stop(t)
}

func waitBounded(cmd *exec.Cmd, d time.Duration) error {
	hung := time.AfterFunc(d, func() { cmd.Process.Kill() })
	defer hung.Stop()
	return cmd.Wait()
}

func troveBin(t *testing.T, bin, repo string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--repo", repo}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}
