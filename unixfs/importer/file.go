package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/unixfs/pb"
	"golang.org/x/sync/errgroup"
)

// Putter receives every block the importer makes. block.Putter and every
// trove blockstore satisfy it. The importer gives each Put call a slice
// that nothing else references, so the sink may keep it. Put is called
// from one goroutine at a time, in DAG order (every block after the
// blocks it links to), so sinks need no locking and a streaming sink sees
// a valid post-order. A nil Putter means only-hash: blocks are computed and
// dropped.
type Putter interface {
	Put(ctx context.Context, c cid.Cid, data []byte) error
}

// Releaser is a Putter that holds blocks only until they are written and
// can say so. The importer calls OnRelease once, before the first Put, and
// the sink then calls f with each Put's data once nothing references it
// any more; f may be called from any goroutine. The importer uses it to
// reuse chunk buffers instead of allocating one per chunk: at a GiB per
// second a fresh buffer per chunk doubles the Go heap between collections
// and costs page faults and clearing for every byte.
type Releaser interface {
	OnRelease(f func(data []byte))
}

// link is a child as its parent needs it: CID, cumulative DAG size (Tsize)
// and the number of file bytes below it.
type link struct {
	cid   cid.Cid
	tsize uint64
	size  uint64
}

// FileResult describes one imported byte stream.
type FileResult struct {
	Cid cid.Cid
	// Size is the number of content bytes.
	Size uint64
	// Tsize is the cumulative size of all blocks of the DAG, the value a
	// parent directory records for it.
	Tsize uint64
}

// fileImporter carries what one import needs; it holds no per-file state,
// so a DirBuilder reuses it for every file.
type fileImporter struct {
	r       resolved
	sink    Putter
	workers int
	// free recycles chunk buffers when no sink keeps them (or a Releaser
	// gives them back), so runs allocate a bounded set of buffers instead
	// of one per chunk.
	free chan []byte
	// released says the sink gives kept buffers back (Releaser).
	released bool
	// scratch receives the start of every file; importFile calls on one
	// fileImporter are sequential, so one buffer serves them all.
	scratch []byte
	// spare is a chunk buffer kept back from a file that turned out to
	// fit one chunk, so a run of such files does not allocate one each.
	spare []byte
}

// smallFile is the scratch size: files up to it cost no chunk buffer.
const smallFile = 64 << 10

func newFileImporter(p Params, sink Putter) (*fileImporter, error) {
	r, err := p.resolve()
	if err != nil {
		return nil, err
	}
	w := runtime.GOMAXPROCS(0)
	fi := &fileImporter{r: r, sink: sink, workers: w}
	pool := 3*w + 4
	if rs, ok := sink.(Releaser); ok && fi.keeps() {
		// Buffers come back in bursts, when the sink writes a batch, so
		// the pool must hold a sink's worth of them or most are dropped
		// and allocated again. It only holds buffers that exist anyway.
		pool += releasePool
		fi.released = true
		rs.OnRelease(fi.putBuf)
	}
	fi.free = make(chan []byte, pool)
	return fi, nil
}

// releasePool is how many returned chunk buffers a releasing sink may
// park in the pool: enough for the blockstore's batches in flight.
const releasePool = 64

func (fi *fileImporter) put(ctx context.Context, c cid.Cid, data []byte) error {
	if fi.sink == nil {
		return nil
	}
	if err := fi.sink.Put(ctx, c, data); err != nil {
		return fmt.Errorf("importer: storing %s: %w", c, err)
	}
	return nil
}

// keeps reports whether the sink is handed chunk buffers themselves (raw
// leaves), so a buffer is free again only when the sink releases it, if
// ever, rather than once its leaf is stored.
func (fi *fileImporter) keeps() bool { return fi.sink != nil && fi.r.rawLeaves }

func (fi *fileImporter) getBuf() []byte {
	if !fi.keeps() || fi.released {
		select {
		case b := <-fi.free:
			return b[:fi.r.chunkSize]
		default:
		}
	}
	return make([]byte, fi.r.chunkSize)
}

// putBuf offers a buffer nothing references any more to the pool; it is
// safe from any goroutine.
func (fi *fileImporter) putBuf(b []byte) {
	if cap(b) < fi.r.chunkSize {
		return
	}
	select {
	case fi.free <- b:
	default:
	}
}

// leaf turns one chunk into a block, stores it and returns its link.
func (fi *fileImporter) leaf(ctx context.Context, data []byte) (link, error) {
	l, blk, err := fi.leafBlock(data)
	if err != nil {
		return link{}, err
	}
	return l, fi.put(ctx, l.cid, blk)
}

// leafBlock makes the block for one chunk without storing it: the part of
// leaf that the hashing workers run. With raw leaves the chunk is the
// block, so data must not be reused while a sink may hold it (keeps says
// when it cannot be).
func (fi *fileImporter) leafBlock(data []byte) (link, []byte, error) {
	if fi.r.rawLeaves {
		c, err := block.Sum(1, block.CodecRaw, fi.r.hash, data)
		n := uint64(len(data))
		return link{cid: c, tsize: n, size: n}, data, err
	}
	fs := pb.FSNode{Type: pb.TFile, FileSize: uint64(len(data)), HasFileSize: true}
	if len(data) > 0 {
		fs.Data = data
	}
	enc := (&pb.Node{Data: fs.Marshal(), HasData: true}).Marshal()
	c, err := block.Sum(fi.r.nodeVersion, block.CodecDagPB, fi.r.hash, enc)
	return link{cid: c, tsize: uint64(len(enc)), size: uint64(len(data))}, enc, err
}

// node encodes, hashes and stores a dag-pb node; childTsize is the sum of
// its links' Tsizes.
func (fi *fileImporter) node(ctx context.Context, n *pb.Node, childTsize uint64) (link, error) {
	enc := n.Marshal()
	if len(enc) > block.MaxSize {
		return link{}, fmt.Errorf("importer: node of %d bytes: %w", len(enc), block.ErrTooLarge)
	}
	c, err := block.Sum(fi.r.nodeVersion, block.CodecDagPB, fi.r.hash, enc)
	if err != nil {
		return link{}, err
	}
	return link{cid: c, tsize: uint64(len(enc)) + childTsize}, fi.put(ctx, c, enc)
}

// importFile chunks r and builds Kubo's balanced DAG over it. Chunks are
// hashed by a pool of workers while one goroutine stores the blocks and
// assembles the tree in order; the queues between them are bounded, so
// memory stays at a few chunks per core whatever the file size. If the
// import fails, importFile still waits for a pending r.Read to return
// before it does, so the caller may close r afterwards.
func (fi *fileImporter) importFile(ctx context.Context, r io.Reader) (FileResult, error) {
	// Small files (the common case in directory trees) never start the
	// pipeline nor touch a chunk-sized buffer: they are read into a small
	// scratch buffer, and if the stream ends there, that is the whole file.
	if fi.scratch == nil {
		fi.scratch = make([]byte, min(fi.r.chunkSize, smallFile))
	}
	n, err := io.ReadFull(r, fi.scratch)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return fi.single(ctx, fi.scratch[:n])
	case err != nil:
		return FileResult{}, fmt.Errorf("importer: reading: %w", err)
	}
	first := fi.spare
	fi.spare = nil
	if first == nil {
		first = fi.getBuf()
	}
	copy(first, fi.scratch)
	if n < len(first) {
		m, err := io.ReadFull(r, first[n:])
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			res, err := fi.single(ctx, first[:n+m])
			// single never lets the sink keep its argument, so the
			// buffer serves the next medium-sized file.
			fi.spare = first
			return res, err
		case err != nil:
			return FileResult{}, fmt.Errorf("importer: reading: %w", err)
		}
	}

	type job struct {
		data []byte
		blk  []byte
		l    link
		err  error
		done chan struct{}
	}
	g, gctx := errgroup.WithContext(ctx)
	work := make(chan *job, fi.workers)
	ordered := make(chan *job, 2*fi.workers+2)

	send := func(j *job) error {
		for _, ch := range [2]chan *job{work, ordered} {
			select {
			case ch <- j:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	}
	g.Go(func() error {
		defer close(work)
		defer close(ordered)
		buf, last := first, false
		for {
			if err := send(&job{data: buf, done: make(chan struct{})}); err != nil {
				return err
			}
			if last {
				return nil
			}
			buf = fi.getBuf()
			n, err := io.ReadFull(r, buf)
			switch {
			case err == io.EOF:
				fi.putBuf(buf)
				return nil
			case err == io.ErrUnexpectedEOF:
				buf, last = buf[:n], true
				if fi.keeps() && n < len(buf)/2 {
					// The sink keeps this block: do not pin a
					// whole chunk buffer for a short tail.
					tail := slices.Clone(buf)
					fi.putBuf(buf)
					buf = tail
				}
			case err != nil:
				return fmt.Errorf("importer: reading: %w", err)
			}
		}
	})
	for range fi.workers {
		g.Go(func() error {
			for j := range work {
				if gctx.Err() == nil {
					j.l, j.blk, j.err = fi.leafBlock(j.data)
				} else {
					j.err = gctx.Err()
				}
				close(j.done)
			}
			return nil
		})
	}

	var root link
	g.Go(func() error {
		b := balanced{fi: fi, max: fi.r.maxLinks}
		for j := range ordered {
			select {
			case <-j.done:
			case <-gctx.Done():
				return gctx.Err()
			}
			if j.err != nil {
				return j.err
			}
			if err := fi.put(gctx, j.l.cid, j.blk); err != nil {
				return err
			}
			if !fi.keeps() {
				fi.putBuf(j.data)
			}
			if err := b.add(gctx, j.l); err != nil {
				return err
			}
		}
		if gctx.Err() != nil {
			return gctx.Err()
		}
		var err error
		root, err = b.finish(gctx)
		return err
	})
	if err := g.Wait(); err != nil {
		return FileResult{}, err
	}
	return FileResult{Cid: root.cid, Size: root.size, Tsize: root.tsize}, nil
}

// single imports a file that fits one chunk: the leaf is the file. data
// is copied to its exact size when the sink keeps it, so neither the
// scratch buffer nor a mostly empty chunk buffer ends up in the store.
func (fi *fileImporter) single(ctx context.Context, data []byte) (FileResult, error) {
	if fi.sink != nil && fi.r.rawLeaves {
		data = slices.Clone(data)
	}
	l, err := fi.leaf(ctx, data)
	if err != nil {
		return FileResult{}, err
	}
	return FileResult{Cid: l.cid, Size: l.size, Tsize: l.tsize}, nil
}

// balanced assembles Kubo's balanced layout from leaves arriving in order.
// levels[i] holds the finished subtrees of height i not yet given a parent.
// Kubo grows the tree from the top (fill a root, then make it the first
// child of a deeper root); flushing a level only when one more child
// arrives at a full level yields the same tree bottom-up, in O(depth)
// memory.
type balanced struct {
	fi     *fileImporter
	max    int
	levels [][]link
	leaves int
}

func (b *balanced) add(ctx context.Context, l link) error {
	b.leaves++
	return b.push(ctx, 0, l)
}

func (b *balanced) push(ctx context.Context, i int, l link) error {
	if i == len(b.levels) {
		b.levels = append(b.levels, make([]link, 0, b.max))
	}
	if len(b.levels[i]) == b.max {
		parent, err := b.parent(ctx, b.levels[i])
		if err != nil {
			return err
		}
		b.levels[i] = b.levels[i][:0]
		if err := b.push(ctx, i+1, parent); err != nil {
			return err
		}
	}
	b.levels[i] = append(b.levels[i], l)
	return nil
}

func (b *balanced) finish(ctx context.Context) (link, error) {
	if b.leaves == 0 {
		return link{}, errors.New("importer: balanced layout without leaves")
	}
	if b.leaves == 1 {
		return b.levels[0][0], nil
	}
	// Every pending level becomes a node, even a single-child one: Kubo's
	// fillNodeRec wraps the last leaves of a deep tree the same way.
	for i := 0; i < len(b.levels)-1; i++ {
		if len(b.levels[i]) == 0 {
			continue
		}
		p, err := b.parent(ctx, b.levels[i])
		if err != nil {
			return link{}, err
		}
		b.levels[i] = b.levels[i][:0]
		if err := b.push(ctx, i+1, p); err != nil {
			return link{}, err
		}
	}
	return b.parent(ctx, b.levels[len(b.levels)-1])
}

// parent makes the UnixFS File node over children. Links carry an empty
// Name and the Tsize, as Kubo writes them; blocksizes list each child's
// content length so readers can seek.
func (b *balanced) parent(ctx context.Context, children []link) (link, error) {
	fs := pb.FSNode{Type: pb.TFile, HasFileSize: true, BlockSizes: make([]uint64, len(children))}
	n := pb.Node{Links: make([]pb.Link, len(children)), HasData: true}
	var tsize uint64
	for i, c := range children {
		fs.BlockSizes[i] = c.size
		fs.FileSize += c.size
		tsize += c.tsize
		n.Links[i] = pb.Link{Cid: c.cid, HasName: true, Tsize: c.tsize, HasTsize: true}
	}
	n.Data = fs.Marshal()
	l, err := b.fi.node(ctx, &n, tsize)
	l.size = fs.FileSize
	return l, err
}
