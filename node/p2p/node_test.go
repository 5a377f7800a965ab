package p2p

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Options)
	}{
		{"no identity", func(o *Options) { o.Identity = nil }},
		{"short swarm key", func(o *Options) { o.SwarmKey = make([]byte, 16) }},
		{"bad dht mode", func(o *Options) { o.DHTMode = "sometimes" }},
		{"bad private policy", func(o *Options) { o.PrivateAddrs = "maybe" }},
		{"high below low", func(o *Options) { o.ConnMgrLow, o.ConnMgrHigh = 50, 10 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t)
			tc.mod(&o)
			n, err := New(context.Background(), o)
			if err == nil {
				n.Close()
				t.Fatal("New accepted bad options")
			}
		})
	}
}

func TestNewFailsCleanly(t *testing.T) {
	a := startNode(t, testOptions(t))
	o := testOptions(t)
	o.ListenAddrs = a.Host().Addrs() // already bound by a
	if n, err := New(context.Background(), o); err == nil {
		n.Close()
		t.Fatal("New succeeded on a port in use")
	}
	// Only TCP is wired in, so libp2p itself refuses a QUIC address; the
	// managers built for it must be released (the race detector and the
	// goroutine count in -count=N runs would show a leak).
	o = testOptions(t)
	o.ListenAddrs = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/udp/0/quic-v1")}
	if n, err := New(context.Background(), o); err == nil {
		n.Close()
		t.Fatal("New succeeded with only a QUIC listen address")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := New(ctx, testOptions(t)); !errors.Is(err, context.Canceled) {
		if n != nil {
			n.Close()
		}
		t.Fatalf("New with cancelled ctx = %v", err)
	}
}

func TestPrivateSwarm(t *testing.T) {
	keyA, keyB := GenerateSwarmKey(), GenerateSwarmKey()
	withKey := func(k []byte) Options {
		o := testOptions(t)
		o.SwarmKey = k
		return o
	}
	a := startNode(t, withKey(keyA))
	a2 := startNode(t, withKey(keyA))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name string
		key  []byte
		ok   bool
	}{
		{"same key", keyA, true},
		{"other key", keyB, false},
		{"no key", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := withKey(tc.key)
			o.Bootstrap = []peer.AddrInfo{a.AddrInfo()}
			n := startNode(t, o)
			// A wrong key makes the handshake hang rather than fail, so
			// the failing cases get a short deadline.
			d := 5 * time.Second
			if !tc.ok {
				d = time.Second
			}
			dctx, dcancel := context.WithTimeout(ctx, d)
			defer dcancel()
			err := n.Connect(dctx, a.AddrInfo())
			if tc.ok != (err == nil) {
				t.Fatalf("Connect: %v (want success %v)", err, tc.ok)
			}
			// The reverse direction must agree: the key check is symmetric.
			err = a.Connect(dctx, n.AddrInfo())
			if tc.ok != (err == nil) {
				t.Fatalf("reverse Connect: %v (want success %v)", err, tc.ok)
			}
			berr := n.Bootstrap(dctx)
			if tc.ok != (berr == nil) {
				t.Fatalf("Bootstrap: %v (want success %v)", berr, tc.ok)
			}

			// A record stored inside the keyed swarm must be findable
			// only from inside it.
			c := randomCID(t)
			if err := a2.Connect(ctx, a.AddrInfo()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "a2 in a's routing table", func() bool { return a2.Stats().RoutingTable > 0 })
			if err := a2.Provide(ctx, c); err != nil {
				t.Fatal(err)
			}
			qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
			defer qcancel()
			got, err := firstProvider(qctx, n, c)
			if tc.ok && (err != nil || got.ID != a2.ID()) {
				t.Fatalf("same-key node did not find the provider: %v %v", got, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("outsider found provider %s", got.ID)
			}
			if !tc.ok && n.Stats().Peers != 0 {
				t.Fatalf("outsider has %d peers", n.Stats().Peers)
			}
		})
	}
}

func TestPeerstorePersistence(t *testing.T) {
	a, b := startNode(t, testOptions(t)), startNode(t, testOptions(t))
	path := filepath.Join(t.TempDir(), "peers")
	o := testOptions(t)
	o.PeerstorePath = path
	o.PeerstoreSaveInterval = 50 * time.Millisecond
	o.Bootstrap = []peer.AddrInfo{a.AddrInfo()}
	n, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Connect(ctx, b.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	// The periodic save, not only Close, must write the file.
	waitFor(t, 5*time.Second, "periodic peer file with both peers", func() bool {
		data, err := os.ReadFile(path)
		return err == nil && strings.Contains(string(data), a.ID().String()) &&
			strings.Contains(string(data), b.ID().String())
	})
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "peers to notice the close", func() bool {
		return a.Host().Network().Connectedness(n.ID()) != network.Connected &&
			b.Host().Network().Connectedness(n.ID()) != network.Connected
	})

	// Same identity and file, no bootstrap peers at all.
	o.Bootstrap = nil
	o.PeerstoreSaveInterval = 0
	t0 := time.Now()
	n2 := startNode(t, o)
	if n2.ID() != n.ID() {
		t.Fatal("identity changed")
	}
	if err := n2.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted node rejoined in %v", time.Since(t0))
	for _, p := range []*Node{a, b} {
		if n2.Host().Network().Connectedness(p.ID()) != network.Connected {
			t.Errorf("restarted node not reconnected to %s", p.ID())
		}
	}

	// A node with no file and no bootstrap stays alone and says so quietly.
	lone := testOptions(t)
	lone.PeerstorePath = filepath.Join(t.TempDir(), "missing", "peers")
	ln := startNode(t, lone)
	if err := ln.Bootstrap(ctx); err != nil {
		t.Fatalf("bootstrap with nothing to dial: %v", err)
	}
}

func TestDHTDatastoreKeepsRecords(t *testing.T) {
	store := dssync.MutexWrap(ds.NewMapDatastore())
	so := testOptions(t)
	so.DHTDatastore = store
	s, err := New(context.Background(), so)
	if err != nil {
		t.Fatal(err)
	}
	po := testOptions(t)
	po.Bootstrap = []peer.AddrInfo{s.AddrInfo()}
	p := startNode(t, po)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	c := randomCID(t)
	if err := p.Provide(ctx, c); err != nil {
		t.Fatal(err)
	}
	// The server files ADD_PROVIDER asynchronously after acknowledging it.
	waitFor(t, 5*time.Second, "server to store the record", func() bool { return holdsRecord(t, s, c) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := startNode(t, so)
	if !holdsRecord(t, s2, c) {
		t.Fatal("record lost across restart despite DHTDatastore")
	}
}

func TestReprovide(t *testing.T) {
	a, b := startNode(t, testOptions(t)), startNode(t, testOptions(t))
	roots := []cid.Cid{randomCID(t), randomCID(t), randomCID(t)}
	o := testOptions(t)
	o.Bootstrap = []peer.AddrInfo{a.AddrInfo(), b.AddrInfo()}
	o.ReprovideInterval = 100 * time.Millisecond
	calls := make(chan struct{}, 100)
	o.Roots = func(ctx context.Context) ([]cid.Cid, error) {
		select {
		case calls <- struct{}{}:
		default:
		}
		return roots, nil
	}
	p := startNode(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	// The loop, not an explicit call, must get every root onto b.
	for _, c := range roots {
		waitFor(t, 5*time.Second, "loop to reprovide "+c.String(), func() bool { return holdsRecord(t, b, c) })
		got, err := firstProvider(ctx, a, c)
		if err != nil || got.ID != p.ID() {
			t.Fatalf("lookup of reprovided root: %v %v", got, err)
		}
	}
	if len(calls) < 1 {
		t.Fatal("Roots never called")
	}

	boom := errors.New("pin index unavailable")
	o2 := testOptions(t)
	o2.Bootstrap = []peer.AddrInfo{a.AddrInfo()}
	o2.Roots = func(context.Context) ([]cid.Cid, error) { return nil, boom }
	q := startNode(t, o2)
	if err := q.Reprovide(ctx); !errors.Is(err, boom) {
		t.Fatalf("Reprovide = %v, want wrapped %v", err, boom)
	}
}

func TestStatsPeersAndMetrics(t *testing.T) {
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	oa, ob := testOptions(t), testOptions(t)
	oa.Registerer, ob.Registerer = regA, regB
	a, b := startNode(t, oa), startNode(t, ob)
	c := startNode(t, testOptions(t)) // metrics off
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range []*Node{b, c} {
		if err := n.Connect(ctx, a.AddrInfo()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "routing tables and traffic", func() bool {
		s := a.Stats()
		return s.RoutingTable == 2 && s.TotalIn > 0 && s.TotalOut > 0 && b.Stats().TotalIn > 0
	})
	if s := a.Stats(); s.Peers != 2 {
		t.Errorf("a.Stats().Peers = %d", s.Peers)
	}

	// b dialled a; the DHT may since have introduced b to c as well.
	var found bool
	for _, p := range b.Peers() {
		if p.ID == a.ID() {
			found = true
			if p.Direction != network.DirOutbound || len(p.Addrs) == 0 || p.Latency < 0 {
				t.Fatalf("b's view of a: %+v", p)
			}
		}
	}
	if !found {
		t.Fatalf("a missing from b.Peers() = %+v", b.Peers())
	}
	var inbound int
	for _, p := range a.Peers() {
		if p.Direction == network.DirInbound {
			inbound++
		}
	}
	if inbound != 2 {
		t.Fatalf("a sees %d inbound peers, want 2: %+v", inbound, a.Peers())
	}

	for _, a := range a.Addrs() {
		if _, err := peer.AddrInfoFromP2pAddr(a); err != nil {
			t.Errorf("Addrs() entry %s lacks /p2p/: %v", a, err)
		}
	}

	// Each registry holds its own node's libp2p metrics; the global
	// default registry holds none.
	for name, g := range map[string]prometheus.Gatherer{"a": regA, "b": regB} {
		if !hasLibp2pMetrics(t, g) {
			t.Errorf("registry %s has no libp2p metrics", name)
		}
	}
	// go-libp2p v0.51 registers its event-bus counter with the default
	// registry even when metrics are disabled (config.go builds the bus
	// unconditionally); everything else must stay out of it.
	if hasLibp2pMetrics(t, prometheus.DefaultGatherer, "libp2p_eventbus_") {
		t.Error("libp2p metrics leaked into the global default registry")
	}
}

func hasLibp2pMetrics(t *testing.T, g prometheus.Gatherer, except ...string) bool {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
next:
	for _, mf := range mfs {
		name := mf.GetName()
		for _, e := range except {
			if strings.HasPrefix(name, e) {
				continue next
			}
		}
		if strings.HasPrefix(name, "libp2p_") {
			t.Logf("found %s", name)
			return true
		}
	}
	return false
}

// TestConnectUnreachable: a failed dial is worded once, naming the peer
// and each address with its cause, and still unwraps to libp2p's error.
func TestConnectUnreachable(t *testing.T) {
	a := startNode(t, testOptions(t))
	b := startNode(t, testOptions(t))
	gone := b.AddrInfo()
	b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.Connect(ctx, gone)
	if err == nil {
		t.Fatal("connected to a closed node")
	}
	msg := err.Error()
	var de *swarm.DialError
	if !errors.As(err, &de) || !strings.HasPrefix(msg, "cannot reach "+gone.ID.String()) ||
		strings.Count(msg, "failed to dial") > 0 || !strings.Contains(msg, gone.Addrs[0].String()) {
		t.Fatalf("error = %q", msg)
	}
	// Asked again at once, the user gets the cause again, not libp2p's
	// "dial backoff" from the first failure.
	if err := a.Connect(ctx, gone); err == nil || strings.Contains(err.Error(), "backoff") {
		t.Fatalf("second connect: %v", err)
	}
}
