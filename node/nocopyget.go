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
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/internal/crashpoint"
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

	// sem bounds the leaf writes in flight: PutAsync must return soon,
	// but a disk slower than the network must slow the download down.
	sem chan struct{}

	mu      sync.Mutex
	offs    map[string][]int64 // where blocks of the file sit, by multihash
	written map[string]*leafOut
	failed  error // a write error: the download fails with it

	direct atomic.Int64 // bytes written to the file from the network
}

// leafOut is a raw leaf written to the file: its length and the offsets
// it was written at (a leaf repeated in the file is fetched once).
type leafOut struct {
	n    int
	offs []int64
}

func newDirectWriter(st transfer.Store, f *os.File) *directWriter {
	return &directWriter{
		Store: st, f: f,
		sem:     make(chan struct{}, 4),
		offs:    make(map[string][]int64),
		written: make(map[string]*leafOut),
	}
}

// seed learns the offsets of the part of the DAG already in the repo (a
// resumed download), starting at its root, which is at offset 0.
func (d *directWriter) seed(ctx context.Context, root cid.Cid) {
	d.mu.Lock()
	d.offs[string(root.Hash())] = []int64{0}
	d.mu.Unlock()
	var walk func(c cid.Cid, depth int)
	walk = func(c cid.Cid, depth int) {
		if c.Type() != block.CodecDagPB || depth > 64 {
			return
		}
		data, err := d.Store.Get(ctx, c)
		if err != nil {
			return
		}
		for _, l := range d.learn(c, data) {
			walk(l, depth+1)
		}
	}
	walk(root, 0)
}

// learn gives the children of file node c (data) their offsets, from
// c's own, and returns the children it placed. A node that is not part
// of a file, or whose block sizes do not add up, places nothing: its
// leaves are then stored and copied at the end.
func (d *directWriter) learn(c cid.Cid, data []byte) []cid.Cid {
	nd, err := pb.Unmarshal(data)
	if err != nil || len(nd.Links) == 0 {
		return nil
	}
	fsn, err := pb.UnmarshalFS(nd.Data)
	if err != nil || (fsn.Type != pb.TFile && fsn.Type != pb.TRaw) || len(fsn.BlockSizes) != len(nd.Links) {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	offs := d.offs[string(c.Hash())]
	if len(offs) == 0 {
		return nil
	}
	kids := make([]cid.Cid, 0, len(nd.Links))
	for _, o := range offs {
		at := o + int64(len(fsn.Data))
		for i, l := range nd.Links {
			k := string(l.Cid.Hash())
			d.offs[k] = append(d.offs[k], at)
			at += int64(fsn.BlockSizes[i])
		}
	}
	for _, l := range nd.Links {
		kids = append(kids, l.Cid)
	}
	return kids
}

// place reports where raw leaf c goes in the file, if that is known.
func (d *directWriter) place(c cid.Cid) []int64 {
	if c.Type() != block.CodecRaw {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]int64(nil), d.offs[string(c.Hash())]...)
}

// write puts a verified raw leaf into the file at offs and records it.
func (d *directWriter) write(c cid.Cid, data []byte, offs []int64) error {
	for _, o := range offs {
		if _, err := d.f.WriteAt(data, o); err != nil {
			err = fmt.Errorf("write the output: %w", err)
			d.mu.Lock()
			d.failed = cmpErr(d.failed, err)
			d.mu.Unlock()
			return err
		}
	}
	d.mu.Lock()
	d.written[string(c.Hash())] = &leafOut{n: len(data), offs: offs}
	d.mu.Unlock()
	d.direct.Add(int64(len(data)))
	return nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (d *directWriter) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if offs := d.place(c); len(offs) > 0 {
		return d.write(c, data, offs)
	}
	if err := d.Store.Put(ctx, c, data); err != nil {
		return err
	}
	if c.Type() == block.CodecDagPB {
		d.learn(c, data)
	}
	return nil
}

// PutAsync writes a placed leaf on another goroutine, as the repo's
// PutAsync stores one, so the download verifies the next block meanwhile.
func (d *directWriter) PutAsync(ctx context.Context, c cid.Cid, data []byte, done func(error)) {
	if offs := d.place(c); len(offs) > 0 {
		select {
		case d.sem <- struct{}{}:
		case <-ctx.Done():
			done(ctx.Err())
			return
		}
		go func() {
			defer func() { <-d.sem }()
			done(d.write(c, data, offs))
		}()
		return
	}
	if c.Type() == block.CodecDagPB {
		// Learn before the store has it: the download reads a level's
		// nodes only once they are all stored, and asks for their
		// children after that.
		d.learn(c, data)
	}
	if ap, ok := d.Store.(interface {
		PutAsync(context.Context, cid.Cid, []byte, func(error))
	}); ok {
		ap.PutAsync(ctx, c, data, done)
		return
	}
	done(d.Store.Put(ctx, c, data))
}

func (d *directWriter) leaf(c cid.Cid) *leafOut {
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
	buf := make([]byte, l.n)
	if _, err := d.f.ReadAt(buf, l.offs[0]); err != nil {
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

// finish completes the file once every block is present: it copies in
// what the download stored instead of writing (inline data, leaves that
// had no known offset) and returns the raw leaves in file order and the
// file's length. Only a UnixFS file qualifies.
func (d *directWriter) finish(ctx context.Context, root cid.Cid) (leaves []leafRange, size int64, err error) {
	var walk func(c cid.Cid, off int64, depth int) (int64, error)
	walk = func(c cid.Cid, off int64, depth int) (int64, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if depth > 64 {
			return 0, fmt.Errorf("%s: a file DAG deeper than 64 levels", root)
		}
		switch c.Type() {
		case block.CodecRaw:
			if l := d.leaf(c); l != nil && containsOff(l.offs, off) {
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
			return 0, fmt.Errorf("not a UnixFS file (codec 0x%x)", c.Type())
		}
		data, err := d.Store.Get(ctx, c)
		if err != nil {
			return 0, err
		}
		nd, err := pb.Unmarshal(data)
		if err != nil {
			return 0, err
		}
		fsn, err := pb.UnmarshalFS(nd.Data)
		if err != nil {
			return 0, err
		}
		if fsn.Type != pb.TFile && fsn.Type != pb.TRaw {
			return 0, fmt.Errorf("not a single file: %s is a %s", c, fsn.Type)
		}
		if len(fsn.Data) > 0 {
			if _, err := d.f.WriteAt(fsn.Data, off); err != nil {
				return 0, fmt.Errorf("write the output: %w", err)
			}
		}
		n := int64(len(fsn.Data))
		for _, l := range nd.Links {
			m, err := walk(l.Cid, off+n, depth+1)
			if err != nil {
				return 0, err
			}
			n += m
		}
		return n, nil
	}
	size, err = walk(root, 0, 0)
	if err != nil {
		return nil, 0, err
	}
	// A file that ends in a hole the DAG does not cover cannot happen
	// (every byte above came from a block), but a short final leaf
	// written before a longer one was known could leave the file longer.
	if err := d.f.Truncate(size); err != nil {
		return nil, 0, fmt.Errorf("write the output: %w", err)
	}
	return leaves, size, nil
}

func containsOff(offs []int64, o int64) bool {
	for _, x := range offs {
		if x == o {
			return true
		}
	}
	return false
}

// fetchToNoCopy is FetchTo with NoCopy: a write-once download of one file
// (see directWriter). The root's kind is known only once it is fetched,
// so the output is staged before: a root that turns out not to be a
// UnixFS file fails the get, and the download stays in the repo.
func (n *Node) fetchToNoCopy(ctx context.Context, a FetchToArgs, emit func(FetchProgress)) (FetchToResult, error) {
	out := filepath.Clean(a.Out)
	base := filepath.Base(out)
	if err := unixfs.CheckName(base); err != nil {
		return FetchToResult{}, fmt.Errorf("write %s: %w", out, err)
	}
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
	dir, err := os.OpenRoot(filepath.Dir(out))
	if err != nil {
		return FetchToResult{}, err
	}
	defer dir.Close()
	f, tmp, err := unixfs.CreateTemp(dir)
	if err != nil {
		return FetchToResult{}, fmt.Errorf("write %s: %w", out, err)
	}
	published := false
	defer func() {
		f.Close()
		if !published {
			dir.Remove(tmp)
		}
	}()

	var d *directWriter
	var res FetchToResult
	var keptCopy error // the file is written, but the repo keeps its bytes
	var lastWrote time.Time
	h := fetchHooks{
		store: func(root cid.Cid, st transfer.Store) transfer.Store {
			d = newDirectWriter(st, f)
			d.seed(ctx, root)
			return d
		},
		complete: func(ctx context.Context, root cid.Cid) error {
			leaves, size, err := d.finish(ctx, root)
			if err != nil {
				return fmt.Errorf("get %s: --nocopy: %w", root, err)
			}
			if err := f.Sync(); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			crashpoint.Hit(crashpoint.GetBeforeRename)
			if err := unixfs.Publish(dir, tmp, base, a.Force); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			published = true
			res.Get = GetResult{Cid: root.String(), Path: a.Out, Files: 1, Bytes: size}
			emit(FetchProgress{Cid: root.String(), Wrote: size})
			if len(leaves) == 0 {
				// Nothing to refer to (bytes inside dag-pb leaves): the
				// repo stored everything, so the download still
				// completes and is pinned, and the get says why the
				// bytes are there twice.
				keptCopy = fmt.Errorf("get %s: wrote %s but kept the repo's copy: %w", root, out, ErrNoRawLeaves)
				return nil
			}
			// The leaves written to the file are in the repo from here on
			// only as references: without them the DAG is incomplete,
			// so a failure here fails the download.
			return n.adoptOutput(ctx, d, leaves, out)
		},
	}
	fr, err := n.fetch(ctx, a.FetchArgs, func(p FetchProgress) {
		if p.Ready {
			return
		}
		emit(p)
		if d != nil {
			if now := time.Now(); now.Sub(lastWrote) >= wroteTick {
				lastWrote = now
				emit(FetchProgress{Cid: p.Cid, Wrote: d.direct.Load()})
			}
		}
	}, h)
	res.Fetch = fr
	if d != nil {
		res.Direct = d.direct.Load()
		d.mu.Lock()
		if err == nil && d.failed != nil {
			err = d.failed
		}
		d.mu.Unlock()
	}
	if err == nil {
		err = keptCopy
	}
	return res, err
}

// adoptOutput makes the repo keep every raw leaf of the published file as
// a reference into it: the leaves the download wrote there are recorded
// as they are (they were verified on arrival and the file is synced), the
// ones the repo stored are checked against the file and their copies
// dropped (Session.Adopt).
func (n *Node) adoptOutput(ctx context.Context, d *directWriter, leaves []leafRange, out string) error {
	id, err := blockstore.StatFile(out)
	if err != nil {
		return fmt.Errorf("--nocopy: %w", err)
	}
	ss := n.store.Session()
	defer ss.End()
	b := ss.NewBatch()
	seen := make(map[string]bool, len(leaves))
	var adopt []leafRange
	for _, l := range leaves {
		k := string(l.c.Hash())
		if seen[k] {
			continue
		}
		seen[k] = true
		if d.leaf(l.c) == nil {
			adopt = append(adopt, l)
			continue
		}
		if err := b.PutRef(ctx, l.c, blockstore.Ref{Path: out, Offset: l.off, Length: l.n, File: id}); err != nil {
			b.Discard()
			return fmt.Errorf("--nocopy: %w", err)
		}
	}
	if err := b.Commit(); err != nil {
		return fmt.Errorf("--nocopy: %w", err)
	}
	for _, l := range adopt {
		if err := ss.Adopt(ctx, l.c, blockstore.Ref{Path: out, Offset: l.off, Length: l.n, File: id}); err != nil {
			return fmt.Errorf("--nocopy: %w", err)
		}
	}
	return nil
}
