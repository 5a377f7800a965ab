package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trove-p2p/trove/transfer"
)

// TestIDShowsAnnounceAddrs: with Swarm.AnnounceAddrs set, `trove id`,
// `trove id --json` and `trove share` tickets carry exactly the announced
// address, while the ready line still names the bound socket; malformed
// announce addresses are usage errors in the config and on the flag.
func TestIDShowsAnnounceAddrs(t *testing.T) {
	repo := t.TempDir()
	const announced = "/ip4/198.51.100.23/tcp/4801"
	for _, tc := range []struct{ value, want string }{
		{`["/ip4/198.51.100.23/tcp/4801/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"]`, "leave out /p2p"},
		{`["/ip4/198.51.100.23"]`, "TCP address"},
		{`["not an address"]`, "Swarm.AnnounceAddrs[0]"},
	} {
		if _, errs, code := trove(t, repo, nil, "config", "set", "Swarm.AnnounceAddrs", tc.value); code != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("config set Swarm.AnnounceAddrs %s: exit %d, %q; want %d and %q", tc.value, code, errs, exitUsage, tc.want)
		}
	}
	if _, errs, code := trove(t, repo, nil, "daemon", "--announce", "/ip4/1.2.3.4"); code != exitUsage || !strings.Contains(errs, "--announce") {
		t.Errorf("daemon --announce without a port: exit %d, %q", code, errs)
	}
	mustTrove(t, repo, nil, "config", "set", "Swarm.AnnounceAddrs", `["`+announced+`"]`)

	d := startInProcessDaemon(t, repo)
	out := mustTrove(t, repo, nil, "id")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[1] != announced+"/p2p/"+lines[0] {
		t.Errorf("trove id printed %q; want the ID and only %s/p2p/<ID>", out, announced)
	}
	var id struct {
		ID    string
		Addrs []string
	}
	if err := json.Unmarshal([]byte(mustTrove(t, repo, nil, "id", "--json")), &id); err != nil || len(id.Addrs) != 1 || !strings.HasPrefix(id.Addrs[0], announced+"/p2p/") {
		t.Errorf("trove id --json: %+v, %v", id, err)
	}
	if rl := d.ReadyLine(); !strings.Contains(rl, "listen=/ip4/127.0.0.1/tcp/") || strings.Contains(rl, announced) {
		t.Errorf("ready line %q: want the bound loopback socket, not the announced address", rl)
	}

	c := strings.Fields(mustTrove(t, repo, strings.NewReader("announce me\n"), "add", "-"))[1]
	tk := strings.TrimSpace(mustTrove(t, repo, nil, "share", c))
	_, provs, err := transfer.DecodeTicket(tk)
	if err != nil || len(provs) != 1 || len(provs[0].Addrs) != 1 || provs[0].Addrs[0].String() != announced {
		t.Errorf("ticket names %v (%v); want only %s", provs, err, announced)
	}
}
