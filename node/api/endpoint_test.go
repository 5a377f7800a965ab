package api

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestEndpointPingShutdown(t *testing.T) {
	repo := shortRepo(t)
	echo := Endpoint[echoArgs, echoResult]{Path: "/v0/echo2"}
	s, err := NewServer(Options{RepoPath: repo})
	if err != nil {
		t.Fatal(err)
	}
	echo.Register(s, func(_ context.Context, a echoArgs) (echoResult, error) {
		return echoResult{Out: strings.Repeat(a.Text, a.Times)}, nil
	})
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	ctx := context.Background()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	c, err := WaitReady(wctx, repo, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := echo.Call(ctx, c, echoArgs{"ab", 3})
	if err != nil || out.Out != "ababab" {
		t.Fatalf("%+v %v", out, err)
	}
	if _, err := (Endpoint[echoArgs, echoResult]{Method: "GET", Path: "/v0/echo2"}).Call(ctx, c, echoArgs{}); err == nil {
		t.Error("wrong method accepted")
	}
	p, err := c.Ping(ctx)
	if err != nil || p.PID != os.Getpid() || p.Since.IsZero() {
		t.Fatalf("ping %+v %v", p, err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after a shutdown request")
	}
	if _, err := Dial(repo); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("after shutdown: %v", err)
	}
	if err := s.Start(); err == nil {
		t.Error("a closed server restarted")
	}
}
