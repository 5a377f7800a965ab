package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/car"
	"github.com/trove-p2p/trove/transfer"
	"github.com/trove-p2p/trove/unixfs"
)

// Source says where reads may look for blocks the repo does not hold. It
// is the explicit request value of the content API: every front door (the
// CLI through the daemon, the HTTP gateway, the FUSE mount) states its
// choices here instead of in context values. The zero value asks connected
// peers and the DHT, on a node that has a network.
type Source struct {
	// Peers are providers to ask first (--peer flags, a ticket's).
	Peers []peer.AddrInfo
	// NoDHT keeps fetches to Peers and connected peers; a ticket sets it.
	NoDHT bool
	// Offline reads local blocks only: a missing block fails at once
	// with block.ErrNotFound. A node without network is always offline.
	Offline bool
	// Session, if set, receives fetched blocks, so the caller decides how
	// long they are protected from gc (a download pins them at its end).
	// Nil: each open file or call protects its blocks with a session of
	// its own while it runs; afterwards they are cache, as in Kubo.
	Session *blockstore.Session
}

// Content is the one read path onto stored and remote content: resolve,
// stat, list, open and export. It verifies every fetched block before it is
// stored or returned (transfer checks each against the CID a verified
// parent named), and fetches on demand, so the first bytes of a remote file
// come before the rest of its DAG.
//
// Content is cheap to make and safe for concurrent use.
type Content struct {
	n   *Node
	src Source
}

// Content returns the read path for src.
func (n *Node) Content(src Source) *Content {
	if n.xfer == nil {
		src.Offline = true
	}
	return &Content{n: n, src: src}
}

// Resolve turns "CID[/sub/path]" (or "/ipfs/CID/...") into the CID it
// names. A malformed CID or path component matches ErrBadCID; a missing
// name matches block.ErrNotFound.
func (c *Content) Resolve(ctx context.Context, p string) (cid.Cid, error) {
	// One trailing slash is what shell completion of a directory leaves;
	// accept it rather than calling the path malformed.
	root, parts, err := unixfs.ParsePath(strings.TrimSuffix(p, "/"))
	if err != nil {
		if !errors.Is(err, ErrBadCID) {
			// Path syntax errors belong to the same user mistake as a
			// bad CID: the argument does not name anything.
			err = cid.ErrInvalidCid{Err: err}
		}
		return cid.Undef, err
	}
	if len(parts) == 0 {
		return root, nil
	}
	return unixfs.ResolveParts(ctx, c.blockwise(), root, parts)
}

// Stat reports what k names, reading (or fetching) its root block only.
func (c *Content) Stat(ctx context.Context, k cid.Cid) (unixfs.Entry, error) {
	return unixfs.Stat(ctx, c.blockwise(), k)
}

// ReadDir lists the basic or HAMT directory k in name order.
func (c *Content) ReadDir(ctx context.Context, k cid.Cid) ([]unixfs.DirEntry, error) {
	return unixfs.ReadDir(ctx, c.blockwise(), k)
}

// Lookup finds one name in directory dir; in a HAMT it reads only the
// shards on the name's path.
func (c *Content) Lookup(ctx context.Context, dir cid.Cid, name string) (unixfs.DirEntry, error) {
	return unixfs.Lookup(ctx, c.blockwise(), dir, name)
}

// Block returns one block's bytes, verified, fetching it if it is missing.
func (c *Content) Block(ctx context.Context, k cid.Cid) ([]byte, error) {
	return c.blockwise().Get(ctx, k)
}

// PinnedRoots lists the roots of recursive and direct pins, each once, in
// the store's order: what a front door shows as "the content here" (the
// FUSE mount's top directory, a gateway index). Partial pins are left out:
// they are downloads under way, and listing them would invite a reader
// into a DAG that is mostly missing.
func (c *Content) PinnedRoots(ctx context.Context) ([]cid.Cid, error) {
	pins, err := c.n.store.Pins(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]cid.Cid, 0, len(pins))
	seen := make(map[cid.Cid]bool, len(pins))
	for _, p := range pins {
		if p.Kind != blockstore.PinPartial && !seen[p.Cid] {
			seen[p.Cid] = true
			out = append(out, p.Cid)
		}
	}
	return out, nil
}

// Getter is the block-by-block read path, for callers that walk DAGs of
// their own (other codecs, CAR selections). Blocks are verified.
func (c *Content) Getter() block.Getter { return c.blockwise() }

// OpenOptions qualifies Open. The zero value fetches only the blocks the
// reads touch (plus the file's read-ahead).
type OpenOptions struct {
	// Whole starts a download of the file's entire DAG at the first
	// missing block, reads served first, for readers that will read it
	// all (cat, a full HTTP response). Without it a range read never
	// fetches blocks outside its range and the read-ahead window.
	Whole bool
	// File tunes the reader (read-ahead, caches).
	File unixfs.FileOptions
}

// File is an open file: random access (ReadAt), streaming (Read, WriteTo)
// and Seek, over blocks fetched on demand. Close it to stop its fetches.
type File struct {
	*unixfs.File
	release func()
}

// Close stops read-ahead and any download the file started.
func (f *File) Close() error {
	err := f.File.Close()
	f.release()
	return err
}

// Open opens the file (or raw block) k for reading. Reads use ctx, so
// cancelling it abandons them and their fetches.
func (c *Content) Open(ctx context.Context, k cid.Cid, o OpenOptions) (*File, error) {
	g, done := c.fileGetter(ctx, k, o.Whole)
	f, err := unixfs.NewFileOptions(ctx, g, k, o.File)
	if err != nil {
		done()
		return nil, err
	}
	return &File{File: f, release: done}, nil
}

// DAG returns a getter that downloads the whole DAG under root in the
// background (the blocks asked for first) and serves local blocks as they
// are, for callers that walk the DAG themselves and will want all of it
// (a gateway CAR response). Call done when finished; it stops the download.
func (c *Content) DAG(ctx context.Context, root cid.Cid) (g block.Getter, done func()) {
	return c.fileGetter(ctx, root, true)
}

// ExportCAR writes the DAG under k to w as a CAR v1 archive, fetching what
// is missing as it goes.
func (c *Content) ExportCAR(ctx context.Context, k cid.Cid, w io.Writer) error {
	g, done := c.fileGetter(ctx, k, true)
	defer done()
	return car.Export(ctx, g, k, w)
}

// blockwise returns the read path for resolving and listing: local blocks
// as they are, a missing one fetched alone. Each miss costs a provider
// search, which is fine for the handful of blocks a path or a listing
// touches; file content goes through fileGetter instead.
func (c *Content) blockwise() block.Getter {
	if c.src.Offline {
		return c.n.get
	}
	return swarmGetter{c}
}

type swarmGetter struct{ c *Content }

func (g swarmGetter) Get(ctx context.Context, k cid.Cid) ([]byte, error) {
	n := g.c.n
	data, err := n.get.Get(ctx, k)
	if !errors.Is(err, block.ErrNotFound) {
		return data, err
	}
	sess, end := g.c.session()
	defer end()
	bg := n.xfer.fetcher.OnDemand(ctx, g.c.want(k, sess))
	defer bg.Close()
	data, err = bg.Get(ctx, k)
	return data, notFoundUnlessCancelled(ctx, k, err)
}

// notFoundUnlessCancelled makes a failed fetch read as a missing block
// (which callers and exit codes care about), keeping its cause.
func notFoundUnlessCancelled(ctx context.Context, k cid.Cid, err error) error {
	if err != nil && !errors.Is(err, block.ErrNotFound) && ctx.Err() == nil && !localFault(err) {
		return fmt.Errorf("%w: %w", block.NotFound(k), err)
	}
	return err
}

// localFault reports whether a fetch failed for a reason of this node's
// own (a full disk, a store error), which must keep its kind (and exit
// code) rather than read as content that could not be found.
func localFault(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, blockstore.ErrNoSpace) || errors.Is(err, blockstore.ErrClosed)
}

// session returns the session fetched blocks go through and how to end
// it: the caller's, or a new one.
func (c *Content) session() (*blockstore.Session, func()) {
	if c.src.Session != nil {
		return c.src.Session, func() {}
	}
	s := c.n.store.Session()
	return s, s.End
}

func (c *Content) want(root cid.Cid, sess *blockstore.Session) transfer.Want {
	return transfer.Want{
		Root: root, Hints: c.src.Peers, NoDHT: c.src.NoDHT,
		Store: sessionStore{Store: c.n.store, sess: sess},
	}
}

// fileGetter returns the read path for a file's content: local blocks as
// they are and, at the first missing one, a transfer rooted at root that
// serves the reader's blocks first; with whole it also downloads the rest
// of the DAG in the background. Call done when finished reading.
func (c *Content) fileGetter(ctx context.Context, root cid.Cid, whole bool) (g block.Getter, done func()) {
	if c.src.Offline {
		return c.n.get, func() {}
	}
	l := &lazyGetter{c: c, root: root, ctx: ctx, whole: whole}
	return l, l.close
}

type lazyGetter struct {
	c     *Content
	root  cid.Cid
	ctx   context.Context
	whole bool

	mu   sync.Mutex
	bg   *transfer.BlockGetter
	end  func()
	done bool
}

func (l *lazyGetter) Get(ctx context.Context, k cid.Cid) ([]byte, error) {
	n := l.c.n
	data, err := n.get.Get(ctx, k)
	if !errors.Is(err, block.ErrNotFound) {
		return data, err
	}
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: read after close", block.NotFound(k))
	}
	if l.bg == nil {
		sess, end := l.c.session()
		w := l.c.want(l.root, sess)
		if l.whole {
			l.bg = n.xfer.fetcher.GetterWant(l.ctx, w)
		} else {
			l.bg = n.xfer.fetcher.OnDemand(l.ctx, w)
		}
		l.end = end
	}
	bg := l.bg
	l.mu.Unlock()
	data, err = bg.Get(ctx, k)
	return data, notFoundUnlessCancelled(ctx, k, err)
}

// Lend borrows a local block from the store when the store lends (see
// unixfs.Lender), and fetches a missing one as Get does; a fetched block
// is the caller's (release nil).
func (l *lazyGetter) Lend(ctx context.Context, k cid.Cid) ([]byte, func(), error) {
	if lender, ok := l.c.n.get.(unixfs.Lender); ok {
		data, release, err := lender.Lend(ctx, k)
		if !errors.Is(err, block.ErrNotFound) {
			return data, release, err
		}
	}
	data, err := l.Get(ctx, k)
	return data, nil, err
}

func (l *lazyGetter) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	if l.bg != nil {
		l.bg.Close()
		l.end()
	}
}
