package transfer

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/trove-p2p/trove/internal/memstore"
)

// TestLazySelect: the fetch stream selects its protocol lazily, without
// identify. A peer that does not speak it is no provider and costs no
// request timeout (the session fails at its first read), and a peer that
// does delivers the file through the same path.
func TestLazySelect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := randomBytes(t, 1<<20)
	s := newSeeder(t, ServerOptions{})
	root, leaves := buildFile(t, data, 256<<10, 174, s.store)
	mute := newHost(t) // no transfer handler

	only := NewFetcher(newHost(t), memstore.New(), FetchOptions{})
	start := time.Now()
	err := only.FetchWant(ctx, Want{Root: root, Hints: []peer.AddrInfo{addrInfo(mute)}, NoDHT: true})
	if err == nil {
		t.Fatal("fetched from a peer that does not speak the protocol")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("gave up after %v: the refusal was not noticed at once", el)
	}

	local := memstore.New()
	f := NewFetcher(newHost(t), local, FetchOptions{})
	if err := f.FetchWant(ctx, Want{Root: root, Hints: []peer.AddrInfo{addrInfo(mute), addrInfo(s.h)}, NoDHT: true}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, local, leaves, data)
}
