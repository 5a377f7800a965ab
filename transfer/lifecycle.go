package transfer

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trove-p2p/trove/block"
	"golang.org/x/sync/errgroup"
)

func (f *Fetcher) start(ctx context.Context, w Want, onDemand bool) *transfer {
	ctx, cancel := context.WithCancel(ctx)
	store := w.Store
	if store == nil {
		store = f.store
	}
	root, hints := w.Root, w.Hints
	t := &transfer{
		f: f, root: root, ctx: ctx, cancel: cancel, store: store, noDHT: w.NoDHT, onDemand: onDemand,
		newPeer:   make(chan *tpeer, 64),
		urgent:    make(chan cid.Cid, 16),
		started:   time.Now(),
		peerReady: make(chan struct{}),
		known:     make(map[peer.ID]bool),
	}
	if !onDemand {
		// A stored root means a resumed transfer, whose inner nodes are
		// likely here already: the walk asks only for what is missing.
		if ok, err := store.Has(ctx, root); err == nil && !ok {
			t.inner = innerIdle
		}
	}
	f.mu.Lock()
	f.live[t] = struct{}{}
	f.mu.Unlock()
	t.discoverDone = make(chan struct{})
	go t.discover(hints)
	t.meterStop, t.meterDone = make(chan struct{}), make(chan struct{})
	go t.meter()
	return t
}

// meter keeps the transfer's recent rate and reports progress until the
// transfer ends.
func (t *transfer) meter() {
	defer close(t.meterDone)
	tick := time.NewTicker(t.f.opts.ProgressInterval)
	defer tick.Stop()
	last, lastAt := int64(0), time.Now()
	for {
		select {
		case <-t.meterStop:
			return
		case now := <-tick.C:
			b := t.bytes.Load()
			r := float64(b-last) / now.Sub(lastAt).Seconds()
			if old := math.Float64frombits(t.rate.Load()); old > 0 {
				r = 0.7*old + 0.3*r
			}
			t.rate.Store(math.Float64bits(r))
			last, lastAt = b, now
			if cb := t.f.opts.OnProgress; cb != nil {
				cb(t.snapshot())
			}
		}
	}
}

// transfer is one Fetch (or one BlockGetter's background fetch).
type transfer struct {
	f      *Fetcher
	root   cid.Cid
	ctx    context.Context
	cancel context.CancelFunc
	store  Store // where this transfer's blocks go (Want.Store)
	noDHT  bool
	// onDemand: started by OnDemand, fetching only what is read.
	onDemand bool

	newPeer      chan *tpeer
	reconnecting atomic.Int32 // reconnect goroutines that may still offer a peer
	urgent       chan cid.Cid
	discoverDone chan struct{}
	started      time.Time

	bytes atomic.Int64 // received from peers
	have  atomic.Int64 // present locally
	total atomic.Int64
	rate  atomic.Uint64 // float64 bits
	npeer atomic.Int32

	meterStop, meterDone chan struct{}

	lastErr error // the latest failed run's error; coordinator only

	// waiters are readers (BlockGetter.Get) waiting for the background
	// fetch to store a block, by multihash; storing it closes the channel.
	wmu     sync.Mutex
	waiters map[string]chan struct{}
	// cur is the list the coordinator is fetching, for readers to tell
	// whether the background fetch is about to bring a block.
	cur atomic.Pointer[list]

	mu        sync.Mutex
	known     map[peer.ID]bool
	sessions  []*session           // providers confirmed so far, for on-demand gets
	peerReady chan struct{}        // closed and replaced when sessions or inner change
	lanes     map[peer.ID]*laneSet // extra streams opened per peer (lane.go)
	inner     innerState
	innerEnd  chan struct{} // closed when the running prefetch stops
	// innerLast is when the prefetch last made progress, or when the
	// first provider was confirmed if it has brought nothing yet.
	innerLast time.Time
	err       error
	done      bool
}

// awaitBlock returns a channel closed when this transfer stores c. Register
// before looking in the store, or a block stored in between is missed.
func (t *transfer) awaitBlock(c cid.Cid) <-chan struct{} {
	k := string(c.Hash())
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.waiters == nil {
		t.waiters = make(map[string]chan struct{})
	}
	ch := t.waiters[k]
	if ch == nil {
		ch = make(chan struct{})
		t.waiters[k] = ch
	}
	return ch
}

// blockStored wakes the readers waiting for c.
func (t *transfer) blockStored(c cid.Cid) {
	k := string(c.Hash())
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if ch := t.waiters[k]; ch != nil {
		close(ch)
		delete(t.waiters, k)
	}
}

func (t *transfer) stop() {
	t.cancel()
	t.closeLanes()
	t.f.mu.Lock()
	delete(t.f.live, t)
	t.f.mu.Unlock()
}

func (t *transfer) finish(err error) error {
	// Stop the meter first so the final report is the last call.
	close(t.meterStop)
	<-t.meterDone
	t.mu.Lock()
	t.done, t.err = true, err
	t.mu.Unlock()
	if cb := t.f.opts.OnProgress; cb != nil {
		cb(t.snapshot())
	}
	return err
}

func (t *transfer) snapshot() Progress {
	t.mu.Lock()
	done, err := t.done, t.err
	t.mu.Unlock()
	p := Progress{
		Root: t.root, Bytes: t.bytes.Load(), Have: t.have.Load(), Total: t.total.Load(),
		Peers: int(t.npeer.Load()), OnDemand: t.onDemand, Done: done, Err: err,
	}
	p.Rate = math.Float64frombits(t.rate.Load())
	if p.Rate > 0 && p.Total > p.Have {
		// A rate that has decayed towards zero (a stalled peer) would
		// overflow Duration; past a day the estimate means nothing, so
		// report it as unknown.
		if eta := float64(p.Total-p.Have) / p.Rate; eta < maxETA.Seconds() {
			p.ETA = time.Duration(eta * float64(time.Second))
		}
	}
	return p
}

// discover feeds confirmed providers to newPeer: connected peers first
// (they cost no dial), then hints, then the Finder as results arrive.
func (t *transfer) discover(hints []peer.AddrInfo) {
	defer close(t.discoverDone)
	var g errgroup.Group
	g.SetLimit(8)
	try := func(ai peer.AddrInfo) {
		// Only confirmed providers count against MaxProviders: a node
		// connected to a hundred DHT peers must still reach its hints.
		t.mu.Lock()
		if t.known[ai.ID] || len(t.sessions) >= t.f.opts.MaxProviders || ai.ID == t.f.h.ID() {
			t.mu.Unlock()
			return
		}
		t.known[ai.ID] = true
		t.mu.Unlock()
		g.Go(func() error {
			ctx, cancel := context.WithTimeout(t.ctx, t.f.opts.RequestTimeout)
			defer cancel()
			s, err := t.f.session(ctx, ai)
			if err != nil {
				t.f.log.Debug("transfer: provider unreachable", "peer", ai.ID, "err", err)
				return nil
			}
			if t.takeInner() {
				// The first candidate also brings the inner nodes, in
				// one request sent with its provider check (see
				// fetchInner); the others are not needed before the
				// leaves.
				done := t.startInner(s)
				defer func() { <-done }()
			}
			ok, err := has(ctx, s, t.root)
			if err != nil || !ok {
				t.f.log.Debug("transfer: not a provider", "peer", ai.ID, "has", ok, "err", err)
				return nil
			}
			t.mu.Lock()
			if len(t.sessions) >= t.f.opts.MaxProviders {
				t.mu.Unlock()
				return nil
			}
			t.sessions = append(t.sessions, s)
			if t.innerLast.IsZero() {
				t.innerLast = time.Now() // see awaitInner
			}
			close(t.peerReady)
			t.peerReady = make(chan struct{})
			t.mu.Unlock()
			select {
			case t.newPeer <- &tpeer{s: s}:
			case <-t.ctx.Done():
			}
			return nil
		})
	}
	for _, p := range t.f.h.Network().Peers() {
		try(peer.AddrInfo{ID: p})
	}
	for _, ai := range hints {
		try(ai)
	}
	if t.f.opts.Finder != nil && !t.noDHT {
		for ai := range t.f.opts.Finder.FindProviders(t.ctx, t.root, t.f.opts.MaxProviders) {
			try(ai)
		}
	}
	g.Wait()
}

// blockRef is a block to fetch and the size its parent promised (a hint
// for scheduling; 0 if unknown).
type blockRef struct {
	c    cid.Cid
	size int64
}

// defaultBlockSize is assumed when a parent gives no size.
const defaultBlockSize = 256 << 10

// fetchDAG fetches the DAG level by level: every inner node of a level is
// stored (and so verified) before the next level's CIDs are trusted, and
// the leaves, usually the whole last level, are spread over all peers.
func (t *transfer) fetchDAG() error {
	if err := t.awaitInner(); err != nil {
		return err
	}
	level := []blockRef{{c: t.root}}
	for depth := 0; len(level) > 0; depth++ {
		if depth > maxDepth {
			return fmt.Errorf("transfer: DAG deeper than %d", maxDepth)
		}
		if err := t.fetchList(level); err != nil {
			return err
		}
		var next []blockRef
		for _, b := range level {
			if b.c.Type() != block.CodecDagPB {
				continue
			}
			data, err := t.store.Get(t.ctx, b.c)
			if err != nil {
				return err
			}
			n, err := decodeNode(data)
			if err != nil {
				return fmt.Errorf("%s: %w", b.c, err)
			}
			if depth == 0 {
				t.total.Store(int64(n.FileSize))
			}
			for i, l := range n.Links {
				var size int64
				switch {
				case l.Type() != block.CodecRaw:
				case len(n.BlockSizes) == len(n.Links):
					size = int64(n.BlockSizes[i])
				case n.Tsizes[i] > 0 && n.Tsizes[i] <= block.MaxSize:
					// A directory gives no blocksizes, but a raw
					// leaf's Tsize is its length: without it every
					// small file would count as 256 KiB, and a
					// pipeline of a few MiB would hold a few files.
					size = int64(n.Tsizes[i])
				}
				next = append(next, blockRef{c: l, size: size})
			}
		}
		level = next
	}
	return nil
}
