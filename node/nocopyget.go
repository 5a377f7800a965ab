package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/internal/directio"
	"github.com/trove-p2p/trove/transfer"
	"github.com/trove-p2p/trove/unixfs"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// Write-once get (get --nocopy through the daemon). A plain get writes
// every byte twice, into the repo and into the output; with --nocopy the
// output is to become the repo's only copy of the raw leaves anyway, so
// the download writes each raw leaf straight into the output file at its
// offset, and once the file is complete and synced the repo records
// references to it (blockstore.Ref). Badger only ever sees the inner
// nodes. The offsets are known in time because the download goes level by
// level from the root: a leaf's parents are stored before it arrives.
//
// What the repo holds during the download is the same as for a plain
// fetch, minus the leaves already written: those live only in the
// temporary output file, which an interrupted get removes, so a retry
// downloads them again (a plain get's partial pin would have kept them).
// Leaves whose offset is not known when they arrive (an odd DAG, or a
// resumed download whose upper levels were already stored) are stored as
// usual and copied into the file at the end; the file is right either way.

// directWriter is the store a write-once download writes into: raw leaves
// under a known offset go to the output file, the rest to the repo.
type directWriter struct {
	transfer.Store // the repo (the download's session)
	f              *os.File
	// out writes the leaves around the page cache where it can: the
	// file is the repo's copy from now on and nothing reads it back
	// soon, and a page-cache write cost this get more CPU than its
	// SHA-256 and Noise together (internal/directio).
	out  *directio.File
	root cid.Cid
	// keep makes the repo store every block as well: a plain get of one
	// file, written from the download as --nocopy is instead of read
	// back out of the repo once stored (fetchto.go). A root that is not
	// a file is then no error: nothing is placed, every block passes
	// through to the repo, and kind says which it was.
	keep     bool
	kind     chan bool // keep: receives once whether the root is a file
	kindOnce sync.Once
	isFile   atomic.Bool

	// sem bounds the leaf writes in flight: PutAsync must return soon,
	// but a disk slower than the network must slow the download down.
	sem chan struct{}
	wg  sync.WaitGroup // writes in flight, for close

	mu sync.Mutex
	// places are where blocks of the file go, by multihash: offset ->
	// the length the parent promised for it. A leaf is written only
	// where its real length is the promised one.
	places  map[string]map[int64]int
	learned map[string]bool // nodes whose children were placed
	written map[string]*leafOut
	closed  bool  // the download is over: no more writes (see close)
	failed  error // a write error: the download fails with it

	direct atomic.Int64 // bytes written to the file from the network
}

// leafOut is a raw leaf written to the file: its length and the offsets
// it was written at (a leaf repeated in the file is fetched once).
type leafOut struct {
	n    int
	offs map[int64]bool
}

// errNotFile refuses a --nocopy get of anything but one UnixFS file, if
// it can before its download starts.
var errNotFile = errors.New("not a single file")

// fileNode decodes dag-pb block c as a node of a UnixFS file; any other
// kind (a directory, a symlink) is errNotFile.
func fileNode(c cid.Cid, data []byte) (*pb.Node, *pb.FSNode, error) {
	nd, err := pb.Unmarshal(data)
	if err != nil {
		return nil, nil, err
	}
	fsn, err := pb.UnmarshalFS(nd.Data)
	if err != nil {
		return nil, nil, err
	}
	if fsn.Type != pb.TFile && fsn.Type != pb.TRaw {
		return nil, nil, fmt.Errorf("%w: %s is a %s", errNotFile, c, fsn.Type)
	}
	return nd, fsn, nil
}

func newDirectWriter(st transfer.Store, f *os.File, root cid.Cid) *directWriter {
	return &directWriter{
		Store: st, f: f, root: root, out: directio.Open(f),
		sem:     make(chan struct{}, 4),
		places:  map[string]map[int64]int{string(root.Hash()): {0: -1}},
		learned: make(map[string]bool),
		written: make(map[string]*leafOut),
	}
}

// rootSeen checks the root's block once it is known: with keep it only
// records the kind, else a root that is not a file is an error.
func (d *directWriter) rootSeen(c cid.Cid, data []byte) error {
	err := checkRoot(c, data)
	if d.keep {
		d.kindOnce.Do(func() {
			d.isFile.Store(err == nil)
			d.kind <- err == nil
		})
		return nil
	}
	return err
}

// checkRoot refuses a root that is not a file: a directory would
// otherwise be downloaded whole before the get could say no.
func checkRoot(c cid.Cid, data []byte) error {
	switch c.Type() {
	case block.CodecRaw:
		return nil
	case block.CodecDagPB:
	default:
		return fmt.Errorf("%w (codec 0x%x)", errNotFile, c.Type())
	}
	_, _, err := fileNode(c, data)
	return err
}

// seed learns the offsets of the part of the DAG already in the repo (a
// resumed download), each node once, and checks a stored root.
func (d *directWriter) seed(ctx context.Context) error {
	data, err := d.Store.Get(ctx, d.root)
	if err != nil {
		return nil // not stored yet: checked when it arrives
	}
	if err := d.rootSeen(d.root, data); err != nil {
		return err
	}
	var walk func(c cid.Cid, data []byte, depth int)
	walk = func(c cid.Cid, data []byte, depth int) {
		if depth > 64 {
			return
		}
		for _, k := range d.learn(c, data) {
			if k.Type() != block.CodecDagPB {
				continue
			}
			if kd, err := d.Store.Get(ctx, k); err == nil {
				walk(k, kd, depth+1)
			}
		}
	}
	walk(d.root, data, 0)
	return nil
}

// learn places the children of file node c (data) from c's own places,
// once per node, and returns the children it placed. A node that is not
// part of a file, or whose block sizes do not match its links, places
// nothing: its leaves are then stored and copied in by finish, which
// also rejects a DAG whose sizes do not add up.
func (d *directWriter) learn(c cid.Cid, data []byte) []cid.Cid {
	nd, fsn, err := fileNode(c, data)
	if err != nil || len(nd.Links) == 0 || len(fsn.BlockSizes) != len(nd.Links) {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	k := string(c.Hash())
	if d.learned[k] || len(d.places[k]) == 0 {
		return nil
	}
	d.learned[k] = true
	for o := range d.places[k] {
		at := o + int64(len(fsn.Data))
		for i, l := range nd.Links {
			lk := string(l.Cid.Hash())
			if d.places[lk] == nil {
				d.places[lk] = make(map[int64]int)
			}
			d.places[lk][at] = int(fsn.BlockSizes[i])
			at += int64(fsn.BlockSizes[i])
		}
	}
	kids := make([]cid.Cid, 0, len(nd.Links))
	for _, l := range nd.Links {
		kids = append(kids, l.Cid)
	}
	return kids
}

// place reports where raw leaf c of n bytes goes in the file: nowhere if
// that is not known, if a parent promised another length, or once the
// download is over.
func (d *directWriter) place(c cid.Cid, n int) []int64 {
	if c.Type() != block.CodecRaw {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	k := string(c.Hash())
	if d.closed || d.written[k] != nil {
		return nil
	}
	var offs []int64
	for o, want := range d.places[k] {
		if want != n && !(want == -1 && o == 0) { // -1: the root, no parent
			return nil
		}
		offs = append(offs, o)
	}
	return offs
}

// write puts a verified raw leaf into the file at offs and records it.
func (d *directWriter) write(c cid.Cid, data []byte, offs []int64) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil // a late duplicate: the file is being finished
	}
	d.wg.Add(1)
	d.mu.Unlock()
	defer d.wg.Done()
	for _, o := range offs {
		if _, err := d.out.WriteAt(data, o); err != nil {
			err = fmt.Errorf("write the output: %w", err)
			d.mu.Lock()
			d.failed = firstErr(d.failed, err)
			d.mu.Unlock()
			return err
		}
	}
	l := &leafOut{n: len(data), offs: make(map[int64]bool, len(offs))}
	for _, o := range offs {
		l.offs[o] = true
	}
	d.mu.Lock()
	if d.written[string(c.Hash())] == nil {
		d.written[string(c.Hash())] = l
		d.direct.Add(int64(len(data)))
	}
	d.mu.Unlock()
	return nil
}

// close ends the direct writes, waiting for those in flight: after it the
// file changes only through finish, so its identity can be recorded.
func (d *directWriter) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.wg.Wait()
	d.out.Close()
}

// Put is PutAsync, waited for.
func (d *directWriter) Put(ctx context.Context, c cid.Cid, data []byte) error {
	errc := make(chan error, 1)
	d.PutAsync(ctx, c, data, func(err error) { errc <- err })
	return <-errc
}

// PutAsync writes a placed leaf on another goroutine, as the repo's
// PutAsync stores one, so the download verifies the next block meanwhile.
func (d *directWriter) PutAsync(ctx context.Context, c cid.Cid, data []byte, done func(error)) {
	if c == d.root {
		if err := d.rootSeen(c, data); err != nil {
			done(err)
			return
		}
	}
	if offs := d.place(c, len(data)); len(offs) > 0 {
		select {
		case d.sem <- struct{}{}:
		case <-ctx.Done():
			done(ctx.Err())
			return
		}
		// With keep the repo stores the leaf meanwhile; done, after
		// which data may be reused, waits for both.
		stored := make(chan error, 1)
		if d.keep {
			d.putAsync(ctx, c, data, func(err error) { stored <- err })
		} else {
			stored <- nil
		}
		go func() {
			defer func() { <-d.sem }()
			if err := ctx.Err(); err != nil {
				done(firstErr(err, <-stored))
				return
			}
			werr := d.write(c, data, offs)
			done(firstErr(<-stored, werr))
		}()
		return
	}
	if c.Type() == block.CodecDagPB {
		// Learn before the store has it: the download reads a level's
		// nodes only once they are all stored, and asks for their
		// children after that.
		d.learn(c, data)
	}
	d.putAsync(ctx, c, data, done)
}

// putAsync stores in the repo, without waiting where the repo can.
func (d *directWriter) putAsync(ctx context.Context, c cid.Cid, data []byte, done func(error)) {
	if ap, ok := d.Store.(interface {
		PutAsync(context.Context, cid.Cid, []byte, func(error))
	}); ok {
		ap.PutAsync(ctx, c, data, done)
		return
	}
	done(d.Store.Put(ctx, c, data))
}

// leaf is c as written only to the file; with keep the repo has every
// block, so reads go there.
func (d *directWriter) leaf(c cid.Cid) *leafOut {
	if d.keep {
		return nil
	}
	return d.placed(c)
}

// placed is c as written to the file, if it was.
func (d *directWriter) placed(c cid.Cid) *leafOut {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.written[string(c.Hash())]
}

func (d *directWriter) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if d.leaf(c) != nil {
		return true, nil
	}
	return d.Store.Has(ctx, c)
}

// Get reads a written leaf back from the file, checked against its hash
// as every read through a reference is.
func (d *directWriter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	l := d.leaf(c)
	if l == nil {
		return d.Store.Get(ctx, c)
	}
	var at int64
	for o := range l.offs {
		at = o
		break
	}
	buf := make([]byte, l.n)
	if _, err := d.f.ReadAt(buf, at); err != nil {
		return nil, fmt.Errorf("read back %s from the output: %w", c, err)
	}
	if err := block.Verify(c, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

func (d *directWriter) Size(ctx context.Context, c cid.Cid) (int, error) {
	if l := d.leaf(c); l != nil {
		return l.n, nil
	}
	if sz, ok := d.Store.(interface {
		Size(context.Context, cid.Cid) (int, error)
	}); ok {
		return sz.Size(ctx, c)
	}
	data, err := d.Store.Get(ctx, c)
	return len(data), err
}

// finish completes the file once every block is present and the direct
// writes are closed: it copies in what the download stored instead
// (inline data, leaves that had no known offset), checks that every
// node's children have the lengths it promised and the root's file size,
// and returns the raw leaves in file order and the file's length. A DAG
// whose sizes do not add up is refused before anything is published.
func (d *directWriter) finish(ctx context.Context) (leaves []leafRange, size int64, err error) {
	var walk func(c cid.Cid, off int64, depth int) (int64, error)
	walk = func(c cid.Cid, off int64, depth int) (int64, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if depth > 64 {
			return 0, fmt.Errorf("%s: a file DAG deeper than 64 levels", d.root)
		}
		switch c.Type() {
		case block.CodecRaw:
			if l := d.placed(c); l != nil && l.offs[off] {
				leaves = append(leaves, leafRange{c, off, l.n})
				return int64(l.n), nil
			}
			data, err := d.Get(ctx, c)
			if err != nil {
				return 0, err
			}
			if _, err := d.f.WriteAt(data, off); err != nil {
				return 0, fmt.Errorf("write the output: %w", err)
			}
			leaves = append(leaves, leafRange{c, off, len(data)})
			return int64(len(data)), nil
		case block.CodecDagPB:
		default:
			return 0, fmt.Errorf("%w (codec 0x%x)", errNotFile, c.Type())
		}
		data, err := d.Store.Get(ctx, c)
		if err != nil {
			return 0, err
		}
		nd, fsn, err := fileNode(c, data)
		if err != nil {
			return 0, err
		}
		sized := len(fsn.BlockSizes) == len(nd.Links)
		if len(fsn.BlockSizes) != 0 && !sized {
			return 0, fmt.Errorf("%w: %s has %d links and %d block sizes", unixfs.ErrMalformed, c, len(nd.Links), len(fsn.BlockSizes))
		}
		if len(fsn.Data) > 0 {
			if _, err := d.f.WriteAt(fsn.Data, off); err != nil {
				return 0, fmt.Errorf("write the output: %w", err)
			}
		}
		n := int64(len(fsn.Data))
		for i, l := range nd.Links {
			m, err := walk(l.Cid, off+n, depth+1)
			if err != nil {
				return 0, err
			}
			if sized && uint64(m) != fsn.BlockSizes[i] {
				return 0, fmt.Errorf("%w: %s promises %d bytes for %s, which holds %d", unixfs.ErrMalformed, c, fsn.BlockSizes[i], l.Cid, m)
			}
			n += m
		}
		if fsn.HasFileSize && uint64(n) != fsn.FileSize {
			return 0, fmt.Errorf("%w: %s says %d bytes and holds %d", unixfs.ErrMalformed, c, fsn.FileSize, n)
		}
		return n, nil
	}
	size, err = walk(d.root, 0, 0)
	if err != nil {
		return nil, 0, err
	}
	if err := d.f.Truncate(size); err != nil {
		return nil, 0, fmt.Errorf("write the output: %w", err)
	}
	return leaves, size, nil
}

// fetchToNoCopy is FetchTo with NoCopy: a write-once download of one file
// (see directWriter and fileOut). The root's kind is known only once it
// is fetched, so the output is staged before: a root that turns out not
// to be a UnixFS file fails the get, and the download stays in the repo.
func (n *Node) fetchToNoCopy(ctx context.Context, a FetchToArgs, emit func(FetchProgress)) (FetchToResult, error) {
	out := filepath.Clean(a.Out)
	if fi, err := os.Lstat(out); err == nil {
		if !a.Force {
			return FetchToResult{}, fmt.Errorf("write %s: %w", out, fs.ErrExist)
		}
		if fi.IsDir() {
			return FetchToResult{}, fmt.Errorf("write %s: exists and is a directory: %w", out, fs.ErrExist)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return FetchToResult{}, err
	}
	o, err := stageOut(a, false, emit)
	if err != nil {
		return FetchToResult{}, err
	}
	defer o.cleanup()

	var keptCopy error // the file is written, but the repo keeps its bytes
	h := fetchHooks{
		store: func(ctx context.Context, root cid.Cid, st transfer.Store) (transfer.Store, error) {
			w, err := o.wrap(ctx, root, st)
			if err != nil {
				return nil, fmt.Errorf("get %s: --nocopy: %w", root, err)
			}
			return w, nil
		},
		complete: func(ctx context.Context, root cid.Cid) error {
			leaves, size, err := o.complete(ctx)
			if err != nil {
				return fmt.Errorf("get %s: --nocopy: %w", root, err)
			}
			// From here on the steps belong together: a Ctrl-C now
			// would leave a published file whose leaves are neither
			// stored nor referred to.
			ctx = context.WithoutCancel(ctx)
			if len(leaves) == 0 {
				// Nothing to refer to (bytes inside dag-pb leaves): the
				// repo stored everything, so the download still
				// completes and is pinned, and the get says why the
				// bytes are there twice.
				keptCopy = fmt.Errorf("get %s: wrote %s but kept the repo's copy: %w", root, out, ErrNoRawLeaves)
			}
			// The leaves written only to the file are recorded before
			// the file gets its name: link(2) and rename(2) keep the
			// inode and mtime the references name, and without them
			// the DAG would be incomplete. If publishing fails, they
			// name a file that is not there and count as missing.
			id, err := blockstore.StatFile(filepath.Join(filepath.Dir(out), o.tmp))
			if err != nil {
				return fmt.Errorf("--nocopy: %w", err)
			}
			stored, err := n.referDirect(ctx, o.d, leaves, out, id)
			if err != nil {
				return err
			}
			if err := o.publish(root, size); err != nil {
				return err
			}
			// Leaves the repo stored are complete either way; swapping
			// them for references is the --nocopy promise, and a failure
			// is reported without failing the download.
			if err := n.adoptStored(ctx, stored, out, id); err != nil {
				keptCopy = firstErr(keptCopy, fmt.Errorf("get %s: wrote %s but kept the repo's copy of some leaves: %w", root, out, err))
			}
			return nil
		},
	}
	fr, err := n.fetch(ctx, a.FetchArgs, func(p FetchProgress) {
		if p.Ready {
			return
		}
		emit(p)
		o.progress(p.Cid)
	}, h)
	res := FetchToResult{Fetch: fr, Get: o.got}
	res.Direct, err = o.result(err)
	if err == nil {
		err = keptCopy
	}
	return res, err
}

// referDirect records a reference into the output (at out, with identity
// id) for every leaf the download wrote only there, in one batch; they
// were verified on arrival and the file is synced, so nothing is re-read.
// It returns the other leaves, which the repo stored.
func (n *Node) referDirect(ctx context.Context, d *directWriter, leaves []leafRange, out string, id blockstore.FileID) (stored []leafRange, err error) {
	ss := n.store.Session()
	defer ss.End()
	b := ss.NewBatch()
	seen := make(map[string]bool, len(leaves))
	for _, l := range leaves {
		k := string(l.c.Hash())
		if seen[k] {
			continue
		}
		seen[k] = true
		if d.leaf(l.c) == nil {
			stored = append(stored, l)
			continue
		}
		if err := b.PutRef(ctx, l.c, blockstore.Ref{Path: out, Offset: l.off, Length: l.n, File: id}); err != nil {
			b.Discard()
			return nil, fmt.Errorf("--nocopy: %w", err)
		}
	}
	if err := b.Commit(); err != nil {
		return nil, fmt.Errorf("--nocopy: %w", err)
	}
	return stored, nil
}

// adoptStored swaps the repo's copies of leaves it stored (a resumed
// download, a leaf without a known offset) for references into the
// published output, each checked against the file first (Session.Adopt).
func (n *Node) adoptStored(ctx context.Context, stored []leafRange, out string, id blockstore.FileID) error {
	ss := n.store.Session()
	defer ss.End()
	for _, l := range stored {
		if err := ss.Adopt(ctx, l.c, blockstore.Ref{Path: out, Offset: l.off, Length: l.n, File: id}); err != nil {
			return err
		}
	}
	return nil
}
