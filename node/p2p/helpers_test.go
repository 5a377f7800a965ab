package p2p

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/trove-p2p/trove/block"
)

func newKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testOptions is a loopback node with every switch that reaches outside the
// process (mDNS, NAT, AutoNAT, relays) off and the DHT forced to server mode,
// since without AutoNAT nothing would ever promote it.
func testOptions(t testing.TB) Options {
	return Options{
		Identity:          newKey(t),
		ListenAddrs:       []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		DHTMode:           DHTServer,
		ReprovideInterval: -1,
	}
}

func startNode(t testing.TB, o Options) *Node {
	t.Helper()
	n, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func randomCID(t testing.TB) cid.Cid {
	t.Helper()
	data := make([]byte, 64)
	rand.Read(data)
	c, err := block.Sum(1, block.CodecRaw, block.HashSHA256, data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// firstProvider waits for the first provider FindProviders reports.
func firstProvider(ctx context.Context, n *Node, c cid.Cid) (peer.AddrInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for p := range n.FindProviders(ctx, c, 1) {
		return p, nil
	}
	return peer.AddrInfo{}, fmt.Errorf("no provider for %s: %w", c, context.Cause(ctx))
}

// holdsRecord reports whether n's own provider store already has a record
// for c, in which case a lookup from n would not exercise the network.
func holdsRecord(t testing.TB, n *Node, c cid.Cid) bool {
	t.Helper()
	ps, err := n.dht.ProviderStore().GetProviders(context.Background(), c.Hash())
	if err != nil {
		t.Fatal(err)
	}
	return len(ps) > 0
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
