package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/transfer"
	"github.com/trove-p2p/trove/unixfs"
)

// FetchBlockArgs name a block and the download it belongs to.
type FetchBlockArgs struct {
	// Root is the CID the download's Ready event named.
	Root string `json:"Root"`
	Cid  string `json:"Cid"`
}

// liveReads are the downloads whose blocks can be read while they run,
// by root. Two gets of one root may run at once; the latest serves.
// The zero value is ready to use.
type liveReads struct {
	mu sync.Mutex
	m  map[cid.Cid][]*liveRead
}

type liveRead struct {
	g *transfer.BlockGetter
}

// add makes r serve root's blocks until remove is called.
func (l *liveReads) add(root cid.Cid, r *liveRead) (remove func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[cid.Cid][]*liveRead)
	}
	l.m[root] = append(l.m[root], r)
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		rs := slices.DeleteFunc(l.m[root], func(x *liveRead) bool { return x == r })
		if len(rs) == 0 {
			delete(l.m, root)
		} else {
			l.m[root] = rs
		}
	}
}

func (l *liveReads) get(root cid.Cid) *liveRead {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := l.m[root]
	if len(rs) == 0 {
		return nil
	}
	return rs[len(rs)-1]
}

// fetchGetter starts the download of root as a BlockGetter, so that
// while its background fetch stores the whole DAG, FetchBlock can hand
// out blocks as they arrive (and ask for a missing one ahead of the rest).
// Call done when the download is over.
func (x *transferState) fetchGetter(ctx context.Context, w transfer.Want) (g *transfer.BlockGetter, done func()) {
	g = x.fetcher.GetterWant(ctx, w)
	remove := x.reads.add(w.Root, &liveRead{g: g})
	return g, func() {
		remove()
		g.Close()
	}
}

// FetchBlock returns one block of the download of a.Root: from the repo
// if it is there, else from that download as soon as it arrives. With no
// download of a.Root running (it just completed) the repo alone answers.
func (n *Node) FetchBlock(ctx context.Context, a FetchBlockArgs) ([]byte, error) {
	root, err := ParseCID(a.Root)
	if err != nil {
		return nil, err
	}
	c, err := ParseCID(a.Cid)
	if err != nil {
		return nil, err
	}
	return n.fetchBlock(ctx, root, c)
}

func (n *Node) fetchBlock(ctx context.Context, root, c cid.Cid) ([]byte, error) {
	if n.xfer != nil {
		for r := n.xfer.reads.get(root); r != nil; r = n.xfer.reads.get(root) {
			if data, err := n.get.Get(ctx, c); !errors.Is(err, block.ErrNotFound) {
				return data, err
			}
			// Ask the download's own store: a get --nocopy writes leaves
			// to its output file, where the repo does not see them.
			if n.xfer.awaitStored(ctx, root, c, r.g.Has) {
				return r.g.Get(ctx, c)
			}
			data, err := r.g.Get(ctx, c)
			if err == nil || ctx.Err() != nil || localFault(err) {
				return data, err
			}
			// Asking on demand failed (peers busy, timed out), but the
			// download is still running and may yet bring the block: give
			// up only once it has ended, or a get whose download then
			// succeeds would fail for a block it was about to have.
			if n.xfer.reads.get(root) == nil {
				return nil, notFoundUnlessCancelled(ctx, c, err)
			}
		}
	}
	return n.get.Get(ctx, c)
}

// awaitStored waits while the download of root brings c, and reports
// whether c is now stored. A get reads in the order the download fetches,
// so the block is usually on its way: asking a peer for it as well, as
// BlockGetter.Get does at once, would fetch it twice (the first version
// of streaming get received 14 MiB for a 12 MiB file from a capped
// seeder). It gives up, and the caller asks on demand, when the download
// has ended or has received nothing for streamStall.
func (x *transferState) awaitStored(ctx context.Context, root, c cid.Cid, has func(context.Context, cid.Cid) (bool, error)) bool {
	wait, last, changed := time.Millisecond, int64(-1), time.Now()
	for {
		if ok, err := has(ctx, c); ok || err != nil {
			return ok
		}
		got, live := int64(0), false
		for _, p := range x.fetcher.Stats() {
			if p.Root == root && !p.Done && !p.OnDemand {
				got, live = max(got, p.Bytes), true
			}
		}
		switch {
		case !live:
			return false
		case got != last:
			last, changed = got, time.Now()
		case time.Since(changed) > streamStall:
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// streamStall is how long a streaming get waits for a download that
// receives nothing before asking peers for its next block itself. A
// 1 MiB block from a 1 MB/s peer takes about this long.
const streamStall = time.Second

// GetFetched writes what a running download (root, as its Ready event
// named it) brings to the local path out, while it arrives: the client
// asks the daemon for each block over epFetchBlock, checks it against
// its CID and writes with unixfs.WriteTo, as Get does, so the daemon
// never writes client paths and files still appear whole or not at all.
func (r *Remote) GetFetched(ctx context.Context, root, out string, o GetOptions) (GetResult, error) {
	c, err := ParseCID(root)
	if err != nil {
		return GetResult{}, err
	}
	st, err := unixfs.WriteTo(ctx, fetchedBlocks{r: r, root: root}, c, out, unixfs.WriteOptions{Force: o.Force, Progress: o.Progress})
	res := GetResult{Cid: c.String(), Path: out, Files: st.Files, Dirs: st.Dirs, Symlinks: st.Symlinks, Bytes: st.Bytes}
	if err != nil {
		return res, fmt.Errorf("get %s: %w", root, err)
	}
	if o.NoCopy {
		// Every block of the file reached the daemon's store before
		// it could be written here, so the leaves are there to adopt.
		return res, referOutput(ctx, r.Refer, c, out)
	}
	return res, nil
}

// fetchedBlocks is a block.Getter over epFetchBlock.
type fetchedBlocks struct {
	r    *Remote
	root string
}

func (g fetchedBlocks) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	body, err := epFetchBlock.Open(ctx, g.r.c, FetchBlockArgs{Root: g.root, Cid: c.String()})
	if err != nil {
		return nil, err
	}
	return g.r.readVerified(body, c)
}
