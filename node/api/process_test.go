package api

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

const childRepoEnv = "TROVE_API_TEST_CHILD_REPO"

// TestHelperDaemon is the child process of TestKilledDaemon; it does nothing
// in a normal run.
func TestHelperDaemon(t *testing.T) {
	repo := os.Getenv(childRepoEnv)
	if repo == "" {
		t.Skip("helper process only")
	}
	s, err := NewServer(Options{RepoPath: repo})
	if err != nil {
		os.Exit(3)
	}
	if err := s.Start(); err != nil {
		os.Exit(4)
	}
	time.Sleep(time.Minute) // until the parent kills us
	os.Exit(5)
}

// TestKilledDaemon runs a real daemon in another process, checks that it
// locks out a second server, SIGKILLs it, and checks that its leftovers are
// recognised as stale and replaced: the path a crashed daemon leaves behind.
func TestKilledDaemon(t *testing.T) {
	repo := shortRepo(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDaemon$")
	cmd.Env = append(os.Environ(), childRepoEnv+"="+repo)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := WaitReady(ctx, repo, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Ping(ctx)
	c.Close()
	if err != nil || p.PID != cmd.Process.Pid {
		t.Fatalf("ping = %+v %v, want child pid %d", p, err, cmd.Process.Pid)
	}
	s, _ := NewServer(Options{RepoPath: repo})
	if err := s.Start(); !errors.Is(err, ErrDaemonRunning) {
		t.Fatalf("Start beside a live daemon process = %v, want ErrDaemonRunning", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Lstat(repo + "/" + SocketName); err != nil {
		t.Fatalf("a SIGKILLed daemon should leave its socket behind: %v", err)
	}
	if _, err := Dial(repo); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Dial after kill = %v, want ErrNoDaemon", err)
	}
	startServer(t, Options{RepoPath: repo}, nil)
	c, err = Dial(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p, err := c.Ping(ctx); err != nil || p.PID != os.Getpid() {
		t.Fatalf("after takeover ping = %+v %v", p, err)
	}
}
