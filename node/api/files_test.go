package api

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestRepoFiles(t *testing.T) {
	s := startServer(t, Options{TCPAddr: "127.0.0.1:0"}, nil)
	for _, tc := range []struct {
		name string
		mode fs.FileMode
		sock bool
	}{
		{SocketName, 0o600, true},
		{TokenName, 0o600, false},
	} {
		fi, err := os.Lstat(filepath.Join(s.repo, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.mode {
			t.Errorf("%s mode %v, want %v", tc.name, fi.Mode().Perm(), tc.mode)
		}
		if (fi.Mode()&fs.ModeSocket != 0) != tc.sock {
			t.Errorf("%s: socket=%v", tc.name, !tc.sock)
		}
	}
	data, err := os.ReadFile(filepath.Join(s.repo, APIFileName))
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := ParseAPIFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 2 || addrs[0].Network != "unix" || addrs[0].Address != filepath.Join(s.repo, SocketName) || addrs[1].Network != "tcp" {
		t.Fatalf("api file %q parsed to %v", data, addrs)
	}
	tok1, _ := LoadOrCreateToken(s.repo)
	tok2, _ := LoadOrCreateToken(s.repo)
	if len(tok1) != 64 || tok1 != tok2 {
		t.Errorf("token not stable: %q vs %q", tok1, tok2)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{APIFileName, SocketName} {
		if _, err := os.Lstat(filepath.Join(s.repo, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survives clean shutdown: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.repo, TokenName)); err != nil {
		t.Errorf("token must persist across restarts: %v", err)
	}
	if _, err := Dial(s.repo); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("Dial after shutdown = %v, want ErrNoDaemon", err)
	}
}

// staleSocket leaves a socket file nobody listens on, as a SIGKILLed daemon
// does, plus the api file pointing at it.
func staleSocket(t *testing.T, repo string) {
	t.Helper()
	path := filepath.Join(repo, SocketName)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if err := os.WriteFile(filepath.Join(repo, APIFileName), []byte("unix:"+path+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	repo := shortRepo(t)
	staleSocket(t, repo)
	if _, err := Dial(repo); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Dial with stale socket = %v, want ErrNoDaemon", err)
	}
	startServer(t, Options{RepoPath: repo}, func(s *Server) { testRoutes(s, nil) })
	c, err := Dial(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out echoResult
	if err := c.Call(context.Background(), "POST", "/v0/echo", echoArgs{"z", 3}, &out); err != nil || out.Out != "zzz" {
		t.Fatalf("call over replaced socket: %+v %v", out, err)
	}
}

func TestSecondServerRefused(t *testing.T) {
	repo := shortRepo(t)
	first := startServer(t, Options{RepoPath: repo}, nil)
	second, _ := NewServer(Options{RepoPath: repo})
	if err := second.Start(); !errors.Is(err, ErrDaemonRunning) {
		t.Fatalf("second Start = %v, want ErrDaemonRunning", err)
	}
	// The refused server must not have disturbed the first one's files.
	if _, err := Dial(repo); err != nil {
		t.Fatalf("first server unreachable after refused second: %v", err)
	}
	first.Close()
	third := startServer(t, Options{RepoPath: repo}, nil)
	if _, err := Dial(third.repo); err != nil {
		t.Fatalf("restart after clean shutdown: %v", err)
	}
}

func TestForeignLiveSocketRefused(t *testing.T) {
	// A socket that answers although nobody holds our lock (another build,
	// another tool) must never be stolen.
	repo := shortRepo(t)
	l, err := net.Listen("unix", filepath.Join(repo, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	s, _ := NewServer(Options{RepoPath: repo})
	if err := s.Start(); !errors.Is(err, ErrDaemonRunning) {
		t.Fatalf("Start = %v, want ErrDaemonRunning", err)
	}
}
