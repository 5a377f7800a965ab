package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trove-p2p/trove/block"
)

// BlockGetter is a block.Getter over a DAG that is still downloading: Get
// returns local blocks at once and fetches a missing one on demand, ahead
// of the background fetch, so a reader (cat, the gateway, FUSE) can start
// at the beginning while the rest arrives. It also marks the span holding
// the block urgent, so the background fetch moves the reader's next blocks
// to the front.
//
// The caller names each CID, having read it from a parent it got from this
// same Getter, so every block is still verified against a CID that a
// verified parent named.
type BlockGetter struct {
	t    *transfer
	done chan struct{}
	err  error
	once sync.Once
}

var _ block.Getter = (*BlockGetter)(nil)

// Getter starts fetching root in the background and returns a Getter for
// its blocks. Close (or cancelling ctx) stops the background fetch.
func (f *Fetcher) Getter(ctx context.Context, root cid.Cid, hints ...peer.AddrInfo) *BlockGetter {
	return f.GetterWant(ctx, Want{Root: root, Hints: hints})
}

// GetterWant is Getter with per-transfer choices.
func (f *Fetcher) GetterWant(ctx context.Context, w Want) *BlockGetter {
	g := &BlockGetter{t: f.start(ctx, w, false), done: make(chan struct{})}
	go func() {
		g.err = g.t.finish(g.t.fetchDAG())
		close(g.done)
	}()
	return g
}

// OnDemand returns a Getter that fetches only the blocks asked for, from
// the providers of w.Root, with no background download. Random access (an
// HTTP range, a FUSE read at an offset) must not pull a whole large file
// to read a few blocks of it; a reader that wants read-ahead asks for the
// next blocks itself (unixfs.File does). Providers are looked up once, for
// the root, and reused for every block. Close releases them.
func (f *Fetcher) OnDemand(ctx context.Context, w Want) *BlockGetter {
	g := &BlockGetter{t: f.start(ctx, w, true), done: make(chan struct{})}
	go func() {
		<-g.t.ctx.Done()
		g.err = g.t.finish(nil)
		close(g.done)
	}()
	return g
}

// Wait blocks until the background fetch ends and returns its error.
func (g *BlockGetter) Wait(ctx context.Context) error {
	select {
	case <-g.done:
		return g.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the background fetch.
func (g *BlockGetter) Close() error {
	g.once.Do(g.t.stop)
	return nil
}

// Get returns c's bytes, fetching it from the transfer's providers if it
// is not stored yet.
func (g *BlockGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	t := g.t
	data, err := t.store.Get(ctx, c)
	if err == nil || !errors.Is(err, block.ErrNotFound) {
		return data, err
	}
	if t.ctx.Err() != nil {
		// Closed: its store (a session) may have ended, so a block
		// fetched now would be written unprotected from gc.
		return nil, fmt.Errorf("%w: the transfer of %s was closed", block.NotFound(c), t.root)
	}
	select {
	case t.urgent <- c:
	default:
	}
	if !t.onDemand {
		if data, ok := g.await(ctx, c); ok {
			return data, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	var last error = block.NotFound(c)
	tried := map[*session]bool{}
	busy := map[*session]bool{} // said "too many requests" this round
	rounds := 0
	for {
		t.mu.Lock()
		var s *session
		for _, cand := range t.sessions {
			if !tried[cand] && !busy[cand] && cand.Err() == nil {
				s = cand
				break
			}
		}
		ready := t.peerReady
		t.mu.Unlock()
		if s == nil && len(busy) > 0 {
			if rounds >= maxBusyRetries {
				for b := range busy {
					tried[b] = true
				}
				clear(busy)
				continue
			}
			// Every peer left is at its request cap, mostly with the
			// background fetch's requests, which may well bring this
			// very block: wait a little, look in the store, ask again.
			rounds++
			select {
			case <-time.After(time.Duration(rounds) * 50 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if data, err := t.store.Get(ctx, c); err == nil {
				return data, nil
			}
			clear(busy)
			continue
		}
		if s == nil {
			select {
			case <-ready:
				continue
			case <-t.discoverDone:
				t.mu.Lock()
				more := false
				for _, cand := range t.sessions {
					more = more || (!tried[cand] && cand.Err() == nil)
				}
				t.mu.Unlock()
				if more {
					continue
				}
				return nil, &MissingError{Root: c, Last: last}
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		data, err := t.getOne(ctx, s, c)
		if err == nil {
			return data, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if se := new(storeError); errors.As(err, &se) {
			return nil, se.err
		}
		last = err
		if errors.Is(err, errTooMany) {
			busy[s] = true // ask the others first, and this one again later
			continue
		}
		tried[s] = true
	}
}

// Has reports whether the transfer's store holds c: the repo, or what
// the transfer's Want.Store keeps elsewhere (a get --nocopy's output).
func (g *BlockGetter) Has(ctx context.Context, c cid.Cid) (bool, error) {
	return g.t.store.Has(ctx, c)
}

// await waits while the background fetch brings c, if c is the root or in
// the list it is fetching, and returns it once stored. A whole-file reader reads in the order the background fetch
// fetches (and marks its block urgent), so the block is usually on its
// way: asking a peer for it as well would fetch it twice and spend the
// peers' request slots on duplicates (the gateway streamed a remote file
// at 0.69 of a plain download that way). It gives up, and Get asks on
// demand, when the background fetch has ended or received nothing for
// awaitStall.
func (g *BlockGetter) await(ctx context.Context, c cid.Cid) ([]byte, bool) {
	t := g.t
	inner := t.innerComing(c)
	if c != t.root && inner == nil {
		// Only a block of the list being fetched is on its way; one of
		// a level not listed yet is fetched on demand (the background
		// then finds it stored and skips it).
		l := t.cur.Load()
		if l == nil {
			return nil, false
		}
		i, ok := l.index[string(c.Hash())]
		if !ok || !l.follows(i, 2*t.f.opts.SpanBytes) {
			// A jump ahead: the block's span is likely queued behind
			// the whole front of the file. Get asks for it alone,
			// which a server answers at once.
			return nil, false
		}
	}
	stored := t.awaitBlock(c)
	if data, err := t.store.Get(ctx, c); err == nil {
		return data, true
	}
	last := t.bytes.Load()
	stall := time.NewTimer(awaitStall)
	defer stall.Stop()
	for {
		select {
		case <-stored:
			data, err := t.store.Get(ctx, c)
			return data, err == nil
		case <-g.done:
			return nil, false
		case <-inner:
			// The prefetch stopped; it stored c before, if at all.
			data, err := t.store.Get(ctx, c)
			return data, err == nil
		case <-ctx.Done():
			return nil, false
		case <-stall.C:
			now := t.bytes.Load()
			if now == last {
				return nil, false
			}
			last = now
			stall.Reset(awaitStall)
		}
	}
}

// awaitStall is how long a reader waits on a background fetch that
// receives nothing before asking peers for its block itself. A 1 MiB
// block from a 1 MB/s peer takes about this long.
const awaitStall = time.Second

// maxBusyRetries bounds the rounds in which Get waits for peers that said
// they have too many requests open (50 ms more each time: 2.75 s in all).
const maxBusyRetries = 10

// getOne fetches c from s, stores it and returns it.
func (t *transfer) getOne(ctx context.Context, s *session, c cid.Cid) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, t.f.opts.RequestTimeout)
	defer cancel()
	call, err := s.request(Message{Type: MsgWant, CIDs: []cid.Cid{c}}, []cid.Cid{c})
	if err != nil {
		return nil, err
	}
	defer s.cancel(call)
	// The background fetch may bring c first (a reader's request raced
	// the list that holds it, or the peer serves the run's request
	// sooner): take that copy, and cancel this request.
	stored := t.awaitBlock(c)
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-stored:
			if data, err := t.store.Get(ctx, c); err == nil {
				return data, nil
			}
			stored = nil // gone again (gc of a closed transfer): wait for the peer
		case m, ok := <-call.ch:
			if !ok {
				if err := s.Err(); err != nil {
					return nil, err
				}
				return nil, block.NotFound(c)
			}
			switch m.Type {
			case MsgMissing:
				return nil, block.NotFound(c)
			case MsgDone:
				if err := statusErr(m.Status); err != nil {
					return nil, err
				}
			case MsgBlock:
				s.consumed(len(m.Data))
				t.bytes.Add(int64(len(m.Data)))
				if err := t.store.Put(ctx, c, m.Data); err != nil {
					// Our disk's fault, not the peer's: asking the
					// next provider would fail the same way.
					return nil, &storeError{err}
				}
				t.blockStored(c)
				// The store may keep m.Data; the caller owns what Get returns.
				return bytes.Clone(m.Data), nil
			}
		}
	}
}
