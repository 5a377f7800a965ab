package transfer

import (
	"context"
	"errors"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// maxDepth bounds a DAG walk's stack: a balanced UnixFS tree of 174-link
// nodes covers any real file in far fewer levels, and a hostile DAG must
// not make the server allocate without limit.
const maxDepth = 64

type dagFrame struct {
	links  []cid.Cid
	sizes  []uint64
	idx    int
	offset uint64
}

// dagWalk yields the blocks under a root in depth-first, left-to-right
// order, honouring the request's leaf or byte range. It reads only through
// a block.Getter and knows nothing of streams or credit, so its order and
// its limits are tested over an in-memory store (dagwalk_test.go).
type dagWalk struct {
	m      Message
	start  bool
	stack  []dagFrame
	leaves uint64
}

// next returns the next block to send (data nil = missing leaf), or done
// with a final status.
func (w *dagWalk) next(ctx context.Context, src block.Getter) (cid.Cid, []byte, Status, bool) {
	if !w.start {
		w.start = true
		root := w.m.CID
		data, err := src.Get(ctx, root)
		if err != nil {
			return root, nil, statusOf(err), true
		}
		if err := w.push(root, data, 0); err != nil {
			return root, nil, StatusBadRequest, true
		}
		return root, data, StatusOK, false
	}
	byteRange := w.m.Flags&FlagByteRange != 0
	for len(w.stack) > 0 {
		f := &w.stack[len(w.stack)-1]
		if f.idx >= len(f.links) {
			w.stack = w.stack[:len(w.stack)-1]
			continue
		}
		c := f.links[f.idx]
		var size uint64
		known := len(f.sizes) == len(f.links)
		if known {
			size = f.sizes[f.idx]
		}
		childStart := f.offset
		f.offset += size
		f.idx++
		if byteRange && known && (childStart+size <= w.m.Start || (w.m.End != 0 && childStart >= w.m.End)) {
			continue // the whole subtree is outside the range
		}
		if c.Type() == block.CodecRaw {
			if !w.wantLeaf() {
				if w.pastEnd() {
					return c, nil, StatusOK, true
				}
				continue
			}
			data, err := src.Get(ctx, c)
			if errors.Is(err, block.ErrNotFound) {
				return c, nil, StatusOK, false
			}
			if err != nil {
				return c, nil, StatusInternal, true
			}
			return c, data, StatusOK, false
		}
		data, err := src.Get(ctx, c)
		if err != nil {
			return c, nil, statusOf(err), true
		}
		n, err := decodeNode(data)
		if err != nil {
			return c, nil, StatusBadRequest, true
		}
		if len(n.Links) == 0 { // a dag-pb leaf
			if !w.wantLeaf() {
				if w.pastEnd() {
					return c, nil, StatusOK, true
				}
				continue
			}
			return c, data, StatusOK, false
		}
		if len(w.stack) >= maxDepth {
			return c, nil, StatusBadRequest, true
		}
		w.stack = append(w.stack, dagFrame{links: n.Links, sizes: n.BlockSizes, offset: childStart})
		return c, data, StatusOK, false
	}
	return cid.Undef, nil, StatusOK, true
}

// wantLeaf counts a leaf and reports whether it is sent.
func (w *dagWalk) wantLeaf() bool {
	i := w.leaves
	w.leaves++
	if w.m.Flags&FlagInnerOnly != 0 {
		return false
	}
	if w.m.Flags&FlagByteRange != 0 {
		return true // subtrees outside the range were skipped by size
	}
	return i >= w.m.Start && (w.m.End == 0 || i < w.m.End)
}

func (w *dagWalk) pastEnd() bool {
	return w.m.Flags&FlagByteRange == 0 && w.m.End != 0 && w.leaves > w.m.End
}

func (w *dagWalk) push(c cid.Cid, data []byte, off uint64) error {
	if c.Type() != block.CodecDagPB {
		return nil
	}
	n, err := decodeNode(data)
	if err != nil {
		return err
	}
	if len(n.Links) > 0 {
		w.stack = append(w.stack, dagFrame{links: n.Links, sizes: n.BlockSizes, offset: off})
	}
	return nil
}

func statusOf(err error) Status {
	if errors.Is(err, block.ErrNotFound) {
		return StatusNotFound
	}
	return StatusInternal
}
