package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/trove-p2p/trove/block"
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
	// Smaller spans adapt faster and end a list more evenly across
	// peers (the last span is fetched by one peer while the others may
	// idle); larger ones cost fewer requests. Zero: 1 MiB.
	SpanBytes int64
	// LaneBytes is the bytes in flight (measured rate times round trip)
	// past which a transfer opens another stream to the same peer, as
	// one stream moves about half its muxer window per round trip (see
	// lane.go). Zero: 3 MiB, for trove's 8 MiB yamux windows.
	LaneBytes int64
	// Window is the flow-control credit per peer: how many block bytes
	// a peer may have on the wire towards us. Zero: 16 MiB, which keeps a
	// loopback transfer at full speed and bounds what a fetch holds per
	// peer; a far peer is limited to about Window/RTT. Each session
	// reserves its window through its stream's resource scope and takes
	// a smaller one (down to MinWindow) when the resource manager
	// refuses the whole (window.go).
	Window int64
	// SessionIdle closes a session to a peer (its stream, and the window
	// memory reserved through the stream's scope) once no request has
	// been open on it this long; the next request opens a new one. Zero:
	// 30s.
	SessionIdle time.Duration
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
	// Logger receives transfer errors and bans. Nil discards them, as
	// everywhere in trove: a library does not write to the process's
	// default logger unasked.
	Logger *slog.Logger
	// Registerer, if set, receives the Fetcher's metrics.
	Registerer prometheus.Registerer
}

// withDefaults returns o with every zero field set to its documented
// default, the way all options types here and in unixfs apply defaults.
func (o FetchOptions) withDefaults() FetchOptions {
	if o.MaxProviders <= 0 {
		o.MaxProviders = 16
	}
	if o.SpanBytes <= 0 {
		o.SpanBytes = 1 << 20
	}
	if o.LaneBytes <= 0 {
		o.LaneBytes = 3 << 20
	}
	if o.Window <= 0 {
		o.Window = 16 << 20
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = 30 * time.Second
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
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
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
	// OnDemand marks a reader's transfer (Fetcher.OnDemand): it fetches
	// only what is read, so it is no download to show or wait for.
	OnDemand bool
	Done     bool
	Err      error
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
	banWhy   map[peer.ID]string // the reason of each ban in bans
	live     map[*transfer]struct{}
}

// NewFetcher returns a Fetcher that stores into store.
func NewFetcher(h host.Host, store Store, opts FetchOptions) *Fetcher {
	opts = opts.withDefaults()
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
		banWhy:   make(map[peer.ID]string),
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

// Ban is one peer's ban: when it ends and why it began.
type Ban struct {
	Until  time.Time
	Reason string // the error that caused it, as logged
}

// BanOf reports p's ban, if p is banned now.
func (f *Fetcher) BanOf(p peer.ID) (Ban, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	until := f.bans[p]
	if !time.Now().Before(until) {
		return Ban{}, false
	}
	return Ban{Until: until, Reason: f.banWhy[p]}, true
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
	// Several runs on one session can each catch the same peer's bad
	// blocks at once: one ban, counted and logged once.
	already := time.Now().Before(f.bans[p])
	f.bans[p] = time.Now().Add(f.opts.BanDuration)
	f.banWhy[p] = why.Error()
	s := f.sessions[p]
	delete(f.sessions, p)
	f.mu.Unlock()
	if !already {
		f.banned.Inc()
		f.log.Warn("transfer: banning peer", "peer", p, "for", f.opts.BanDuration, "reason", why)
	}
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
	st, err := openStream(ctx, f.h, ai)
	if err != nil {
		return nil, err
	}
	window, err := reserveWindow(st.Scope(), f.opts.Window)
	if err != nil {
		st.Reset()
		return nil, err
	}
	s := newSession(st, window, window, f.down, &f.pool, f.ban)
	s.setIdle(f.opts.SessionIdle)
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
	sent := time.Now()
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
				// The server answers a have at once: the time it took
				// is the round trip, which lanes need (lane.go).
				s.noteRTT(time.Since(sent))
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
	return f.FetchWant(ctx, Want{Root: root, Hints: hints})
}

// Want names what one transfer fetches, where it may look for providers and
// where it stores what arrives. Everything a caller decides per transfer
// travels here, never in the context. The zero value of each field but
// Root means the Fetcher's default.
type Want struct {
	Root cid.Cid
	// Hints are providers to ask first (a ticket's, --peer flags).
	Hints []peer.AddrInfo
	// NoDHT keeps the transfer to Hints and already connected peers: a
	// ticket names its providers, and asking the DHT would leak what the
	// user fetches to strangers.
	NoDHT bool
	// Store receives this transfer's blocks instead of the Fetcher's
	// store, e.g. a blockstore session that keeps them through a gc.
	// Reads (resume, inner nodes) go through it too.
	Store Store
}

// FetchWant is Fetch with per-transfer choices.
func (f *Fetcher) FetchWant(ctx context.Context, w Want) error {
	t := f.start(ctx, w, false)
	defer t.stop()
	return t.finish(t.fetchDAG())
}
