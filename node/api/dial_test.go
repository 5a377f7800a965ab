package api

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDialFallsBackToTCP(t *testing.T) {
	s := startServer(t, Options{TCPAddr: "127.0.0.1:0"}, func(s *Server) { testRoutes(s, nil) })
	tcp := addrOf(t, s, "tcp")
	// A unix path the client cannot use (it does not fit sun_path) makes
	// Dial fall back to TCP with the token from the repo.
	long := "/" + strings.Repeat("x", 200)
	if err := os.WriteFile(filepath.Join(s.repo, APIFileName), []byte("unix:"+long+"\ntcp:"+tcp+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Addr().Network != "tcp" {
		t.Fatalf("client uses %v", c.Addr())
	}
	var out echoResult
	if err := c.Call(context.Background(), "POST", "/v0/echo", echoArgs{"t", 2}, &out); err != nil || out.Out != "tt" {
		t.Fatalf("%+v %v", out, err)
	}
	// Without the token file, TCP is unusable and Dial says why.
	os.Rename(filepath.Join(s.repo, TokenName), filepath.Join(s.repo, "moved"))
	if _, err := Dial(s.repo); err == nil || errors.Is(err, ErrNoDaemon) {
		t.Errorf("Dial without token = %v, want a reachability error", err)
	}
}

func TestDialNoAPIFile(t *testing.T) {
	repo := shortRepo(t)
	if _, err := Dial(repo); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Dial = %v, want ErrNoDaemon", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := WaitReady(ctx, repo, ClientOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady without daemon = %v", err)
	}
	os.WriteFile(filepath.Join(repo, APIFileName), []byte("garbage\n"), 0o600)
	if _, err := Dial(repo); err == nil || errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Dial with corrupt api file = %v, want a parse error", err)
	}
}
