package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

func TestPublicAddrsOnly(t *testing.T) {
	for _, tc := range []struct {
		addr string
		keep bool
	}{
		{"/ip4/127.0.0.1/tcp/4801", false},
		{"/ip4/10.1.2.3/tcp/4801", false},
		{"/ip4/192.168.1.20/tcp/4801", false},
		{"/ip4/172.16.0.9/tcp/4801", false},
		{"/ip4/169.254.1.1/tcp/4801", false},
		{"/ip6/::1/tcp/4801", false},
		{"/ip6/fd00::1/tcp/4801", false},
		{"/ip6/fe80::1/tcp/4801", false},
		{"/ip4/8.8.8.8/tcp/4801", true},
		{"/ip6/2001:4860::8888/tcp/4801", true},
		{"/dns4/boot.example.org/tcp/4801", true},
	} {
		got := publicAddrsOnly([]ma.Multiaddr{ma.StringCast(tc.addr)})
		if (len(got) == 1) != tc.keep {
			t.Errorf("%s: kept=%v, want %v", tc.addr, len(got) == 1, tc.keep)
		}
	}
}

func TestDefaultListenAddrs(t *testing.T) {
	addrs := DefaultListenAddrs()
	if len(addrs) != 2 {
		t.Fatalf("%v", addrs)
	}
	for _, a := range addrs {
		port, err := a.ValueForProtocol(ma.P_TCP)
		if err != nil || port != "4801" {
			t.Errorf("%s: port %q (%v), want 4801", a, port, err)
		}
		if !manet.IsIPUnspecified(a) {
			t.Errorf("%s is not a wildcard address", a)
		}
	}
}

// TestResourceMemoryAndRouting covers the explicit-memory resource limits
// and the Routing accessor the transfer layer will use to find peers.
func TestResourceMemoryAndRouting(t *testing.T) {
	o := testOptions(t)
	o.ResourceMemory = 256 << 20
	a := startNode(t, o)
	b, c := startNode(t, testOptions(t)), startNode(t, testOptions(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range []*Node{b, c} {
		if err := n.Connect(ctx, a.AddrInfo()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "routing tables", func() bool {
		return b.Stats().RoutingTable > 0 && a.Stats().RoutingTable == 2
	})
	var sys network.ScopeStat
	a.Host().Network().ResourceManager().ViewSystem(func(s network.ResourceScope) error {
		sys = s.Stat()
		return nil
	})
	if sys.NumConnsInbound < 2 {
		t.Errorf("resource manager saw %d inbound conns, want >= 2", sys.NumConnsInbound)
	}
	// b never dialled c itself; the DHT (via a) is how it learns c. The
	// lookup may leave b connected to c (c's DHT dials b too) before
	// identify has told b c's addresses: FindPeer then answers with the
	// peer and no addresses yet, so ask again until they are known.
	var pi peer.AddrInfo
	var err error
	waitFor(t, 5*time.Second, "FindPeer to return c with addresses", func() bool {
		pi, err = b.Routing().FindPeer(ctx, c.ID())
		return err == nil && pi.ID == c.ID() && len(pi.Addrs) > 0
	})
	if err != nil || pi.ID != c.ID() || len(pi.Addrs) == 0 {
		t.Fatalf("FindPeer via Routing(): %v %v", pi, err)
	}
}
