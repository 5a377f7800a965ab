package transfer

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/internal/memstore"
)

// Abandoning wants must not leak flow-control credit: after many
// requests whose blocks were never read, a session with a window of a few
// blocks still gets new blocks.
func TestSessionCreditSurvivesAbandonedRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{})
	data := randomBytes(t, 1<<20)
	_, leaves := buildFile(t, data, 64<<10, 174, s.store)
	f := NewFetcher(newHost(t), memstore.New(), FetchOptions{Window: 256 << 10})
	sess, err := f.session(ctx, addrInfo(s.h))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		call, err := sess.request(Message{Type: MsgWant, CIDs: leaves}, leaves)
		if err != nil {
			t.Fatal(err)
		}
		// Read one block, then walk away from the rest.
		var m Message
		select {
		case m = <-call.ch:
		case <-time.After(2 * time.Second):
			t.Fatal("no block: the stream ran out of credit")
		}
		if m.Type != MsgBlock {
			t.Fatalf("got %+v", m)
		}
		sess.consumed(len(m.Data))
		// Let the window's worth of blocks land in the call's queue.
		time.Sleep(20 * time.Millisecond)
		sess.cancel(call)
	}
	tr := &transfer{f: f, store: f.store}
	ctx2, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	for _, c := range []cid.Cid{leaves[3], leaves[7]} {
		if _, err := tr.getOne(ctx2, sess, c); err != nil {
			t.Fatalf("after abandoned requests: %v", err)
		}
	}
}
