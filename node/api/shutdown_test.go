package api

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestShutdownIsBounded(t *testing.T) {
	entered := make(chan struct{})
	handlerCtx := make(chan error, 1)
	s := startServer(t, Options{ShutdownTimeout: 300 * time.Millisecond}, func(s *Server) {
		s.HandleFunc("POST /v0/stuck", func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-r.Context().Done() // a handler that only stops when told
			handlerCtx <- r.Context().Err()
		})
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go c.Call(context.Background(), "POST", "/v0/stuck", nil, nil)
	<-entered
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v with a 300ms bound", d)
	}
	select {
	case err := <-handlerCtx:
		if err == nil {
			t.Error("handler context not canceled")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("stuck handler never released")
	}
	if _, err := os.Stat(filepath.Join(s.repo, APIFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("api file after forced shutdown: %v", err)
	}
}

func TestRunStopsOnContext(t *testing.T) {
	repo := shortRepo(t)
	s, _ := NewServer(Options{RepoPath: repo})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	c, err := WaitReady(wctx, repo, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(repo); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("after Run returned: %v", err)
	}
}

// TestShutdownGrace: a quick request finishes undisturbed during a
// shutdown, while a long one (like a transfer's event stream) is cancelled
// after the grace instead of holding the shutdown for its whole timeout.
func TestShutdownGrace(t *testing.T) {
	entered := make(chan struct{}, 2)
	s := startServer(t, Options{ShutdownTimeout: 20 * time.Second, ShutdownGrace: 300 * time.Millisecond}, func(s *Server) {
		s.HandleFunc("POST /v0/long", func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-r.Context().Done()
			WriteError(w, r, r.Context().Err())
		})
		s.HandleFunc("POST /v0/quick", func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			time.Sleep(100 * time.Millisecond) // done well within the grace
			WriteJSON(w, r, map[string]string{"ok": "yes"})
		})
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	long, quick := make(chan error, 1), make(chan error, 1)
	go func() { long <- c.Call(context.Background(), "POST", "/v0/long", nil, nil) }()
	<-entered
	go func() {
		var out map[string]string
		err := c.Call(context.Background(), "POST", "/v0/quick", nil, &out)
		if err == nil && out["ok"] != "yes" {
			err = errors.New("quick request got no answer")
		}
		quick <- err
	}()
	<-entered
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v: the long request held it (grace 300ms, timeout 20s)", d)
	}
	if err := <-quick; err != nil {
		t.Errorf("quick request during shutdown: %v", err)
	}
	if err := <-long; !errors.Is(err, ErrStopping) {
		t.Errorf("the long request ended with %v, want ErrStopping", err)
	}
}

// TestShutdownUnusedConnection: a connection that never sent a request
// (Go's client pools spare dials like that) must not hold a shutdown until
// its timeout; http.Server waits for such a connection until it is 5 s old.
func TestShutdownUnusedConnection(t *testing.T) {
	s := startServer(t, Options{ShutdownTimeout: 3 * time.Second, ShutdownGrace: 200 * time.Millisecond}, nil)
	c, err := net.Dial("unix", filepath.Join(s.repo, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(50 * time.Millisecond) // let the server see it
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("shutdown with an unused connection open: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}
