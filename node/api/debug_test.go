package api

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestDebugEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := startServer(t, Options{Metrics: reg, TCPAddr: "127.0.0.1:0"}, func(s *Server) { testRoutes(s, nil) })
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(context.Background(), "POST", "/v0/echo", echoArgs{"a", 1}, nil); err != nil {
		t.Fatal(err)
	}
	hc := rawUnix(addrOf(t, s, "unix"))
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/debug/metrics/prometheus", []string{
			"go_goroutines", "process_cpu_seconds_total",
			`trove_api_requests_total{code="200",listener="unix",route="POST /v0/echo"} 1`,
		}},
		{"/debug/pprof/", []string{"goroutine", "heap"}},
		{"/debug/pprof/goroutine?debug=1", []string{"goroutine profile"}},
		{"/debug/pprof/cmdline", []string{os.Args[0]}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := hc.Get("http://trove" + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %q", tc.path, w)
				}
			}
		})
	}
	// The same endpoints over TCP need the token like everything else.
	resp, err := http.Get("http://" + addrOf(t, s, "tcp") + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("pprof over TCP without token: %d", resp.StatusCode)
	}
	// Nothing went to the process-global registry.
	mfs, _ := prometheus.DefaultGatherer.Gather()
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "trove_") {
			t.Errorf("%s registered globally", mf.GetName())
		}
	}
}

func TestTwoServersOneRegistry(t *testing.T) {
	// A node restarting its API on the same registry must not fail on
	// duplicate collectors.
	reg := prometheus.NewRegistry()
	startServer(t, Options{Metrics: reg}, nil)
	startServer(t, Options{Metrics: reg}, nil)
}
