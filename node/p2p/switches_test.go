package p2p

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestConfigDefaultsStart starts a node with every switch the repo config
// turns on by default, so a wiring conflict between them (relay vs hole
// punching, AutoNAT vs metrics, ...) fails here rather than in the daemon.
func TestConfigDefaultsStart(t *testing.T) {
	o := testOptions(t)
	o.DHTMode = DHTAuto
	o.MDNS, o.NAT, o.AutoNAT, o.HolePunching, o.RelayClient = true, true, true, true, true
	n, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	b := startNode(t, testOptions(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Connect(ctx, n.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	// The relay peer source hands out connected peers.
	var got []peer.ID
	for p := range n.relayCandidates(ctx, 5) {
		got = append(got, p.ID)
	}
	if !slices.Contains(got, b.ID()) {
		t.Fatalf("relay candidates = %v, want %s among them", got, b.ID())
	}
	// Listening on loopback only, the node must not multicast on the LAN
	// or ask the router for a port mapping.
	if n.mdns != nil || n.opts.NAT {
		t.Errorf("loopback-only node started mDNS (%v) or NAT port mapping (%v)", n.mdns != nil, n.opts.NAT)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		addrs []string
		want  bool
	}{
		{[]string{"/ip4/127.0.0.1/tcp/0"}, true},
		{[]string{"/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/0"}, true},
		{[]string{"/ip4/127.0.0.1/tcp/0", "/ip4/0.0.0.0/tcp/4801"}, false},
		{[]string{"/ip4/192.168.1.2/tcp/4801"}, false},
		{nil, false},
	} {
		var addrs []ma.Multiaddr
		for _, s := range tc.addrs {
			addrs = append(addrs, ma.StringCast(s))
		}
		if got := loopbackOnly(addrs); got != tc.want {
			t.Errorf("loopbackOnly(%v) = %v, want %v", tc.addrs, got, tc.want)
		}
	}
}

// TestMDNSNotifeeConnects drives the mDNS callback with a real peer: the
// multicast itself depends on the host's interfaces, the reaction does not.
func TestMDNSNotifeeConnects(t *testing.T) {
	o := testOptions(t)
	o.MDNS = true
	a, b := startNode(t, o), startNode(t, testOptions(t))
	notifee := mdnsNotifee{a}
	notifee.HandlePeerFound(a.AddrInfo()) // itself: ignored
	notifee.HandlePeerFound(b.AddrInfo())
	waitFor(t, 5*time.Second, "mDNS-found peer connected", func() bool {
		return a.Host().Network().Connectedness(b.ID()) == network.Connected
	})
	if !slices.ContainsFunc(a.Peers(), func(p PeerInfo) bool { return p.ID == b.ID() }) {
		t.Fatalf("b missing from a.Peers() = %v", a.Peers())
	}
}

func TestDHTModes(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		autoNAT bool
		served  bool // does the other node put it in its routing table?
	}{
		{"", false, true},
		{DHTAuto, false, true},
		// AutoNAT on a LAN or loopback finds no public address to test,
		// so reachability stays unknown and auto must keep serving.
		{DHTAuto, true, true},
		{DHTServer, false, true},
		{DHTClient, false, false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			o := testOptions(t)
			o.DHTMode, o.AutoNAT = tc.mode, tc.autoNAT
			n, s := startNode(t, o), startNode(t, testOptions(t))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := n.Connect(ctx, s.AddrInfo()); err != nil {
				t.Fatal(err)
			}
			// Either way n uses s for its own queries.
			waitFor(t, 5*time.Second, "server in n's table", func() bool { return n.Stats().RoutingTable == 1 })
			if !tc.served {
				time.Sleep(300 * time.Millisecond)
			} else {
				waitFor(t, 5*time.Second, "n in server's table", func() bool { return s.Stats().RoutingTable == 1 })
			}
			if got := s.Stats().RoutingTable == 1; got != tc.served {
				t.Fatalf("mode %q: in server's routing table = %v, want %v", tc.mode, got, tc.served)
			}
		})
	}
}

func TestFindProvidersMax(t *testing.T) {
	hub := startNode(t, testOptions(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := randomCID(t)
	var provs []*Node
	for range 3 {
		o := testOptions(t)
		o.Bootstrap = []peer.AddrInfo{hub.AddrInfo()}
		p := startNode(t, o)
		if err := p.Bootstrap(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Provide(ctx, c); err != nil {
			t.Fatal(err)
		}
		provs = append(provs, p)
	}
	// Three providers, but the searcher is one of them and leaves itself out.
	for _, tc := range []struct{ max, want int }{{1, 1}, {2, 2}, {0, 2}, {10, 2}} {
		seen := map[peer.ID]bool{}
		// Searching from a provider: it must leave itself out.
		for p := range provs[0].FindProviders(ctx, c, tc.max) {
			if p.ID == provs[0].ID() || seen[p.ID] {
				t.Fatalf("max=%d: unexpected %s (self or duplicate)", tc.max, p.ID)
			}
			seen[p.ID] = true
		}
		if len(seen) != tc.want {
			t.Errorf("max=%d: got %d providers, want %d", tc.max, len(seen), tc.want)
		}
	}
}
