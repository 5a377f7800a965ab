package node

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/node/p2p"
	"github.com/trove-p2p/trove/node/repo"
	"github.com/trove-p2p/trove/transfer"
)

// TransferOptions overrides the config's Transfer section for one daemon
// run, as the `trove daemon --max-*` flags do. Empty fields keep the
// config's value.
type TransferOptions struct {
	MaxUpload        string
	MaxUploadPerPeer string
	MaxDownload      string
}

// Limits are the live bandwidth caps in bytes/s; zero means unlimited.
type Limits struct {
	MaxUpload        float64 `json:"MaxUpload"`
	MaxUploadPerPeer float64 `json:"MaxUploadPerPeer"`
	MaxDownload      float64 `json:"MaxDownload"`
}

// DefaultKeepPartial is how long an abandoned download keeps its partial
// pin when the config says nothing: long enough to retry tomorrow, short
// enough that forgotten downloads do not hold disk space for ever.
const DefaultKeepPartial = 24 * time.Hour

// partialPinPrefix names the partial pins `get` makes. The start time
// follows it, so a restarted daemon knows when each one expires.
const partialPinPrefix = "trove get, partial since "

// dhtLookupTimeout bounds one provider lookup of a transfer; connected
// peers and hints are asked regardless, so a slow DHT only delays the
// discovery of further sources.
const dhtLookupTimeout = time.Minute

// ParseKeepPartial reads Transfer.KeepPartial: a duration, "true" (keep
// for ever, returned as a negative duration) or "false" (drop at once).
func ParseKeepPartial(s string) (time.Duration, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return DefaultKeepPartial, nil
	case "true":
		return -1, nil
	case "false", "0":
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: field \"Transfer.KeepPartial\": %q is not a duration, true or false", repo.ErrBadConfig, s)
	}
	return d, nil
}

// limitsFrom parses the config's rates, overridden by non-empty flags.
func limitsFrom(c repo.Transfer, o TransferOptions) (Limits, error) {
	var l Limits
	for _, f := range []struct {
		name      string
		cfg, flag string
		dst       *float64
	}{
		{"MaxUpload", c.MaxUpload, o.MaxUpload, &l.MaxUpload},
		{"MaxUploadPerPeer", c.MaxUploadPerPeer, o.MaxUploadPerPeer, &l.MaxUploadPerPeer},
		{"MaxDownload", c.MaxDownload, o.MaxDownload, &l.MaxDownload},
	} {
		s := f.cfg
		if f.flag != "" {
			s = f.flag
		}
		v, err := ParseRate(s)
		if err != nil {
			return l, fmt.Errorf("Transfer.%s: %w", f.name, err)
		}
		*f.dst = v
	}
	return l, nil
}

// transferState is the daemon's half of block exchange: the Server that
// answers peers, the Fetcher that downloads, and the bookkeeping of
// partial pins. It hangs off the Node so the read path can fetch.
type transferState struct {
	n       *Node
	net     *p2p.Node
	server  *transfer.Server
	fetcher *transfer.Fetcher
	keep    time.Duration
	log     *slog.Logger
	// reads serve blocks of running downloads to streaming gets.
	reads liveReads

	mu     sync.Mutex
	limits Limits
	subs   map[cid.Cid]map[chan transfer.Progress]struct{}
	active map[cid.Cid]int
	timers map[cid.Cid]*time.Timer
	closed bool
}

// startTransfer wires block exchange into the daemon: it must run after
// the p2p host exists and before the API serves.
func (d *Daemon) startTransfer(o TransferOptions) error {
	n := d.node
	cfg := n.repo.Config.Transfer
	lim, err := limitsFrom(cfg, o)
	if err != nil {
		return err
	}
	keep, err := ParseKeepPartial(cfg.KeepPartial)
	if err != nil {
		return err
	}
	x := &transferState{
		n: n, net: d.net, keep: keep, limits: lim,
		log:    d.log.With("component", "transfer"),
		subs:   make(map[cid.Cid]map[chan transfer.Progress]struct{}),
		active: make(map[cid.Cid]int),
		timers: make(map[cid.Cid]*time.Timer),
	}
	x.server = transfer.NewServer(d.net.Host(), n.store, transfer.ServerOptions{
		GlobalRate: lim.MaxUpload, PeerRate: lim.MaxUploadPerPeer, Logger: x.log,
	})
	x.fetcher = transfer.NewFetcher(d.net.Host(), n.store, transfer.FetchOptions{
		Finder:       dhtFinder{d.net},
		DownloadRate: lim.MaxDownload,
		OnProgress:   x.progress,
		Logger:       x.log,
		Registerer:   d.reg,
	})
	n.xfer = x
	if err := x.sweepPartial(d.ctx); err != nil {
		x.log.Warn("could not review partial downloads", "err", err)
	}
	return nil
}

// stopTransfer ends exchange before the host and store close.
func (d *Daemon) stopTransfer() {
	x := d.node.xfer
	if x == nil {
		return
	}
	x.mu.Lock()
	x.closed = true
	for _, t := range x.timers {
		t.Stop()
	}
	x.mu.Unlock()
	x.server.Close()
	x.fetcher.Close()
}

// SetLimits applies new bandwidth caps to the running daemon.
func (x *transferState) SetLimits(l Limits) {
	x.mu.Lock()
	x.limits = l
	x.mu.Unlock()
	x.server.SetLimits(l.MaxUpload, l.MaxUploadPerPeer)
	x.fetcher.SetDownloadLimit(l.MaxDownload)
}

func (x *transferState) Limits() Limits {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.limits
}

// progress fans the Fetcher's reports out to the gets waiting on that root.
// It must not block, so each listener holds only the newest report.
func (x *transferState) progress(p transfer.Progress) {
	if p.OnDemand {
		return // a reader's fetches, not a download anyone waits on
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for ch := range x.subs[p.Root] {
		select {
		case <-ch:
		default:
		}
		ch <- p
	}
}

func (x *transferState) subscribe(c cid.Cid) (chan transfer.Progress, func()) {
	ch := make(chan transfer.Progress, 1)
	x.mu.Lock()
	if x.subs[c] == nil {
		x.subs[c] = make(map[chan transfer.Progress]struct{})
	}
	x.subs[c][ch] = struct{}{}
	x.mu.Unlock()
	return ch, func() {
		x.mu.Lock()
		delete(x.subs[c], ch)
		if len(x.subs[c]) == 0 {
			delete(x.subs, c)
		}
		x.mu.Unlock()
	}
}

// begin marks c as downloading, so no expiry timer unpins it meanwhile.
func (x *transferState) begin(c cid.Cid) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.active[c]++
	if t := x.timers[c]; t != nil {
		t.Stop()
		delete(x.timers, c)
	}
}

func (x *transferState) end(c cid.Cid) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.active[c]--; x.active[c] <= 0 {
		delete(x.active, c)
	}
}

// abandon applies Transfer.KeepPartial to the partial pin of a download
// that did not finish.
func (x *transferState) abandon(c cid.Cid, after time.Duration) {
	if after < 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed || x.active[c] > 0 {
		return
	}
	if t := x.timers[c]; t != nil {
		t.Stop()
	}
	x.timers[c] = time.AfterFunc(after, func() { x.expire(c) })
}

// expire drops c's partial pin unless a download restarted or completed.
func (x *transferState) expire(c cid.Cid) {
	x.mu.Lock()
	delete(x.timers, c)
	skip := x.closed || x.active[c] > 0
	x.mu.Unlock()
	if skip {
		return
	}
	ctx := context.Background()
	if p, ok := x.pin(ctx, c); ok && p.Kind == blockstore.PinPartial {
		if err := x.n.store.Unpin(ctx, c); err != nil {
			x.log.Warn("could not drop partial pin", "cid", c.String(), "err", err)
			return
		}
		x.log.Info("dropped the partial pin of an abandoned download", "cid", c.String())
	}
}

func (x *transferState) pin(ctx context.Context, c cid.Cid) (blockstore.Pin, bool) {
	pins, err := x.n.store.Pins(ctx)
	if err != nil {
		return blockstore.Pin{}, false
	}
	for _, p := range pins {
		if p.Cid.Equals(c) {
			return p, true
		}
	}
	return blockstore.Pin{}, false
}

// sweepPartial re-arms the expiry of partial pins left by a previous run
// (a kill -9 mid-get), counting from when each download started.
func (x *transferState) sweepPartial(ctx context.Context) error {
	pins, err := x.n.store.Pins(ctx)
	if err != nil {
		return err
	}
	for _, p := range pins {
		if p.Kind != blockstore.PinPartial || !strings.HasPrefix(p.Name, partialPinPrefix) {
			continue
		}
		since, err := time.Parse(time.RFC3339, strings.TrimPrefix(p.Name, partialPinPrefix))
		if err != nil {
			continue
		}
		if x.keep >= 0 {
			x.abandon(p.Cid, max(0, x.keep-time.Since(since)))
		}
	}
	return nil
}

// sessionStore is a transfer's store: reads from the repo's store, writes
// through one blockstore Session, so a gc running mid-download keeps what
// arrived even before a pin reaches it.
type sessionStore struct {
	*blockstore.Store
	sess *blockstore.Session
}

func (s sessionStore) Put(ctx context.Context, c cid.Cid, data []byte) error {
	return s.sess.Put(ctx, c, data)
}

// PutAsync lets the Fetcher keep verifying while Badger writes; see
// blockstore.Session.PutAsync.
func (s sessionStore) PutAsync(ctx context.Context, c cid.Cid, data []byte, done func(error)) {
	s.sess.PutAsync(ctx, c, data, done)
}

// dhtFinder is the DHT as the Fetcher's provider source.
type dhtFinder struct{ net *p2p.Node }

func (f dhtFinder) FindProviders(ctx context.Context, c cid.Cid, max int) <-chan peer.AddrInfo {
	ctx, cancel := context.WithTimeout(ctx, dhtLookupTimeout)
	in := f.net.FindProviders(ctx, c, max)
	out := make(chan peer.AddrInfo)
	go func() {
		defer cancel()
		defer close(out)
		for ai := range in {
			select {
			case out <- ai:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// partialName labels a partial pin with when its download started.
func partialName(t time.Time) string {
	return partialPinPrefix + t.UTC().Format(time.RFC3339)
}
