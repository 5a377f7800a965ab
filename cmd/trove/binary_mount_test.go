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

// mountProc is one `trove mount` process.
type mountProc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *bytes.Buffer
	exited chan error
}

// startMount runs `trove mount dir` and waits for its "mounted" line.
func startMount(t *testing.T, bin, repo, dir string) *mountProc {
	t.Helper()
	cmd := exec.Command(bin, "--repo", repo, "mount", dir)
	p := &mountProc{cmd: cmd, lines: make(chan string, 4), stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
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
			<-p.exited
			exec.Command("umount", "-l", dir).Run()
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.exited <- cmd.Wait()
	}()
	select {
	case l, ok := <-p.lines:
		if !ok || l != "mounted "+dir {
			t.Fatalf("trove mount printed %q, want %q\nstderr: %s", l, "mounted "+dir, p.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("trove mount: no mounted line in 20s\nstderr: %s", p.stderr)
	}
	return p
}

// stop sends sig and requires exit 0 with "unmounted DIR", and DIR no
// longer mounted.
func (p *mountProc) stop(t *testing.T, sig os.Signal, dir string) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case l := <-p.lines:
		if l != "unmounted "+dir {
			t.Errorf("after %v: %q, want %q", sig, l, "unmounted "+dir)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("trove mount did not unmount within 20s of %v\nstderr: %s", sig, p.stderr)
	}
	if err := <-p.exited; err != nil {
		t.Errorf("trove mount exited with %v\nstderr: %s", err, p.stderr)
	}
	if isMounted(dir) {
		t.Errorf("%s still mounted after trove mount exited", dir)
	}
}

func isMounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

func mountDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBinaryMount drives the real executable: `trove mount` offline and
// through a daemon, each unmounting cleanly on a signal; `trove daemon
// --mount` mounting for its lifetime and unmounting on SIGTERM; and a
// daemon whose mount fails running on regardless.
func TestBinaryMount(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no FUSE here (%v)", err)
	}
	if _, err := exec.LookPath("fusermount3"); err != nil && os.Geteuid() != 0 {
		t.Skip("not root and no fusermount3")
	}
	bin := filepath.Join(t.TempDir(), "trove")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	repo := filepath.Join(t.TempDir(), "repo")
	file := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(file, []byte("hello through the kernel\n"), 0o644)
	out, _, code := troveBin(t, bin, repo, "add", "-q", file)
	c := strings.TrimSpace(out)
	if code != 0 || c == "" {
		t.Fatalf("add: exit %d %q", code, out)
	}
	read := func(dir string) {
		t.Helper()
		if b, err := os.ReadFile(filepath.Join(dir, c)); err != nil || string(b) != "hello through the kernel\n" {
			t.Errorf("read through %s: %q, %v", dir, b, err)
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 || ents[0].Name() != c {
			t.Errorf("ls %s: %v, %v; want the pinned root", dir, ents, err)
		}
	}

	t.Run("offline", func(t *testing.T) {
		dir := mountDir(t)
		p := startMount(t, bin, repo, dir)
		read(dir)
		p.stop(t, os.Interrupt, dir)
	})

	t.Run("daemon", func(t *testing.T) {
		dmount := mountDir(t)
		d := startDaemonProc(t, bin, repo, "--mount", dmount)
		read(dmount) // mounted before the ready line

		dir := mountDir(t)
		p := startMount(t, bin, repo, dir)
		read(dir)
		p.stop(t, syscall.SIGTERM, dir)

		d.stop(t)
		if isMounted(dmount) {
			t.Errorf("daemon exited but %s is still mounted", dmount)
		}
		if !strings.Contains(d.stderr.String(), "unmounted") {
			t.Errorf("daemon log does not mention the unmount:\n%s", d.stderr)
		}
	})

	t.Run("daemon mount fails", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "no-such-dir")
		d := startDaemonProc(t, bin, repo, "--mount", missing)
		// It serves anyway.
		if out, _, code := troveBin(t, bin, repo, "cat", c); code != 0 || out != "hello through the kernel\n" {
			t.Errorf("cat through the daemon after a failed mount: exit %d %q", code, out)
		}
		d.stop(t)
		if !strings.Contains(d.stderr.String(), "mount failed") || !strings.Contains(d.stderr.String(), "does not exist") {
			t.Errorf("daemon stderr does not report the failed mount:\n%s", d.stderr)
		}
	})
}
