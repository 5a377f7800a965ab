package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/trove-p2p/trove/block"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Store is where fetched blocks go and where resume looks first. Put must
// not keep data once it returns (blockstore and memstore copy it): the
// Fetcher reuses its receive buffers.
type Store interface {
	block.Getter
	block.Putter
	block.Haser
}

// ProviderFinder finds peers that claim to have c, sending them as they
// are found and closing the channel when done or when ctx ends. The DHT
// implements it.
type ProviderFinder interface {
	FindProviders(ctx context.Context, c cid.Cid, max int) <-chan peer.AddrInfo
}

// ErrNoProviders means every candidate peer was tried and none could
// deliver the remaining blocks.
var ErrNoProviders = errors.New("no providers left")

// MissingError is how a transfer reports running out of providers, for
// a whole DAG (Fetch) or for the one block a reader asked for
// (BlockGetter.Get). It matches block.ErrNotFound and ErrNoProviders and
// nothing else: the last provider's error (a timeout, say) is in the
// message only, or the API would report a missing block as a deadline.
type MissingError struct {
	Root cid.Cid // the DAG's root, or the block asked for
	// Missing counts the blocks of the level being fetched that were still
	// missing; 0 when not counted.
	Missing int64
	// Last is why the last provider to fail failed (a timeout, a reset
	// stream, ...), or nil if none ever started; it says more than "no
	// providers" when every peer was tried and lost.
	Last error
}

func (e *MissingError) Error() string {
	var why []string
	switch {
	case e.Missing == 1:
		why = append(why, "1 block still missing")
	case e.Missing > 1:
		why = append(why, fmt.Sprintf("%d blocks still missing", e.Missing))
	}
	// A peer's plain "not found" is what the message says anyway.
	if e.Last != nil && !errors.Is(e.Last, block.ErrNotFound) {
		why = append(why, fmt.Sprintf("last failure: %v", e.Last))
	}
	msg := fmt.Sprintf("fetch %s: no peer could deliver it", e.Root)
	if len(why) > 0 {
		msg += " (" + strings.Join(why, "; ") + ")"
	}
	return msg + ": " + block.ErrNotFound.Error()
}

func (e *MissingError) Is(target error) bool {
	return target == block.ErrNotFound || target == ErrNoProviders
}

// FetchOptions tunes a Fetcher. The zero value works, with the defaults
// noted on each field.
type FetchOptions struct {
	// Finder is asked for providers besides connected peers and hints.
	// Nil means none.
	Finder ProviderFinder
	// MaxProviders caps how many peers one transfer uses. Zero: 16.
	MaxProviders int
	// SpanBytes is the target size of a span, the unit of assignment.
	// Smaller spans adapt faster; larger ones cost fewer requests.
	// Zero: 4 MiB.
	SpanBytes int64
	// Window is the flow-control credit per peer: how many block bytes
	// a peer may have on the wire towards us. Zero: 16 MiB, which keeps a
	// loopback transfer at full speed and bounds what a fetch holds per
	// peer; a far peer is limited to about Window/RTT.
	Window int64
	// RequestTimeout fails a request that made no progress for this
	// long. Zero: 15s.
	RequestTimeout time.Duration
	// Backoff is the pause before a peer that failed a request is used
	// again; it doubles per failure. Zero: 250ms.
	Backoff time.Duration
	// MaxFailures drops a peer from a transfer after this many failed
	// requests. Zero: 3.
	MaxFailures int
	// BanDuration is how long a misbehaving peer is refused. Zero: 10m.
	BanDuration time.Duration
	// DownloadRate caps received block bytes/s across all transfers.
	// Zero means unlimited.
	DownloadRate float64
	// Sched tunes the scheduler.
	Sched SchedConfig
	// OnProgress, if set, is called every ProgressInterval and once at
	// the end (with Done set), from one goroutine per transfer; it must
	// not block.
	OnProgress func(Progress)
	// ProgressInterval defaults to 250ms.
	ProgressInterval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer, if set, receives the Fetcher's metrics.
	Registerer prometheus.Registerer
}

func (o *FetchOptions) fill() {
	if o.MaxProviders <= 0 {
		o.MaxProviders = 16
	}
	if o.SpanBytes <= 0 {
		o.SpanBytes = 4 << 20
	}
	if o.Window <= 0 {
		o.Window = 16 << 20
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 15 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = 250 * time.Millisecond
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 3
	}
	if o.BanDuration <= 0 {
		o.BanDuration = 10 * time.Minute
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Progress is a snapshot of one transfer.
type Progress struct {
	Root  cid.Cid
	Bytes int64 // block bytes received from peers so far
	// Total is the file size from the root's UnixFS metadata, 0 if unknown.
	Total int64
	// Have is the bytes of the DAG present locally (fetched or resumed).
	Have  int64
	Rate  float64       // recent receive rate, bytes/s
	ETA   time.Duration // 0 if unknown
	Peers int           // providers in use
	Done  bool
	Err   error
}

// maxETA bounds the estimates Progress reports; longer ones read as 0.
const maxETA = 24 * time.Hour

// Fetcher downloads DAGs from many peers at once into a Store.
type Fetcher struct {
	h     host.Host
	store Store
	opts  FetchOptions
	log   *slog.Logger
	down  *rate.Limiter
	pool  framePool

	banned   prometheus.Counter
	received prometheus.Counter

	mu       sync.Mutex
	sessions map[peer.ID]*session
	bans     map[peer.ID]time.Time
	live     map[*transfer]struct{}
}

// NewFetcher returns a Fetcher that stores into store.
func NewFetcher(h host.Host, store Store, opts FetchOptions) *Fetcher {
	opts.fill()
	f := &Fetcher{
		h: h, store: store, opts: opts, log: opts.Logger,
		down: rate.NewLimiter(limitOf(opts.DownloadRate), burstOf(opts.DownloadRate)),
		banned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trove_transfer_peers_banned_total",
			Help: "Peers banned for sending corrupt or unrequested blocks or malformed messages.",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trove_transfer_received_bytes_total",
			Help: "Verified block bytes received from peers.",
		}),
		sessions: make(map[peer.ID]*session),
		bans:     make(map[peer.ID]time.Time),
		live:     make(map[*transfer]struct{}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(f.banned, f.received)
	}
	return f
}

// SetDownloadLimit changes the download cap (bytes/s, zero = unlimited).
func (f *Fetcher) SetDownloadLimit(bps float64) { setLimit(f.down, bps) }

// Banned reports whether p is currently banned.
func (f *Fetcher) Banned(p peer.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Now().Before(f.bans[p])
}

// Bans lists the peers banned now, with when each ban ends.
func (f *Fetcher) Bans() map[peer.ID]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	out := make(map[peer.ID]time.Time)
	for p, until := range f.bans {
		if now.Before(until) {
			out[p] = until
		}
	}
	return out
}

// Stats snapshots the transfers in progress.
func (f *Fetcher) Stats() []Progress {
	f.mu.Lock()
	ts := make([]*transfer, 0, len(f.live))
	for t := range f.live {
		ts = append(ts, t)
	}
	f.mu.Unlock()
	out := make([]Progress, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.snapshot())
	}
	return out
}

// Close ends every session.
func (f *Fetcher) Close() error {
	f.mu.Lock()
	ss := f.sessions
	f.sessions = map[peer.ID]*session{}
	f.mu.Unlock()
	for _, s := range ss {
		s.fail(errors.New("fetcher closed"))
	}
	return nil
}

func (f *Fetcher) ban(p peer.ID, why error) {
	f.mu.Lock()
	f.bans[p] = time.Now().Add(f.opts.BanDuration)
	s := f.sessions[p]
	delete(f.sessions, p)
	f.mu.Unlock()
	f.banned.Inc()
	f.log.Warn("transfer: banning peer", "peer", p, "for", f.opts.BanDuration, "reason", why)
	if s != nil {
		s.fail(why)
	}
}

// session returns the live session to ai.ID, dialing if needed.
func (f *Fetcher) session(ctx context.Context, ai peer.AddrInfo) (*session, error) {
	if ai.ID == f.h.ID() {
		return nil, errors.New("transfer: refusing to fetch from self")
	}
	f.mu.Lock()
	if time.Now().Before(f.bans[ai.ID]) {
		f.mu.Unlock()
		return nil, fmt.Errorf("%w: %s is banned", ErrMisbehaved, ai.ID)
	}
	if s := f.sessions[ai.ID]; s != nil && s.Err() == nil {
		f.mu.Unlock()
		return s, nil
	}
	f.mu.Unlock()
	if len(ai.Addrs) > 0 {
		f.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
	}
	if err := f.h.Connect(ctx, ai); err != nil {
		return nil, err
	}
	st, err := f.h.NewStream(ctx, ai.ID, ProtocolID)
	if err != nil {
		return nil, err
	}
	s := newSession(st, f.opts.Window, f.down, &f.pool, f.ban)
	f.mu.Lock()
	defer f.mu.Unlock()
	if old := f.sessions[ai.ID]; old != nil && old.Err() == nil {
		go s.fail(errors.New("duplicate session"))
		return old, nil
	}
	f.sessions[ai.ID] = s
	return s, nil
}

// has asks s whether it has c.
func has(ctx context.Context, s *session, c cid.Cid) (bool, error) {
	call, err := s.request(Message{Type: MsgHave, CIDs: []cid.Cid{c}}, nil)
	if err != nil {
		return false, err
	}
	defer s.cancel(call)
	var ok bool
	for {
		select {
		case m, open := <-call.ch:
			if !open {
				if e := s.Err(); e != nil {
					return false, e
				}
				return ok, nil
			}
			switch m.Type {
			case MsgHaveResp:
				ok = len(m.Bits) > 0 && m.Bits[0]&1 != 0
			case MsgDone:
				if err := statusErr(m.Status); err != nil {
					return false, err
				}
			}
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// Fetch downloads the DAG under root into the store, using hints,
// connected peers and the Finder as providers. Blocks already stored are
// not fetched again, so calling Fetch after an interruption resumes.
func (f *Fetcher) Fetch(ctx context.Context, root cid.Cid, hints ...peer.AddrInfo) error {
	t := f.start(ctx, root, hints)
	defer t.stop()
	return t.finish(t.fetchDAG())
}

func (f *Fetcher) start(ctx context.Context, root cid.Cid, hints []peer.AddrInfo) *transfer {
	ctx, cancel := context.WithCancel(ctx)
	t := &transfer{
		f: f, root: root, ctx: ctx, cancel: cancel,
		newPeer:   make(chan *tpeer, 64),
		urgent:    make(chan cid.Cid, 16),
		started:   time.Now(),
		peerReady: make(chan struct{}),
		known:     make(map[peer.ID]bool),
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

	mu        sync.Mutex
	known     map[peer.ID]bool
	sessions  []*session // providers confirmed so far, for on-demand gets
	peerReady chan struct{}
	err       error
	done      bool
}

func (t *transfer) stop() {
	t.cancel()
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
		Peers: int(t.npeer.Load()), Done: done, Err: err,
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
	if t.f.opts.Finder != nil {
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
			data, err := t.f.store.Get(t.ctx, b.c)
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
				if len(n.BlockSizes) == len(n.Links) && l.Type() == block.CodecRaw {
					size = int64(n.BlockSizes[i])
				}
				next = append(next, blockRef{c: l, size: size})
			}
		}
		level = next
	}
	return nil
}
