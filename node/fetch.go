package node

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/internal/crashpoint"
	"github.com/trove-p2p/trove/node/api"
	"github.com/trove-p2p/trove/node/repo"
	"github.com/trove-p2p/trove/transfer"
)

// FetchArgs ask the daemon to download a DAG into its repo.
type FetchArgs struct {
	// Path is "CID[/path]" or a "trove://" ticket, optionally followed
	// by "/path". A ticket's providers are the only ones asked: no DHT.
	Path string `json:"Path"`
	// Peers are multiaddrs ending in /p2p/<ID> to ask first.
	Peers []string `json:"Peers,omitempty"`
}

// FetchProgress is the event fetch streams about four times a second,
// and one entry of `trove stats` transfers.
type FetchProgress struct {
	Cid      string  `json:"Cid"`
	Received int64   `json:"Received"` // bytes received from peers so far
	Have     int64   `json:"Have"`     // bytes of the DAG present locally
	Total    int64   `json:"Total"`    // file size, 0 if unknown (directories)
	Rate     float64 `json:"Rate"`     // bytes/s, recent
	ETA      float64 `json:"ETA"`      // seconds, 0 if unknown
	Peers    int     `json:"Peers"`
	// Ready marks the one event, first of a fetch, that carries no
	// figures: the download runs, and epFetchBlock serves its blocks.
	Ready bool `json:"Ready,omitempty"`
	// Wrote, in FetchTo's events only, is the output bytes written so
	// far; such an event carries nothing else.
	Wrote int64 `json:"Wrote,omitempty"`
}

// FetchResult ends a fetch.
type FetchResult struct {
	Cid      string `json:"Cid"`
	Received int64  `json:"Received"`
	Have     int64  `json:"Have"`
	// Pin is the pin the DAG holds afterwards: "recursive" once complete.
	Pin     string  `json:"Pin"`
	Seconds float64 `json:"Seconds"`
}

// LimitsArgs change bandwidth caps at run time. Nil fields keep their
// value; Persist also writes them to the config file.
type LimitsArgs struct {
	MaxUpload        *string `json:"MaxUpload,omitempty"`
	MaxUploadPerPeer *string `json:"MaxUploadPerPeer,omitempty"`
	MaxDownload      *string `json:"MaxDownload,omitempty"`
	Persist          bool    `json:"Persist,omitempty"`
}

// TransferStats is `trove stats`' transfer section.
type TransferStats struct {
	Downloads []FetchProgress `json:"Downloads"`
	// Served is block bytes sent to each peer since the daemon started.
	Served map[string]int64 `json:"Served"`
	Limits Limits           `json:"Limits"`
	// Banned maps peers refused for sending bad blocks or breaking the
	// protocol to when their ban ends.
	Banned map[string]time.Time `json:"Banned"`
}

func progressOf(p transfer.Progress) FetchProgress {
	return FetchProgress{
		Cid: p.Root.String(), Received: p.Bytes, Have: p.Have, Total: p.Total,
		Rate: p.Rate, ETA: p.ETA.Seconds(), Peers: p.Peers,
	}
}

// parseTarget splits a fetch path into the CID path to resolve, the
// provider hints and whether the DHT may be asked.
func parseTarget(a FetchArgs) (path string, hints []peer.AddrInfo, noDHT bool, err error) {
	path = a.Path
	if strings.HasPrefix(path, transfer.TicketScheme) {
		tk, rest, _ := strings.Cut(strings.TrimPrefix(path, transfer.TicketScheme), "/")
		root, provs, err := transfer.DecodeTicket(transfer.TicketScheme + tk)
		if err != nil {
			return "", nil, false, fmt.Errorf("%w: %w", ErrBadCID, err)
		}
		path, hints, noDHT = root.String(), provs, true
		if rest != "" {
			path += "/" + rest
		}
	}
	for _, s := range a.Peers {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return "", nil, false, fmt.Errorf("%w: --peer %q is not a multiaddr ending in /p2p/<peer ID>: %v", api.ErrBadRequest, s, err)
		}
		hints = append(hints, *ai)
	}
	return path, hints, noDHT, nil
}

// Fetch downloads the DAG a path names into the repo, from every peer that
// has it at once, reporting progress to fn (which must not block long).
//
// The download runs in a store session under a partial pin, so gc keeps
// what arrived and a retry (after Ctrl-C, kill -9 or a restart) transfers
// only what is missing. Complete, the DAG is pinned recursively and
// announced: unlike Kubo, whose get leaves fetched blocks as cache, a user
// who asked for a copy keeps it through gc and serves it to others; `pin
// rm` undoes both. Abandoned, the partial pin lasts Transfer.KeepPartial.
func (n *Node) Fetch(ctx context.Context, a FetchArgs, fn func(FetchProgress)) (FetchResult, error) {
	return n.fetch(ctx, a, fn, fetchHooks{})
}

// fetchHooks let FetchTo's write-once mode (nocopyget.go) take part in a
// download. The zero value is a plain Fetch.
type fetchHooks struct {
	// store, if set, wraps the store the download writes into; an error
	// fails the fetch before anything is downloaded.
	store func(ctx context.Context, root cid.Cid, st transfer.Store) (transfer.Store, error)
	// complete, if set, runs once the download is complete and verified,
	// before the repo is synced and the DAG pinned; an error fails the
	// fetch as a download error would (the partial pin stays).
	complete func(ctx context.Context, root cid.Cid) error
}

func (n *Node) fetch(ctx context.Context, a FetchArgs, fn func(FetchProgress), h fetchHooks) (FetchResult, error) {
	x := n.xfer
	if x == nil {
		return FetchResult{}, ErrNoNetwork
	}
	start := time.Now()
	path, hints, noDHT, err := parseTarget(a)
	if err != nil {
		return FetchResult{}, err
	}
	sess := n.store.Session()
	defer sess.End()
	src := n.Content(Source{Peers: hints, NoDHT: noDHT, Session: sess})
	c, err := src.Resolve(ctx, path)
	if err != nil {
		return FetchResult{}, err
	}
	res := FetchResult{Cid: c.String()}
	w := src.want(c, sess)
	if h.store != nil {
		st, err := h.store(ctx, c, w.Store)
		if err != nil {
			return res, err
		}
		w.Store = st
	}
	prior, pinned := x.pin(ctx, c)
	if !pinned {
		if err := n.store.Pin(ctx, c, blockstore.PinOptions{Kind: blockstore.PinPartial, Name: partialName(start)}); err != nil {
			return res, err
		}
	}
	x.begin(c)
	ch, unsub := x.subscribe(c)
	done := make(chan error, 1)
	// A getter rather than a bare Fetch, so a streaming get can read the
	// blocks as they arrive (getstream.go); Ready tells it when to start.
	bg, stop := x.fetchGetter(ctx, w)
	go func() { done <- bg.Wait(context.WithoutCancel(ctx)) }()
	if fn != nil {
		fn(FetchProgress{Cid: c.String(), Ready: true})
	}
	var last transfer.Progress
	for err == nil {
		select {
		case p := <-ch:
			last = p
			if fn != nil && !p.Done {
				fn(progressOf(p))
			}
			continue
		case err = <-done:
		}
		break
	}
	stop()
	unsub()
	select { // the final report is sent before Fetch returns
	case p := <-ch:
		last = p
	default:
	}
	x.end(c)
	res.Received, res.Have, res.Seconds = last.Bytes, last.Have, time.Since(start).Seconds()
	if err == nil && h.complete != nil {
		err = h.complete(ctx, c)
	}
	if err != nil {
		if !pinned || prior.Kind == blockstore.PinPartial {
			keep := x.keep
			if ok, herr := n.store.Has(context.WithoutCancel(ctx), c); herr == nil && !ok {
				// Nothing arrived, so there is nothing to resume: a pin
				// on an absent root would only clutter `pin ls`.
				keep = 0
			}
			x.abandon(c, keep)
		}
		return res, err
	}
	// The download is complete and verified; re-pin even if the caller
	// is gone, or a finished download would look abandoned. As with add,
	// the blocks are made durable before the pin that claims them, and
	// the pin before success is reported.
	pctx := context.WithoutCancel(ctx)
	if err := n.store.Sync(); err != nil {
		return res, fmt.Errorf("fetch %s: %w", c, err)
	}
	crashpoint.Hit(crashpoint.FetchComplete)
	if !pinned || prior.Kind != blockstore.PinRecursive {
		if err := n.store.Pin(pctx, c, blockstore.PinOptions{Kind: blockstore.PinRecursive}); err != nil {
			return res, err
		}
		if err := n.store.Sync(); err != nil {
			return res, fmt.Errorf("fetch %s: %w", c, err)
		}
	}
	res.Pin = blockstore.PinRecursive.String()
	if n.announcer != nil {
		n.announcer.Announce(c)
	}
	return res, nil
}

// Transfers reports live downloads, bytes served and limits.
func (n *Node) Transfers() (TransferStats, error) {
	x := n.xfer
	if x == nil {
		return TransferStats{}, ErrNoNetwork
	}
	st := TransferStats{Downloads: []FetchProgress{}, Served: map[string]int64{}, Limits: x.Limits()}
	for _, p := range x.fetcher.Stats() {
		if !p.OnDemand { // readers (cat of a range, gateway, FUSE) fetch only what they read
			st.Downloads = append(st.Downloads, progressOf(p))
		}
	}
	sort.Slice(st.Downloads, func(i, j int) bool { return st.Downloads[i].Cid < st.Downloads[j].Cid })
	for p, b := range x.server.Served() {
		st.Served[p.String()] = b
	}
	st.Banned = map[string]time.Time{}
	for p, until := range x.fetcher.Bans() {
		st.Banned[p.String()] = until.UTC().Round(time.Second)
	}
	return st, nil
}

// SetLimits changes the live bandwidth caps and, with a.Persist, the
// config file, so the change survives a restart.
func (n *Node) SetLimits(a LimitsArgs) (Limits, error) {
	x := n.xfer
	if x == nil {
		return Limits{}, ErrNoNetwork
	}
	// Start from the live limits, so a field not named keeps what a
	// daemon flag set, rather than reverting to the config file.
	cfg, l := n.repo.Config, x.Limits()
	for _, f := range []struct {
		name string
		v    *string
		cfg  *string
		live *float64
	}{
		{"MaxUpload", a.MaxUpload, &cfg.Transfer.MaxUpload, &l.MaxUpload},
		{"MaxUploadPerPeer", a.MaxUploadPerPeer, &cfg.Transfer.MaxUploadPerPeer, &l.MaxUploadPerPeer},
		{"MaxDownload", a.MaxDownload, &cfg.Transfer.MaxDownload, &l.MaxDownload},
	} {
		if f.v == nil {
			continue
		}
		bps, err := ParseRate(*f.v)
		if err != nil {
			return Limits{}, fmt.Errorf("%w: Transfer.%s: %w", api.ErrBadRequest, f.name, err)
		}
		*f.cfg, *f.live = *f.v, bps
	}
	if a.Persist {
		// Re-read the file: it may have been edited since the daemon
		// started, and only the limits are this call's to change.
		fresh, err := repo.Open(n.repo.Path)
		if err != nil {
			return Limits{}, err
		}
		fc := fresh.Config
		fc.Transfer.MaxUpload, fc.Transfer.MaxUploadPerPeer, fc.Transfer.MaxDownload =
			cfg.Transfer.MaxUpload, cfg.Transfer.MaxUploadPerPeer, cfg.Transfer.MaxDownload
		if err := fresh.SaveConfig(fc); err != nil {
			return Limits{}, err
		}
	}
	// n.repo.Config is left alone: other requests read it unlocked.
	x.SetLimits(l)
	return l, nil
}
