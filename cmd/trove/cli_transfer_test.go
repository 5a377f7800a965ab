package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/node/repo"
	"github.com/trove-p2p/trove/transfer"
)

func TestSetConfigKey(t *testing.T) {
	base := repo.DefaultConfig()
	for _, tc := range []struct {
		key, value string
		check      func(repo.Config) bool
		bad        bool
	}{
		{key: "Transfer.MaxUpload", value: "10MB/s", check: func(c repo.Config) bool { return c.Transfer.MaxUpload == "10MB/s" }},
		{key: "Transfer.KeepPartial", value: "true", check: func(c repo.Config) bool { return c.Transfer.KeepPartial == "true" }},
		{key: "Transfer.MaxDownload", value: "0", check: func(c repo.Config) bool { return c.Transfer.MaxDownload == "0" }},
		{key: "Swarm.MDNS", value: "false", check: func(c repo.Config) bool { return !c.Swarm.MDNS }},
		{key: "Swarm.ConnMgr.High", value: "900", check: func(c repo.Config) bool { return c.Swarm.ConnMgr.High == 900 }},
		{key: "Swarm.MDNS", value: "maybe", bad: true},
		{key: "Transfer.Nope", value: "1", bad: true},
		{key: "Nope.Deeper", value: "1", bad: true},
		{key: "Swarm.PrivateAddrs", value: "sometimes", bad: true},
	} {
		c, err := setConfigKey(base, tc.key, tc.value)
		if tc.bad {
			if !errors.Is(err, repo.ErrBadConfig) {
				t.Errorf("set %s=%s: %v, want ErrBadConfig", tc.key, tc.value, err)
			}
			continue
		}
		if err != nil || !tc.check(c) {
			t.Errorf("set %s=%s: %v", tc.key, tc.value, err)
		}
	}
}

// TestTransferCommandsOffline: without a daemon, config set writes the
// file, share and add --ticket say they need the daemon, and a ticket whose
// content is not local is exit code 4 with the reason.
func TestTransferCommandsOffline(t *testing.T) {
	r := filepath.Join(t.TempDir(), "repo")
	mustTrove(t, r, nil, "init")
	mustTrove(t, r, nil, "config", "set", "Transfer.MaxUpload", "25MB/s")
	if out := mustTrove(t, r, nil, "config", "show"); !strings.Contains(out, `"MaxUpload": "25MB/s"`) {
		t.Errorf("config show after set:\n%s", out)
	}
	// A bad rate names its field, as every other bad value does.
	if _, errs, code := trove(t, r, nil, "config", "set", "Transfer.MaxUpload", "fast"); code != exitUsage || !strings.Contains(errs, `field "Transfer.MaxUpload"`) {
		t.Errorf("bad rate: exit %d (want %d), %q", code, exitUsage, errs)
	}
	if _, _, code := trove(t, r, nil, "config", "set", "Transfer.KeepPartial", "soon"); code != exitUsage {
		t.Errorf("bad KeepPartial: exit %d, want %d", code, exitUsage)
	}
	mustTrove(t, r, nil, "config", "set", "Transfer.KeepPartial", "72h")
	root := strings.TrimSpace(mustTrove(t, r, strings.NewReader("shared\n"), "add", "-q", "-"))
	if _, errs, code := trove(t, r, nil, "share", root); code == 0 || !strings.Contains(errs, "daemon") {
		t.Errorf("share offline: exit %d %q", code, errs)
	}
	if _, errs, code := trove(t, r, strings.NewReader("x"), "add", "--ticket", "-"); code == 0 || !strings.Contains(errs, "daemon") {
		t.Errorf("add --ticket offline: exit %d %q", code, errs)
	}
	missing, _ := node.ParseCID("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
	id, _ := peer.Decode("12D3KooWLEeQdAgnRQq5G2ioJkikvRzTbsPVQtJbnnd2M95sVLLT")
	tk, err := transfer.EncodeTicket(missing, []peer.AddrInfo{{ID: id}})
	if err != nil {
		t.Fatal(err)
	}
	if _, errs, code := trove(t, r, nil, "get", tk, "-o", filepath.Join(t.TempDir(), "x")); code != exitNotFound || !strings.Contains(errs, "trove daemon") {
		t.Errorf("offline get of a ticket: exit %d %q", code, errs)
	}
	// A ticket naming local content works offline.
	tk, _ = transfer.EncodeTicket(mustParseCID(t, root), []peer.AddrInfo{{ID: id}})
	out := filepath.Join(t.TempDir(), "y")
	mustTrove(t, r, nil, "get", tk, "-o", out)
	if _, errs, code := trove(t, r, nil, "get", "trove://notaticket"); code != exitBadCID {
		t.Errorf("bad ticket: exit %d %q", code, errs)
	}
}

func TestTransferBar(t *testing.T) {
	var buf strings.Builder
	bar := &transferBar{w: &buf}
	bar.update(node.FetchProgress{Have: 3 << 20, Total: 12 << 20, Rate: 1 << 20, ETA: 9, Peers: 2})
	bar.finish()
	got := buf.String()
	for _, want := range []string{"3.0 MiB / 12.0 MiB", "1.0 MiB/s", "ETA 9s", "2 peer(s)"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress line %q lacks %q", got, want)
		}
	}
	if !strings.HasSuffix(got, "\n") {
		t.Errorf("finish did not end the line: %q", got)
	}
}
