package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemonProc is one `trove daemon` process and what its ready line said.
type daemonProc struct {
	cmd    *exec.Cmd
	repo   string
	peer   string
	listen []string
	stderr *bytes.Buffer
	exited chan error
}

// startDaemonProc runs the binary's daemon and waits for its ready line.
func startDaemonProc(t *testing.T, bin, repo string, extra ...string) *daemonProc {
	t.Helper()
	return startDaemonProcEnv(t, bin, repo, nil, extra...)
}

// startDaemonProcEnv is startDaemonProc with env added to the daemon's
// environment (the crash tier arms a crash point this way).
func startDaemonProcEnv(t *testing.T, bin, repo string, env []string, extra ...string) *daemonProc {
	t.Helper()
	args := append([]string{"--repo", repo, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"}, extra...)
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	d := &daemonProc{cmd: cmd, repo: repo, stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	cmd.Stderr = d.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-d.exited
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() {
			t.Errorf("daemon printed a second stdout line: %q", sc.Text())
		}
		d.exited <- cmd.Wait()
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("daemon exited before ready\nstderr: %s", d.stderr)
		}
		f := map[string]string{}
		rest, found := strings.CutPrefix(line, "trove daemon ready ")
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		if !found || f["peer"] == "" || f["listen"] == "" || !strings.HasPrefix(f["api"], "unix:") {
			t.Fatalf("bad ready line %q", line)
		}
		d.peer, d.listen = f["peer"], strings.Split(f["listen"], ",")
	case <-time.After(20 * time.Second):
		t.Fatalf("no ready line within 20s\nstderr: %s", d.stderr)
	}
	return d
}

// stop sends SIGTERM and requires a clean exit within the bound.
func (d *daemonProc) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		if err != nil {
			t.Errorf("daemon %s exited with %v\nstderr: %s", d.repo, err, d.stderr)
		}
	case <-time.After(daemonStopBound + 2*time.Second):
		t.Errorf("daemon %s did not stop within %v", d.repo, daemonStopBound)
	}
}

// TestBinaryThreeDaemons is the network tier: three real daemon processes,
// A and C knowing only B; content added on A through the CLI is found on
// C by provider lookup; SIGTERM stops all three cleanly, and the repos
// work offline afterwards.
func TestBinaryThreeDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three daemons")
	}
	bin := filepath.Join(t.TempDir(), "trove")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	base := t.TempDir()
	repoA, repoB, repoC := filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")
	cli := func(repo, stdin string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--repo", repo}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	b := startDaemonProc(t, bin, repoB)
	bAddr := b.listen[0]
	if !strings.HasSuffix(bAddr, "/p2p/"+b.peer) {
		t.Fatalf("listen address %q lacks /p2p/%s", bAddr, b.peer)
	}
	a := startDaemonProc(t, bin, repoA, "--bootstrap", bAddr)
	c := startDaemonProc(t, bin, repoC, "--bootstrap", bAddr)

	// A second daemon on a served repo is refused with the locked code.
	if _, errs, code := cli(repoA, "", "daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"); code != exitLocked {
		t.Errorf("second daemon on A: exit %d, want %d\n%s", code, exitLocked, errs)
	}

	file := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(file, []byte("hello across three daemons\n"), 0o644)
	out, errs, code := cli(repoA, "", "add", "-q", file)
	if code != 0 {
		t.Fatalf("add on A: exit %d\n%s", code, errs)
	}
	root := strings.TrimSpace(out)

	deadline := time.Now().Add(15 * time.Second)
	for {
		out, errs, code := cli(repoC, "", "routing", "findprovs", "--num", "1", "--timeout", "3s", root)
		if code != 0 {
			t.Fatalf("findprovs on C: exit %d\n%s", code, errs)
		}
		if strings.TrimSpace(out) == a.peer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("C did not find A (%s) as provider of %s; last output %q %s\nA stderr: %s", a.peer, root, out, errs, a.stderr)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if out, _, code := cli(repoC, "", "peers"); code != 0 || !strings.Contains(out, b.peer) {
		t.Errorf("peers on C: exit %d, %q (want B %s)", code, out, b.peer)
	}

	// Ctrl-C during an add that goes through the daemon: exit 130, and
	// the daemon pins nothing of it.
	cmd := exec.Command(bin, "--repo", repoA, "add", "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Write(make([]byte, 3<<20))
	cmd.Process.Signal(os.Interrupt)
	hung := time.AfterFunc(15*time.Second, func() { cmd.Process.Kill() })
	err = cmd.Wait()
	hung.Stop()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Errorf("interrupted add through the daemon: %v, want exit %d", err, exitInterrupted)
	}
	if out, errs, code := cli(repoA, "", "pin", "ls"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("pins on A after the interrupted add: exit %d, %q %s", code, out, errs)
	}

	start := time.Now()
	for _, d := range []*daemonProc{a, b, c} {
		d.stop(t)
	}
	t.Logf("three daemons stopped in %v", time.Since(start))

	if out, errs, code := cli(repoA, "", "cat", root); code != 0 || out != "hello across three daemons\n" {
		t.Errorf("offline cat on A after stop: exit %d, %q %s", code, out, errs)
	}
	if _, errs, code := cli(repoC, "", "id"); code != exitError || !strings.Contains(errs, "trove daemon") {
		t.Errorf("id after stop: exit %d, %s", code, errs)
	}
	for _, r := range []string{repoA, repoB, repoC} {
		if _, err := os.Stat(filepath.Join(r, "peers")); err != nil {
			t.Errorf("%s: peers not saved on shutdown: %v", r, err)
		}
	}
}
