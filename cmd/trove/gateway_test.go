package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trove-p2p/trove/node"
)

// TestGatewayCLI: `trove id --json` reports the gateway's bound URL, which
// serves what `trove add` stored; malformed or contradictory gateway flags
// are usage errors caught before the repo is opened.
func TestGatewayCLI(t *testing.T) {
	repo := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := node.StartDaemon(ctx, repo, node.DaemonOptions{
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true, Gateway: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	cid := strings.TrimSpace(mustTrove(t, repo, strings.NewReader("through the gateway\n"), "add", "-q", "-"))
	var id struct{ Gateway string }
	if err := json.Unmarshal([]byte(mustTrove(t, repo, nil, "id", "--json")), &id); err != nil {
		t.Fatal(err)
	}
	if id.Gateway == "" || id.Gateway != d.GatewayURL() {
		t.Fatalf("id --json Gateway = %q, daemon bound %q", id.Gateway, d.GatewayURL())
	}
	resp, err := http.Get(id.Gateway + "/ipfs/" + cid)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "through the gateway\n" {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}

	for _, args := range [][]string{
		{"daemon", "--gateway", "8180"},
		{"daemon", "--gateway", "127.0.0.1:0", "--no-gateway"},
	} {
		if _, errs, code := trove(t, t.TempDir(), nil, args...); code != exitUsage || !strings.Contains(errs, "--gateway") {
			t.Errorf("%v: exit %d, stderr %q; want usage error naming --gateway", args, code, errs)
		}
	}
}
