package transfer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// innerState is where a whole-DAG transfer stands with its inner-node
// prefetch (fetchInner). Guarded by transfer.mu.
type innerState int

const (
	innerOff     innerState = iota // not wanted: on demand, or the root is stored already
	innerIdle                      // wanted, and no candidate provider is running it
	innerRunning                   // a candidate is running it; innerEnd closes when it stops
	innerDone                      // it brought the root (and maybe everything inner)
)

// takeInner makes the caller the one candidate that runs the prefetch,
// if it is wanted and nobody runs it or has run it successfully.
func (t *transfer) takeInner() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inner != innerIdle {
		return false
	}
	t.inner = innerRunning
	t.innerEnd = make(chan struct{})
	return true
}

// endInner records how the prefetch went: done if the root arrived, so
// that nobody repeats it; idle otherwise, so that the next candidate may
// try (the peer was no provider). It wakes whoever waits on the state.
func (t *transfer) endInner(gotRoot bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if gotRoot {
		t.inner = innerDone
	} else {
		t.inner = innerIdle
	}
	close(t.innerEnd)
	close(t.peerReady)
	t.peerReady = make(chan struct{})
}

// errRepeated ends a prefetch at the first node it has already had.
var errRepeated = errors.New("transfer: repeated subtree; the level walk fetches the rest")

// innerGrace is how long the walk waits for a prefetch that has gone
// quiet while a provider is known: a peer that ignores the DAG request
// (or stalls it) costs this, not the request timeout.
const innerGrace = time.Second

// awaitInner holds the level-by-level walk while the prefetch brings the
// inner nodes: starting the walk alongside would ask for the same nodes
// twice, one level per round trip. It returns at once when no prefetch
// is wanted; otherwise when the prefetch stops, when a provider is known
// and the prefetch has made no progress for innerGrace, or when discovery
// has ended. The walk then fetches whatever is still missing.
func (t *transfer) awaitInner() error {
	for {
		t.mu.Lock()
		var wait bool
		var until time.Time
		switch {
		case t.inner == innerRunning && !t.innerLast.IsZero():
			until = t.innerLast.Add(innerGrace)
			wait = time.Now().Before(until)
		case t.inner == innerRunning:
			wait = true // nobody else to fetch from yet
		case t.inner == innerIdle:
			wait = len(t.sessions) == 0
		}
		ready := t.peerReady
		t.mu.Unlock()
		if !wait {
			return nil
		}
		quiet := time.NewTimer(time.Until(until))
		if until.IsZero() {
			quiet.Stop() // nothing to time out
		}
		select {
		case <-ready:
		case <-quiet.C:
		case <-t.discoverDone:
		case <-t.ctx.Done():
		}
		quiet.Stop()
		if t.ctx.Err() != nil {
			return t.ctx.Err()
		}
		select {
		case <-t.discoverDone:
			return nil
		default:
		}
	}
}

// innerComing returns a channel that closes when the running prefetch
// stops, if c is a node it may bring; nil otherwise.
func (t *transfer) innerComing(c cid.Cid) <-chan struct{} {
	if c.Type() != block.CodecDagPB {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inner != innerRunning {
		return nil
	}
	return t.innerEnd
}

// startInner asks s, in one DAG request, for every inner node under the
// root (FlagInnerOnly), and stores them as they arrive in a goroutine of
// its own: the structure of a file or tree in one round trip, where the
// level-by-level walk spends one per level. The request goes out with
// s's provider check, so it costs no round trip of its own. The session
// checks every block (the root against the root, the rest against links
// of nodes already checked). Whatever the prefetch does not bring,
// because it failed or the peer lacks part of the DAG, the walk fetches
// from every provider. The returned channel closes when it has stopped.
func (t *transfer) startInner(s *session) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		gotRoot, err := t.fetchInner(s)
		t.endInner(gotRoot)
		if err != nil {
			t.f.log.Debug("transfer: inner nodes not prefetched", "peer", s.p, "root", gotRoot, "err", err)
		}
	}()
	return done
}

func (t *transfer) fetchInner(s *session) (gotRoot bool, err error) {
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	call, err := s.request(Message{Type: MsgDAG, CID: t.root, Flags: FlagInnerOnly}, []cid.Cid{t.root})
	if err != nil {
		return false, err
	}
	defer s.cancel(call)
	timeout := t.f.opts.RequestTimeout
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	seen := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return gotRoot, ctx.Err()
		case <-timer.C:
			return gotRoot, fmt.Errorf("transfer: peer %s: no progress for %v", s.p, timeout)
		case m, open := <-call.ch:
			if !open {
				if err := s.Err(); err != nil {
					return gotRoot, err
				}
				return gotRoot, errors.New("transfer: DAG request ended without status")
			}
			timer.Reset(timeout)
			switch m.Type {
			case MsgBlock:
				n := len(m.Data)
				if k := string(m.CID.Hash()); seen[k] {
					// A repeated subtree: the depth-first walk sends
					// it once per link, which a hostile DAG can make
					// exponential. The level walk fetches each node
					// once; leave the rest to it.
					s.consumed(n)
					s.release(&m)
					return gotRoot, errRepeated
				} else {
					seen[k] = true
				}
				err := t.store.Put(ctx, m.CID, m.Data)
				s.consumed(n)
				s.release(&m) // the store copied it (see Store)
				if err != nil {
					return gotRoot, err
				}
				gotRoot = true
				t.bytes.Add(int64(n))
				t.f.received.Add(float64(n))
				t.blockStored(m.CID)
				t.mu.Lock()
				t.innerLast = time.Now()
				t.mu.Unlock()
			case MsgMissing:
				return gotRoot, fmt.Errorf("peer %s: %s: %w", s.p, m.CID, statusErr(StatusNotFound))
			case MsgDone:
				if err := statusErr(m.Status); err != nil {
					return gotRoot, fmt.Errorf("peer %s: %w", s.p, err)
				}
				return gotRoot, nil
			}
		}
	}
}
