package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// shortRepo returns a repo dir whose socket path fits the 108-byte limit;
// t.TempDir() paths embed the test name and can be too long.
func shortRepo(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

type echoArgs struct {
	Text  string `json:"text"`
	Times int    `json:"times"`
}

type echoResult struct {
	Out string `json:"out"`
}

// testRoutes registers the handlers the tests drive: they stand in for node
// methods with the same shapes.
func testRoutes(s *Server, errFor func(string) error) {
	s.Handle("POST /v0/echo", JSONHandler(func(_ context.Context, a echoArgs) (echoResult, error) {
		if a.Times < 0 {
			return echoResult{}, fmt.Errorf("times %d: %w", a.Times, ErrBadRequest)
		}
		return echoResult{Out: strings.Repeat(a.Text, a.Times)}, nil
	}))
	s.Handle("POST /v0/fail", JSONHandler(func(_ context.Context, a echoArgs) (echoResult, error) {
		return echoResult{}, errFor(a.Text)
	}))
}

func startServer(t *testing.T, o Options, routes func(*Server)) *Server {
	t.Helper()
	if o.RepoPath == "" {
		o.RepoPath = shortRepo(t)
	}
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	if routes != nil {
		routes(s)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func addrOf(t testing.TB, s *Server, network string) string {
	t.Helper()
	for _, a := range s.Addrs() {
		if n, addr, _ := strings.Cut(a, ":"); n == network {
			return addr
		}
	}
	t.Fatalf("server has no %s address: %v", network, s.Addrs())
	return ""
}

// rawUnix is a plain HTTP client on the socket, for requests the trove
// Client would never send (browser headers).
func rawUnix(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

func readEnvelope(t *testing.T, resp *http.Response) envelope {
	t.Helper()
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("status %d body is not an envelope: %v", resp.StatusCode, err)
	}
	return env
}
