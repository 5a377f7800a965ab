package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBinary builds the real executable and drives it as a user would:
// environment-selected repo, separate processes, real stdin and exit
// statuses.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "trove")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	repo := filepath.Join(t.TempDir(), "repo")
	trove := func(stdin string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "TROVE_PATH="+repo)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := trove("", "init"); code != 0 || !strings.Contains(out, "peer identity: 12D3KooW") {
		t.Fatalf("init: exit %d, %q", code, out)
	}
	if st, err := os.Stat(filepath.Join(repo, "identity.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity key: %v %v", st, err)
	}
	file := filepath.Join(t.TempDir(), "greeting.txt")
	os.WriteFile(file, []byte("hello from a real process\n"), 0o644)
	out, code := trove("", "add", file)
	f := strings.Fields(out)
	if code != 0 || len(f) != 3 || f[0] != "added" || f[2] != "greeting.txt" {
		t.Fatalf("add: exit %d, %q", code, out)
	}
	if got, code := trove("", "cat", f[1]); code != 0 || got != "hello from a real process\n" {
		t.Fatalf("cat: exit %d, %q", code, got)
	}
	if _, code := trove("", "cat", "nonsense"); code != exitBadCID {
		t.Errorf("cat nonsense: exit %d, want %d", code, exitBadCID)
	}
	if got, code := trove("piped", "add", "-q", "-"); code != 0 || !strings.HasPrefix(got, "bafk") {
		t.Errorf("stdin add: exit %d, %q", code, got)
	}

	// Ctrl-C in the middle of an add: exit 130, nothing pinned, and the
	// repo (lock included) usable by the next command.
	cmd := exec.Command(bin, "add", "-")
	cmd.Env = append(os.Environ(), "TROVE_PATH="+repo)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Write(make([]byte, 3<<20)) // blocks until trove is reading
	// stdin stays open: trove is blocked reading it, as with a user who
	// pipes from a slow producer and gives up.
	cmd.Process.Signal(os.Interrupt)
	hung := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	err = cmd.Wait()
	if !hung.Stop() {
		t.Fatal("trove ignored Ctrl-C while blocked on stdin")
	}
	stdin.Close()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("interrupted add: %v, want exit %d", err, exitInterrupted)
	}
	pins, code := trove("", "pin", "ls")
	if code != 0 || strings.Count(pins, "\n") != 2 {
		t.Errorf("after interrupt: exit %d, pins %q (want the two earlier adds)", code, pins)
	}
}
