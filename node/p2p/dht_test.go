package p2p

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"
)

// testNet is an in-process network where node i was bootstrapped to a few
// random nodes with lower indexes, so nobody knows everybody up front.
type testNet struct {
	nodes []*Node
	boot  [][]int // boot[i]: indexes node i was given as bootstrap peers
}

func buildNet(t testing.TB, size, fanout int, seed uint64) *testNet {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	tn := &testNet{nodes: make([]*Node, size), boot: make([][]int, size)}
	for i := range size {
		o := testOptions(t)
		if i > 0 {
			picks := rng.Perm(i)[:min(i, fanout)]
			slices.Sort(picks)
			tn.boot[i] = picks
			for _, j := range picks {
				o.Bootstrap = append(o.Bootstrap, tn.nodes[j].AddrInfo())
			}
		}
		tn.nodes[i] = startNode(t, o)
	}
	// Generous: under -race on a shared 2-core machine a 32-node refresh
	// storm has taken 40 s; unloaded it takes 1-3 s.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var g errgroup.Group
	for _, n := range tn.nodes[1:] {
		g.Go(func() error {
			t0 := time.Now()
			err := n.Bootstrap(ctx)
			if d := time.Since(t0); d > 2*time.Second {
				t.Logf("slow bootstrap of %s: %v", n.ID(), d)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return tn
}

func disjoint(a, b []int) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// TestFindProviderAcrossNetwork checks the DHT actually routes: a searcher
// that shares no bootstrap peer with the provider, is not connected to it,
// and does not hold the record itself still finds it.
func TestFindProviderAcrossNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("32-node network")
	}
	start := time.Now()
	tn := buildNet(t, 32, 3, 7)
	t.Logf("32 nodes up and bootstrapped in %v", time.Since(start))

	const pi = 31
	prov := tn.nodes[pi]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for round := range 3 {
		c := randomCID(t)
		if err := prov.Provide(ctx, c); err != nil {
			t.Fatal(err)
		}
		si := -1
		for i, n := range tn.nodes {
			if i == pi || len(tn.boot[i]) == 0 || slices.Contains(tn.boot[pi], i) || slices.Contains(tn.boot[i], pi) ||
				!disjoint(tn.boot[i], tn.boot[pi]) || holdsRecord(t, n, c) {
				continue
			}
			si = i
			break
		}
		if si < 0 {
			t.Fatalf("round %d: every candidate searcher already holds the record", round)
		}
		s := tn.nodes[si]
		// Routing-table refreshes may have connected them; the point is to
		// find the provider without a prior connection, so cut it.
		if s.Host().Network().Connectedness(prov.ID()) == network.Connected {
			t.Logf("round %d: cutting the refresh-made connection %d -> %d", round, si, pi)
			s.Host().Network().ClosePeer(prov.ID())
		}
		if got := s.Host().Network().Connectedness(prov.ID()); got == network.Connected {
			t.Fatalf("searcher still connected to provider before lookup")
		}
		t0 := time.Now()
		got, err := firstProvider(ctx, s, c)
		if err != nil {
			t.Fatalf("round %d: node %d (boot %v) looking for %s from node %d (boot %v): %v",
				round, si, tn.boot[si], c, pi, tn.boot[pi], err)
		}
		t.Logf("round %d: node %d found provider in %v", round, si, time.Since(t0))
		if got.ID != prov.ID() {
			t.Fatalf("found %s, want provider %s", got.ID, prov.ID())
		}
		if len(got.Addrs) == 0 {
			// Without addresses the transfer layer could not dial it.
			got = s.Host().Peerstore().PeerInfo(got.ID)
		}
		if err := s.Connect(ctx, got); err != nil {
			t.Fatalf("provider record not dialable: %v", err)
		}
	}
}

func TestProtocolPrefixIsolatesFromIPFS(t *testing.T) {
	n := startNode(t, testOptions(t))
	protos := n.Host().Mux().Protocols()
	if !slices.Contains(protos, "/trove/kad/1.0.0") {
		t.Errorf("trove DHT protocol missing from %v", protos)
	}
	if slices.Contains(protos, "/ipfs/kad/1.0.0") {
		t.Errorf("node speaks the public IPFS DHT protocol: %v", protos)
	}
}

// TestPublicPolicyFiltersLoopback shows the policy switch is real: the same
// two loopback nodes that share a routing table under "auto" keep each other
// out of it under "deny", as public-internet nodes would.
func TestPublicPolicyFiltersLoopback(t *testing.T) {
	for _, tc := range []struct {
		policy  string
		public  bool
		inTable bool
	}{
		{"", false, true},
		{PrivateAddrsAllow, false, true},
		{PrivateAddrsDeny, true, false},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			oa, ob := testOptions(t), testOptions(t)
			oa.PrivateAddrs, ob.PrivateAddrs = tc.policy, tc.policy
			a, b := startNode(t, oa), startNode(t, ob)
			if a.Stats().PublicDHT != tc.public {
				t.Fatalf("PublicDHT = %v, want %v", a.Stats().PublicDHT, tc.public)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := b.Connect(ctx, a.AddrInfo()); err != nil {
				t.Fatal(err)
			}
			if tc.inTable {
				waitFor(t, 5*time.Second, "peer in routing table", func() bool {
					return a.Stats().RoutingTable == 1 && b.Stats().RoutingTable == 1
				})
				return
			}
			// Give identify and the DHT's peer check time to (not) add it.
			time.Sleep(500 * time.Millisecond)
			if a.Stats().RoutingTable != 0 || b.Stats().RoutingTable != 0 {
				t.Fatalf("loopback peer entered a public routing table")
			}
		})
	}
}

func TestProvideWithoutPeersFails(t *testing.T) {
	n := startNode(t, testOptions(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Provide(ctx, randomCID(t)); err == nil {
		t.Fatal("Provide with an empty routing table succeeded")
	}
	var none peer.AddrInfo
	if got, err := firstProvider(ctx, n, randomCID(t)); err == nil {
		t.Fatalf("found provider %v (want none, %v)", got, none)
	}
}
