package api

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// The typed stream endpoints carry their types both ways: one value
// registers the route and makes the call.
func TestStreamEndpoints(t *testing.T) {
	var (
		cat    = StreamEndpoint[echoArgs]{Path: "/v0/t/cat", ContentType: "text/plain"}
		upload = UploadEndpoint[echoArgs, echoResult]{Path: "/v0/t/upload", ContentType: "text/plain"}
		events = EventEndpoint[echoArgs, echoResult, echoResult]{Path: "/v0/t/events"}
	)
	errLate := errors.New("failed after the first byte")
	s := startServer(t, Options{}, func(s *Server) {
		cat.Register(s, func(_ context.Context, a echoArgs, w io.Writer) error {
			io.WriteString(w, strings.Repeat(a.Text, a.Times))
			if a.Text == "fail" {
				return errLate
			}
			return nil
		})
		upload.Register(s, func(_ context.Context, a echoArgs, body io.Reader) (echoResult, error) {
			b, err := io.ReadAll(body)
			return echoResult{Out: a.Text + ":" + string(b)}, err
		})
		events.Register(s, func(_ context.Context, a echoArgs, body Body, emit func(echoResult) error) (echoResult, error) {
			b, err := io.ReadAll(body)
			if err != nil {
				return echoResult{}, err
			}
			for i := range a.Times {
				if err := emit(echoResult{Out: fmt.Sprint(i)}); err != nil {
					return echoResult{}, err
				}
			}
			if a.Text == "fail" {
				return echoResult{}, fmt.Errorf("%w: told to", ErrBadRequest)
			}
			return echoResult{Out: body.ContentType + ":" + string(b)}, nil
		})
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	var buf strings.Builder
	if n, err := cat.Copy(ctx, c, echoArgs{"ab", 3}, &buf); err != nil || n != 6 || buf.String() != "ababab" {
		t.Errorf("stream: %d %q %v", n, buf.String(), err)
	}
	buf.Reset()
	if _, err := cat.Copy(ctx, c, echoArgs{"fail", 1}, &buf); err == nil || !strings.Contains(err.Error(), errLate.Error()) || buf.String() != "fail" {
		t.Errorf("stream failing mid-body: %q %v, want the bytes and then the error", buf.String(), err)
	}

	if out, err := upload.Call(ctx, c, echoArgs{Text: "up"}, strings.NewReader("data")); err != nil || out.Out != "up:data" {
		t.Errorf("upload: %+v %v", out, err)
	}

	var got []string
	collect := func(ev echoResult) error { got = append(got, ev.Out); return nil }
	out, err := events.Upload(ctx, c, echoArgs{Times: 3}, Body{Reader: strings.NewReader("tar"), ContentType: ContentTar}, collect)
	if err != nil || out.Out != ContentTar+":tar" || strings.Join(got, ",") != "0,1,2" {
		t.Errorf("events with upload: %+v %v, events %v", out, err, got)
	}
	got = nil
	if _, err := events.Call(ctx, c, echoArgs{Text: "fail", Times: 1}, collect); !errors.Is(err, ErrBadRequest) || len(got) != 1 {
		t.Errorf("events failing after an event: %v (events %v), want ErrBadRequest after one event", err, got)
	}
	stop := errors.New("seen enough")
	if _, err := events.Call(ctx, c, echoArgs{Times: 5}, func(echoResult) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("onEvent error: %v, want it returned", err)
	}
}
