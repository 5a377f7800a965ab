package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/trove-p2p/trove/node"
)

// TestPrintPeers: a banned peer's line says until when and why; others
// keep the three columns they had.
func TestPrintPeers(t *testing.T) {
	until := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		in   []node.PeerResult
		want []string // one substring set per line
	}{
		{"none", nil, nil},
		{"honest", []node.PeerResult{{ID: "12D3KooWA", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}, Latency: "1ms"}}, []string{"12D3KooWA /ip4/127.0.0.1/tcp/1 1ms"}},
		{"banned, no latency", []node.PeerResult{
			{ID: "12D3KooWA", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}, Latency: "1ms"},
			{ID: "12D3KooWB", Addrs: []string{"/ip4/127.0.0.1/tcp/2"}, Banned: &until, BanReason: "peer misbehaved: block hash mismatch"},
		}, []string{
			"12D3KooWA /ip4/127.0.0.1/tcp/1 1ms",
			"12D3KooWB /ip4/127.0.0.1/tcp/2 -   banned until 2026-12-04T19:00:00Z: peer misbehaved: block hash mismatch",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printPeers(&b, tc.in); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if len(tc.want) == 0 {
				if b.Len() != 0 {
					t.Fatalf("printed %q", b.String())
				}
				return
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tc.want), b.String())
			}
			for i, w := range tc.want {
				if strings.Join(strings.Fields(lines[i]), " ") != strings.Join(strings.Fields(w), " ") {
					t.Errorf("line %d = %q, want %q", i, lines[i], w)
				}
			}
		})
	}
}
