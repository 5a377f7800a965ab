package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/node/api"
	"github.com/trove-p2p/trove/unixfs"
)

// ErrWriteRefused is the daemon declining to write a get's output itself
// for this caller: only a process of the daemon's own user, on the unix
// socket, may have it write local paths. The client then writes the
// output from blocks it reads over the API instead.
var ErrWriteRefused = errors.New("the daemon writes output only for its own user on its unix socket")

// FetchToArgs ask for a download whose output the node writes itself.
type FetchToArgs struct {
	FetchArgs
	// Out is the absolute local path to write.
	Out   string `json:"Out"`
	Force bool   `json:"Force,omitempty"`
	// NoCopy writes one file once: raw leaves go from the network
	// straight into the output and the repo keeps references to them
	// (nocopyget.go).
	NoCopy bool `json:"NoCopy,omitempty"`
	// ID, if set, lets the caller stop the request with epFetchToStop
	// and still receive its result: a get interrupted by Ctrl-C waits
	// until the daemon has removed what it was writing, instead of
	// exiting while a temp file is still there.
	ID string `json:"ID,omitempty"`
}

// FetchToStop names a FetchTo to stop.
type FetchToStop struct {
	ID string `json:"ID"`
}

// stopList holds the cancel functions of running requests by ID. The
// zero value is ready to use.
type stopList struct {
	mu sync.Mutex
	m  map[string]context.CancelFunc
}

func (l *stopList) add(id string, cancel context.CancelFunc) (remove func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[string]context.CancelFunc)
	}
	l.m[id] = cancel
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.m, id)
		cancel()
	}
}

func (l *stopList) stop(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cancel := l.m[id]; cancel != nil {
		cancel()
	}
}

// FetchTo runs Node.FetchTo so that StopFetchTo(a.ID) can end it: the
// stop comes in a request of its own, and the caller still receives this
// one's answer once the clean-up is done.
func (d *Daemon) FetchTo(ctx context.Context, a FetchToArgs, fn func(FetchProgress)) (FetchToResult, error) {
	if a.ID != "" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer d.stops.add(a.ID, cancel)()
	}
	return d.node.FetchTo(ctx, a, fn)
}

// StopFetchTo cancels the running FetchTo named id, if there is one.
func (d *Daemon) StopFetchTo(id string) { d.stops.stop(id) }

// FetchToResult is a download's result and what was written.
type FetchToResult struct {
	Fetch FetchResult `json:"Fetch"`
	Get   GetResult   `json:"Get"`
	// Direct is the bytes the download wrote straight into the output
	// file (fileOut); with NoCopy the repo never holds them.
	Direct int64 `json:"Direct,omitempty"`
}

// wroteTick spaces the Wrote events of FetchTo.
const wroteTick = 100 * time.Millisecond

// FetchTo downloads what a.Path names, as Fetch does (partial pin,
// resume, recursive pin when complete), and meanwhile writes it to a.Out
// as get does (files whole or not at all, nothing outside Out), reading
// each block as the download stores it. It is the daemon side of a
// streaming get: before it, every block went from the daemon's store over
// the API to the get process and was hashed once more there, which cost
// more CPU than the download itself (docs/performance.md). fn receives
// the download's progress and, with Wrote set, the output bytes written.
func (n *Node) FetchTo(ctx context.Context, a FetchToArgs, fn func(FetchProgress)) (FetchToResult, error) {
	if !filepath.IsAbs(a.Out) {
		return FetchToResult{}, fmt.Errorf("%w: output path %q is not absolute", api.ErrBadRequest, a.Out)
	}
	var mu sync.Mutex // fn hears from the download and the writer
	emit := func(p FetchProgress) {
		if fn != nil {
			mu.Lock()
			defer mu.Unlock()
			fn(p)
		}
	}
	if a.NoCopy {
		return n.fetchToNoCopy(ctx, a, emit)
	}
	fctx, cancelFetch := context.WithCancel(ctx)
	defer cancelFetch()
	wctx, cancelWrite := context.WithCancel(ctx)
	defer cancelWrite()

	// One file into a new name is written from the download itself
	// (fileOut); anything else by WriteTo, reading each block back.
	fo := stageFile(a, emit)
	if fo != nil {
		defer fo.cleanup()
	}
	type fetched struct {
		res FetchResult
		err error
	}
	ready := make(chan string, 1)
	fdone := make(chan fetched, 1)
	go func() {
		res, err := n.fetch(fctx, a.FetchArgs, func(p FetchProgress) {
			if p.Ready {
				select {
				case ready <- p.Cid:
				default:
				}
				return
			}
			emit(p)
			fo.progress(p.Cid)
		}, fo.hooks())
		fdone <- fetched{res, err}
	}()
	var root cid.Cid
	select {
	case s := <-ready:
		c, err := ParseCID(s)
		if err != nil {
			cancelFetch()
			<-fdone
			return FetchToResult{}, err
		}
		root = c
	case f := <-fdone:
		if f.err == nil {
			f.err = errors.New("the download did not start")
		}
		return FetchToResult{Fetch: f.res}, f.err
	}
	var f fetched
	fOver := false
	if fo != nil {
		isFile := false
		select {
		case isFile = <-fo.kind:
		case f = <-fdone:
			fOver = true
			select { // a download that got its root has said which kind
			case isFile = <-fo.kind:
			default:
			}
		}
		switch {
		case isFile:
			if !fOver {
				f = <-fdone
			}
			res := FetchToResult{Fetch: f.res, Get: fo.got}
			res.Direct, f.err = fo.result(f.err)
			return res, f.err
		case fOver && f.err != nil:
			return FetchToResult{Fetch: f.res}, f.err
		}
		// Not a file: WriteTo writes it, as below.
	}

	type written struct {
		st  unixfs.Stats
		err error
	}
	wdone := make(chan written, 1)
	go func() {
		var last time.Time
		st, err := unixfs.WriteTo(wctx, liveBlocks{n: n, root: root}, root, a.Out, unixfs.WriteOptions{
			Force: a.Force,
			Progress: func(w int64) {
				if now := time.Now(); now.Sub(last) >= wroteTick {
					last = now
					emit(FetchProgress{Cid: root.String(), Wrote: w})
				}
			},
		})
		if err == nil {
			emit(FetchProgress{Cid: root.String(), Wrote: st.Bytes})
		}
		wdone <- written{st, err}
	}()

	// Wait for both; whichever fails first stops the other, as in a
	// client-side streaming get: a failed download explains the writer's
	// missing block better than the writer could, and a failed write (a
	// name refused, a full disk) makes the rest of the download pointless
	// for now (its partial pin keeps what arrived for a retry).
	var w written
	var first error
	for wOver := false; !fOver || !wOver; {
		select {
		case f = <-fdone:
			fOver = true
			if f.err != nil {
				first = firstErr(first, f.err)
				cancelWrite()
			}
		case w = <-wdone:
			wOver = true
			if errors.Is(w.err, block.ErrNotFound) && !fOver {
				continue // the download's own error follows
			}
			if w.err != nil {
				first = firstErr(first, fmt.Errorf("get %s: %w", root, w.err))
				cancelFetch()
			}
		}
	}
	res := FetchToResult{
		Fetch: f.res,
		Get:   GetResult{Cid: root.String(), Path: a.Out, Files: w.st.Files, Dirs: w.st.Dirs, Symlinks: w.st.Symlinks, Bytes: w.st.Bytes},
	}
	if first == nil && w.err != nil {
		first = fmt.Errorf("get %s: %w", root, w.err)
	}
	return res, first
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// liveBlocks reads a running download's blocks as they are stored.
type liveBlocks struct {
	n    *Node
	root cid.Cid
}

func (g liveBlocks) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return g.n.fetchBlock(ctx, g.root, c)
}
