package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/transfer"
	"github.com/trove-p2p/trove/unixfs"
)

// localPath turns a get argument into the CID path the local copy reads:
// a ticket becomes its CID (plus any /path after it).
func localPath(arg string) (string, error) {
	if !strings.HasPrefix(arg, transfer.TicketScheme) {
		return arg, nil
	}
	tk, rest, _ := strings.Cut(strings.TrimPrefix(arg, transfer.TicketScheme), "/")
	c, _, err := transfer.DecodeTicket(transfer.TicketScheme + tk)
	if err != nil {
		return "", fmt.Errorf("%w: %w", node.ErrBadCID, err)
	}
	if rest != "" {
		return c.String() + "/" + rest, nil
	}
	return c.String(), nil
}

// getTo writes what arg names to out. Offline it copies from the local
// repo, and a missing block is exit code 4. On a daemon it streams: the
// daemon downloads the DAG into its repo (epFetch: partial pin, resume,
// recursive pin when complete, as before) while this process writes each
// file from the blocks as they arrive (epFetchBlock), instead of
// waiting for the whole DAG and copying it out afterwards, which cost as
// long again for large files. One progress display covers both.
func getTo(ctx context.Context, e *env, b backend, arg string, peers []string, showProgress bool, out string, o node.GetOptions) (node.GetResult, error) {
	r := b.daemon()
	if r == nil {
		// Only a daemon can fetch: the offline *node.Node has a Fetch
		// method too, but no network to fetch from.
		if len(peers) > 0 {
			fmt.Fprintln(e.stderr, "trove: --peer ignored: no daemon is running, so only the local repo is read")
		}
		lp, err := localPath(arg)
		if err != nil {
			return node.GetResult{}, err
		}
		var bar *progressBar
		if showProgress && isTerminal(e.stderr) {
			bar = newProgressBar(e.stderr)
			o.Progress = bar.update
		}
		defer bar.finish()
		return b.Get(ctx, lp, out, o)
	}
	return streamGet(ctx, e, r, arg, peers, showProgress, out, o)
}

func streamGet(ctx context.Context, e *env, r daemonOps, arg string, peers []string, showProgress bool, out string, o node.GetOptions) (node.GetResult, error) {
	var show func(node.FetchProgress)
	switch {
	case e.json:
		show = jsonProgress(e.stdout)
	case showProgress && isTerminal(e.stderr):
		bar := &transferBar{w: e.stderr}
		defer bar.finish()
		show, o.Progress = bar.update, bar.wrote
	}
	if res, err, ok := daemonWrites(ctx, e, r, arg, peers, out, o, show); ok {
		return res, err
	}
	fctx, cancelFetch := context.WithCancel(ctx)
	defer cancelFetch()
	cctx, cancelCopy := context.WithCancel(ctx)
	defer cancelCopy()

	type result[T any] struct {
		v   T
		err error
	}
	ready := make(chan string, 1)
	fetched := make(chan result[node.FetchResult], 1)
	go func() {
		res, err := r.Fetch(fctx, node.FetchArgs{Path: arg, Peers: peers}, func(p node.FetchProgress) {
			if p.Ready {
				select {
				case ready <- p.Cid:
				default: // one is enough
				}
				return
			}
			if show != nil {
				show(p)
			}
		})
		fetched <- result[node.FetchResult]{res, err}
	}()
	var root string
	select {
	case root = <-ready:
	case f := <-fetched:
		// Ready always comes before a fetch succeeds; without it the
		// fetch failed before starting (a path not found, no network).
		if f.err == nil {
			f.err = errors.New("the daemon did not start the download")
		}
		return node.GetResult{}, fetchError(ctx, e, r, arg, peers, f.err)
	}
	copied := make(chan result[node.GetResult], 1)
	go func() {
		res, err := r.GetFetched(cctx, root, out, o)
		copied <- result[node.GetResult]{res, err}
	}()

	// Wait for both. Whichever fails first stops the other: a download
	// that failed explains the copy's missing block better than the copy
	// could, and a copy that failed (a name refused, a full disk) makes
	// the rest of the download pointless for now; its partial pin keeps
	// what arrived for a retry, as after Ctrl-C.
	var f result[node.FetchResult]
	var c result[node.GetResult]
	var first error
	for fetchOver, copyOver := false, false; !fetchOver || !copyOver; {
		select {
		case f = <-fetched:
			fetchOver = true
			if f.err != nil {
				if first == nil {
					first = fetchError(ctx, e, r, arg, peers, f.err)
				}
				cancelCopy()
			} else if e.json {
				json.NewEncoder(e.stdout).Encode(fetchedEvent{Type: "fetched", FetchResult: f.v})
			}
		case c = <-copied:
			copyOver = true
			if errors.Is(c.err, block.ErrNotFound) && !fetchOver {
				// The download ran out of peers for a block; its own
				// error, coming next, says which and why.
				continue
			}
			if c.err != nil {
				if first == nil {
					first = c.err
				}
				cancelFetch()
			}
		}
	}
	if first == nil {
		first = c.err
	}
	if ctx.Err() != nil && c.err != nil {
		// Interrupted: the copy's error says what was being written,
		// which get reports when a tree was left half written.
		return c.v, c.err
	}
	return c.v, first
}

// daemonWrites has the daemon download and write the output itself
// (node.FetchTo), which spares moving every block over the API and
// hashing it again here; ok is false when the daemon declines (another
// user, a TCP API), and the caller then writes the output itself.
func daemonWrites(ctx context.Context, e *env, r daemonOps, arg string, peers []string, out string, o node.GetOptions, show func(node.FetchProgress)) (_ node.GetResult, _ error, ok bool) {
	abs, err := filepath.Abs(out)
	if err != nil {
		return node.GetResult{}, nil, false
	}
	res, err := r.FetchTo(ctx, node.FetchToArgs{FetchArgs: node.FetchArgs{Path: arg, Peers: peers}, Out: abs, Force: o.Force, NoCopy: o.NoCopy}, func(p node.FetchProgress) {
		switch {
		case p.Wrote > 0:
			if o.Progress != nil {
				o.Progress(p.Wrote)
			}
		case show != nil:
			show(p)
		}
	})
	if errors.Is(err, node.ErrWriteRefused) {
		return node.GetResult{}, nil, false
	}
	res.Get.Path = out
	if err != nil {
		if errors.Is(err, block.ErrNotFound) {
			err = fetchError(ctx, e, r, arg, peers, err)
		}
		return res.Get, err, true
	}
	if e.json {
		json.NewEncoder(e.stdout).Encode(fetchedEvent{Type: "fetched", FetchResult: res.Fetch})
	}
	return res.Get, nil, true
}

// fetchError is the error of a download that failed; for content no peer
// had, it first says which of the peers the user named could not be
// reached, as cat and ls do: "no peer could deliver it" alone hid a
// --peer that was down.
func fetchError(ctx context.Context, e *env, r daemonOps, arg string, peers []string, err error) error {
	if errors.Is(err, block.ErrNotFound) && ctx.Err() == nil {
		connectHints(ctx, e, r, arg, peers)
	}
	return err
}

// progressEvent is one NDJSON line of `get --json` (docs/cli.md).
type progressEvent struct {
	Type string `json:"Type"` // always "progress"
	node.FetchProgress
}

// fetchedEvent is the NDJSON line `get --json` prints when the download
// is complete, before the copy's result.
type fetchedEvent struct {
	Type string `json:"Type"` // always "fetched"
	node.FetchResult
}

func jsonProgress(w io.Writer) func(node.FetchProgress) {
	enc := json.NewEncoder(w)
	return func(p node.FetchProgress) { enc.Encode(progressEvent{Type: "progress", FetchProgress: saneETA(p)}) }
}

// saneETA makes an ETA the transfer package overflowed "unknown" (0, as
// docs/cli.md says): when a peer stalls the rate falls toward 0, and
// remaining/rate overflowed time.Duration into ETA -9223372036.
func saneETA(p node.FetchProgress) node.FetchProgress {
	if p.ETA < 0 || p.ETA > 1e9 {
		p.ETA = 0
	}
	return p
}

// transferBar redraws one stderr line: bytes, rate, ETA and peers.
type transferBar struct {
	w     io.Writer
	mu    sync.Mutex
	drawn bool
	last  node.FetchProgress
	// written is output bytes written; lastDraw rate-limits wrote.
	written  int64
	lastDraw time.Time
}

func (b *transferBar) update(p node.FetchProgress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last, b.drawn = p, true
	b.draw()
}

// wrote records the bytes of output written so far, the second half of
// a streaming get, and redraws at most ten times a second.
func (b *transferBar) wrote(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.written = n
	if now := time.Now(); now.Sub(b.lastDraw) >= 100*time.Millisecond {
		b.lastDraw, b.drawn = now, true
		b.draw()
	}
}

func (b *transferBar) draw() {
	p := b.last
	have := humanBytes(float64(p.Have))
	if p.Total > 0 {
		have += " / " + humanBytes(float64(p.Total))
	}
	eta := "ETA -"
	if p.ETA > 0 {
		eta = "ETA " + (time.Duration(p.ETA) * time.Second).String()
	}
	line := fmt.Sprintf("%s  %s/s  %s  %d peer(s)", have, humanBytes(p.Rate), eta, p.Peers)
	if b.written > 0 {
		line += "  written " + humanBytes(float64(b.written))
	}
	fmt.Fprintf(b.w, "\r\033[K%s", line)
}

func (b *transferBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

// offlineHint says why content is missing when no daemon could fetch it.
func offlineHint(b backend, err error) error {
	// A name missing from a directory that is here is not helped by
	// peers.
	if b.daemon() == nil && errors.Is(err, block.ErrNotFound) && !errors.Is(err, unixfs.ErrNoName) {
		return fmt.Errorf("%w (not in the local repo; start `trove daemon` to fetch it from peers)", err)
	}
	return err
}

// needTicketDaemon refuses `add --ticket` before adding anything when no
// daemon runs: a ticket carries the running node's addresses.
func needTicketDaemon(b backend, ticket bool) error {
	if ticket && b.daemon() == nil {
		return fmt.Errorf("%w: --ticket prints this node's addresses, which only the daemon knows (start one with `trove daemon`)", errNeedsDaemon)
	}
	return nil
}

// printTickets prints a ticket per added root: "ticket ROOT TICKET" lines,
// or with --json one more JSON document, an array of ShareResult.
func printTickets(ctx context.Context, e *env, b backend, roots []string) error {
	r := b.daemon() // needTicketDaemon checked there is one
	out := make([]ShareResult, 0, len(roots))
	for _, root := range roots {
		tk, err := ticketFor(ctx, r, root)
		if err != nil {
			return err
		}
		out = append(out, ShareResult{Cid: root, Ticket: tk})
	}
	if e.json {
		return e.printJSON(out)
	}
	for _, s := range out {
		fmt.Fprintf(e.stdout, "ticket %s %s\n", s.Cid, s.Ticket)
	}
	return nil
}

// statsWithTransfers is `trove stats --json`: the network and repo figures
// as before, plus a Transfers object.
type statsWithTransfers struct {
	node.StatsResult
	Transfers node.TransferStats `json:"Transfers"`
}

// printTransfers is the transfer section of `trove stats`.
func printTransfers(e *env, ts node.TransferStats) {
	l := ts.Limits
	fmt.Fprintf(e.stdout, "Limits:       upload %s, per peer %s, download %s\n",
		node.FormatRate(l.MaxUpload), node.FormatRate(l.MaxUploadPerPeer), node.FormatRate(l.MaxDownload))
	fmt.Fprintf(e.stdout, "Downloads:    %d\n", len(ts.Downloads))
	for _, p := range ts.Downloads {
		total := "?"
		if p.Total > 0 {
			total = humanBytes(float64(p.Total))
		}
		fmt.Fprintf(e.stdout, "  %s  %s / %s  %s/s  %d peer(s)\n", p.Cid, humanBytes(float64(p.Have)), total, humanBytes(p.Rate), p.Peers)
	}
	var served int64
	for _, b := range ts.Served {
		served += b
	}
	fmt.Fprintf(e.stdout, "Served:       %s to %d peer(s)\n", humanBytes(float64(served)), len(ts.Served))
	fmt.Fprintf(e.stdout, "Banned:       %d peer(s)\n", len(ts.Banned))
	ids := make([]string, 0, len(ts.Banned))
	for id := range ts.Banned {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(e.stdout, "  %s  until %s\n", id, ts.Banned[id].Local().Format(time.DateTime))
	}
}

// prepareRead readies cat and ls: a ticket becomes its CID path, and on a
// daemon the ticket's providers and --peer hints are connected first,
// since connected peers are the first providers the daemon asks for a
// missing block. A peer that cannot be reached is reported, not fatal:
// others may still have the content.
func prepareRead(ctx context.Context, e *env, b backend, arg string, peers []string) (string, error) {
	lp, err := localPath(arg)
	if err != nil {
		return "", err
	}
	r := b.daemon()
	if r == nil {
		if len(peers) > 0 {
			fmt.Fprintln(e.stderr, "trove: --peer ignored: no daemon is running, so only the local repo is read")
		}
		return lp, nil
	}
	if err := connectHints(ctx, e, r, arg, peers); err != nil {
		return "", err
	}
	return lp, nil
}

// connectHints connects the daemon to each --peer and each provider a
// ticket names, and notes on stderr those it cannot reach.
func connectHints(ctx context.Context, e *env, r daemonOps, arg string, peers []string) error {
	// One group per peer: its addresses are tried until one connects.
	var groups [][]string
	for _, p := range peers {
		groups = append(groups, []string{p})
	}
	if strings.HasPrefix(arg, transfer.TicketScheme) {
		tk, _, _ := strings.Cut(strings.TrimPrefix(arg, transfer.TicketScheme), "/")
		_, provs, _ := transfer.DecodeTicket(transfer.TicketScheme + tk)
		for _, ai := range provs {
			addrs, err := peer.AddrInfoToP2pAddrs(&ai)
			if err != nil || len(addrs) == 0 {
				continue
			}
			var g []string
			for _, a := range addrs {
				g = append(g, a.String())
			}
			groups = append(groups, g)
		}
	}
	var self string
	if len(groups) > 0 {
		// A ticket from this node's own `share` names this node, which
		// it cannot dial; that is no reason for a warning.
		if id, err := r.ID(ctx); err == nil {
			self = id.ID
		}
	}
	for _, g := range groups {
		if ai, err := peer.AddrInfoFromString(g[0]); err == nil && self != "" && ai.ID.String() == self {
			continue
		}
		var err error
		for _, a := range g {
			if _, err = r.Connect(ctx, a); err == nil {
				break
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "trove: could not reach %s: %v\n", g[0], err)
		}
	}
	return nil
}
