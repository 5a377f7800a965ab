package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/car"
	"github.com/trove-p2p/trove/internal/crashpoint"
	"github.com/trove-p2p/trove/ipld"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// PinInfo describes one pin in results. CIDs are strings so the JSON form
// is what a user types back.
type PinInfo struct {
	Cid  string `json:"Cid"`
	Type string `json:"Type"` // "recursive", "direct" or "partial"
	Name string `json:"Name,omitempty"`
}

func pinInfo(p blockstore.Pin) PinInfo {
	return PinInfo{Cid: p.Cid.String(), Type: p.Kind.String(), Name: p.Name}
}

// PinAddOptions qualifies PinAdd. The zero value is an unnamed recursive
// pin.
type PinAddOptions struct {
	// Direct pins only the named block, not what it links to.
	Direct bool
	// Name is a free-form label shown by PinLs.
	Name string
}

// PinAdd pins the DAG at path (CID[/sub/path]). A recursive pin first
// checks that every block of the DAG is present, because the store trusts
// the caller and a pin over a hole would silently protect nothing; a
// missing block fails with block.ErrNotFound and pins nothing.
//
// A recursive pin promises the whole DAG, so a daemon announces it; a
// direct pin does not, since peers asking for its children would find
// them missing.
func (n *Node) PinAdd(ctx context.Context, path string, o PinAddOptions) (PinInfo, error) {
	p, err := n.pinAdd(ctx, path, o)
	if err == nil && !o.Direct {
		n.announce([]string{p.Cid})
	}
	return p, err
}

func (n *Node) pinAdd(ctx context.Context, path string, o PinAddOptions) (PinInfo, error) {
	c, err := n.Resolve(ctx, path)
	if err != nil {
		return PinInfo{}, err
	}
	kind := blockstore.PinRecursive
	if o.Direct {
		kind = blockstore.PinDirect
		if ok, err := n.store.Has(ctx, c); err != nil {
			return PinInfo{}, err
		} else if !ok {
			return PinInfo{}, block.NotFound(c)
		}
	} else if err := n.checkComplete(ctx, c); err != nil {
		return PinInfo{}, err
	}
	if err := n.store.Pin(ctx, c, blockstore.PinOptions{Kind: kind, Name: o.Name}); err != nil {
		return PinInfo{}, err
	}
	return PinInfo{Cid: c.String(), Type: kind.String(), Name: o.Name}, nil
}

// checkComplete walks the DAG under c and fails on the first missing
// block. Raw leaves are checked with Has, so the walk reads only the
// interior nodes, a small fraction of a file's bytes.
func (n *Node) checkComplete(ctx context.Context, c cid.Cid) error {
	stack := []cid.Cid{c}
	seen := map[string]struct{}{}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := seen[c.KeyString()]; ok {
			continue
		}
		seen[c.KeyString()] = struct{}{}
		switch c.Prefix().Codec {
		case block.CodecRaw:
			ok, err := n.store.Has(ctx, c)
			if err != nil {
				return err
			}
			if !ok {
				return block.NotFound(c)
			}
		case block.CodecDagPB:
			data, err := n.get.Get(ctx, c)
			if err != nil {
				return err
			}
			stack, err = pb.AppendLinks(stack, data)
			if err != nil {
				return fmt.Errorf("%s: %w", c, err)
			}
		default:
			data, err := n.get.Get(ctx, c)
			if err != nil {
				return err
			}
			links, err := ipld.Links(c, data)
			if err != nil {
				return err
			}
			stack = append(stack, links...)
		}
	}
	return nil
}

// PinRm removes the pin on the CID at path. Content stays until GC.
func (n *Node) PinRm(ctx context.Context, path string) (PinInfo, error) {
	c, err := n.Resolve(ctx, path)
	if err != nil {
		return PinInfo{}, err
	}
	if err := n.store.Unpin(ctx, c); err != nil {
		// The store's error already names the CID.
		return PinInfo{}, fmt.Errorf("unpin: %w", err)
	}
	crashpoint.Hit(crashpoint.Unpinned)
	return PinInfo{Cid: c.String()}, nil
}

// PinLs lists every pin. It never returns nil, so the JSON is [] rather
// than null for an empty repo.
func (n *Node) PinLs(ctx context.Context) ([]PinInfo, error) {
	pins, err := n.store.Pins(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PinInfo, 0, len(pins))
	for _, p := range pins {
		out = append(out, pinInfo(p))
	}
	return out, nil
}

// GCResult reports what GC removed.
type GCResult struct {
	Blocks    int   `json:"Blocks"`    // blocks deleted
	Bytes     int64 `json:"Bytes"`     // their total length
	Refs      int   `json:"Refs"`      // references (--nocopy) deleted
	Missing   int   `json:"Missing"`   // blocks pinned DAGs reference but lack
	Reclaimed int64 `json:"Reclaimed"` // disk bytes returned by the value log
}

// GC deletes every block not reachable from a pin. Imports running
// concurrently are safe: their blocks are in open sessions.
func (n *Node) GC(ctx context.Context) (GCResult, error) {
	r, err := n.store.GC(ctx, blockstore.GCOptions{})
	if err != nil {
		return GCResult{}, err
	}
	return GCResult{Blocks: r.Blocks, Bytes: r.Bytes, Refs: r.Refs, Missing: r.Missing, Reclaimed: r.Reclaimed}, nil
}

// RepoStat summarises the repo for `trove repo stat`.
type RepoStat struct {
	Path   string `json:"Path"`
	PeerID string `json:"PeerID"`
	Blocks int64  `json:"Blocks"`
	Bytes  int64  `json:"Bytes"` // sum of block lengths
	Pins   int64  `json:"Pins"`
	// Refs and RefBytes count blocks kept as references into users'
	// files (add or get --nocopy) and the bytes they stand for, which
	// are not in Bytes nor on the repo's disk.
	Refs     int64 `json:"Refs"`
	RefBytes int64 `json:"RefBytes"`
	// DiskBytes is Badger's estimate of its files on disk, refreshed by
	// Badger about once a minute, so it lags recent writes.
	DiskBytes int64 `json:"DiskBytes"`
}

// RepoStat counts blocks, bytes and pins.
func (n *Node) RepoStat(ctx context.Context) (RepoStat, error) {
	s, err := n.store.Stat(ctx)
	if err != nil {
		return RepoStat{}, err
	}
	return RepoStat{
		Path: n.repo.Path, PeerID: n.repo.PeerID.String(),
		Blocks: s.Blocks, Bytes: s.Bytes, Pins: s.Pins, DiskBytes: s.DiskLSM + s.DiskVlog,
		Refs: s.Refs, RefBytes: s.RefBytes,
	}, nil
}

// BlockStat describes one stored block.
type BlockStat struct {
	Cid   string `json:"Cid"`
	Size  int    `json:"Size"`
	Codec string `json:"Codec"`
}

// BlockStat reports a block's size without reading its bytes (unless
// verification is on, when the bytes are read and checked).
func (n *Node) BlockStat(ctx context.Context, path string) (BlockStat, error) {
	c, err := n.Resolve(ctx, path)
	if err != nil {
		return BlockStat{}, err
	}
	var size int
	if n.verify {
		data, err := n.Content(Source{Offline: true}).Block(ctx, c)
		size = len(data)
		if err != nil {
			return BlockStat{}, err
		}
	} else if size, err = n.store.Size(ctx, c); err != nil {
		return BlockStat{}, err
	}
	return BlockStat{Cid: c.String(), Size: size, Codec: codecName(c.Prefix().Codec)}, nil
}

func codecName(code uint64) string {
	return ipld.Name(code)
}

// BlockGet writes one block's raw bytes to w.
func (n *Node) BlockGet(ctx context.Context, path string, w io.Writer) (int64, error) {
	c, err := n.Resolve(ctx, path)
	if err != nil {
		return 0, err
	}
	// Local blocks only, like DagExport: block get never fetches.
	data, err := n.Content(Source{Offline: true}).Block(ctx, c)
	if err != nil {
		return 0, err
	}
	m, err := w.Write(data)
	return int64(m), err
}

// DagExport writes the DAG at path to w as a CAR v1 archive.
func (n *Node) DagExport(ctx context.Context, path string, w io.Writer) error {
	c, err := n.Resolve(ctx, path)
	if err != nil {
		return err
	}
	// Local blocks only, as before the daemon could fetch: an export of
	// content the repo lacks fails rather than downloading it.
	return n.Content(Source{Offline: true}).ExportCAR(ctx, c, w)
}

// DagImportOptions qualifies DagImport. The zero value pins every root.
type DagImportOptions struct {
	// NoPin stores the blocks without pinning the roots, leaving them to
	// the next GC.
	NoPin bool
}

// DagImportResult reports an import.
type DagImportResult struct {
	Roots  []string `json:"Roots"`
	Blocks int      `json:"Blocks"`
}

// ErrIncomplete means an archive's roots name a DAG the archive (plus the
// store) does not fully contain, so they were not pinned. It wraps
// block.ErrNotFound through the error that carries it.
var ErrIncomplete = errors.New("DAG incomplete")

// DagImport reads a CAR v1 stream, verifying every block, makes it
// durable and pins its roots recursively. The blocks are written in a
// store session so a GC running meanwhile cannot sweep them before the pins
// land; a root whose DAG is incomplete fails the import and stays
// unpinned. On a daemon the pinned roots are announced.
func (n *Node) DagImport(ctx context.Context, r io.Reader, o DagImportOptions) (DagImportResult, error) {
	res, err := n.dagImport(ctx, r, o)
	if err != nil {
		return res, err
	}
	n.metrics.imported(res)
	if !o.NoPin {
		n.announce(res.Roots)
	}
	return res, nil
}

func (n *Node) dagImport(ctx context.Context, r io.Reader, o DagImportOptions) (DagImportResult, error) {
	ses := n.store.Session()
	defer ses.End()
	batch := ses.NewBatch()
	defer batch.Discard()
	roots, blocks, err := car.Import(ctx, r, batch)
	if err != nil {
		return DagImportResult{}, fmt.Errorf("dag import: %w", err)
	}
	if err := batch.Commit(); err != nil {
		return DagImportResult{}, fmt.Errorf("dag import: %w", err)
	}
	crashpoint.Hit(crashpoint.ImportCommitted)
	res := DagImportResult{Roots: make([]string, 0, len(roots)), Blocks: blocks}
	for _, c := range roots {
		res.Roots = append(res.Roots, c.String())
	}
	if o.NoPin {
		return res, nil
	}
	for _, c := range roots {
		if err := n.checkComplete(ctx, c); err != nil {
			return res, fmt.Errorf("root %s: %w: %w", c, ErrIncomplete, err)
		}
	}
	for _, c := range roots {
		if err := n.store.Pin(ctx, c, blockstore.PinOptions{}); err != nil {
			return res, err
		}
	}
	return res, nil
}
