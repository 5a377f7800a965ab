package unixfs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// ErrMalformed is wrapped by errors caused by a DAG whose blocks decode but
// do not form valid UnixFS (a file whose sizes disagree, a link count that
// does not match its sizes, a HAMT with a bad fanout).
var ErrMalformed = errors.New("malformed unixfs")

// ErrNotDir and ErrNotFile report a path or call that expects one kind and
// meets another.
var (
	ErrNotDir  = errors.New("not a directory")
	ErrNotFile = errors.New("not a file")
)

// maxDepth bounds how deep any walk goes (file trees, HAMT shards, nested
// directories). Each level costs an attacker one block, but the walker
// pays stack and round trips; real DAGs stay far below it.
const maxDepth = 256

func malformed(c cid.Cid, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, c, fmt.Sprintf(format, args...))
}

// Kind says what a CID names.
type Kind int

const (
	// KindFile is a UnixFS file (dag-pb, possibly many blocks).
	KindFile Kind = iota + 1
	// KindDirectory is a basic or HAMT-sharded directory.
	KindDirectory
	// KindSymlink is a UnixFS symlink; Entry.Target holds its target.
	KindSymlink
	// KindRaw is a single raw-codec block; its bytes are the content, and
	// it reads like a file.
	KindRaw
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDirectory:
		return "directory"
	case KindSymlink:
		return "symlink"
	case KindRaw:
		return "raw"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// node is one decoded block of a UnixFS DAG.
type node struct {
	c    cid.Cid
	raw  []byte     // the whole block when c is a raw leaf
	pb   *pb.Node   // nil for raw leaves
	fs   *pb.FSNode // nil for raw leaves
	kind Kind
}

// getNode loads and decodes c.
func getNode(ctx context.Context, g block.Getter, c cid.Cid) (*node, error) {
	b, err := getBlock(ctx, g, c)
	if err != nil {
		return nil, err
	}
	return decodeNode(c, b)
}

// decodeNode decodes a block's bytes. It does not re-hash them; see the
// package comment.
func decodeNode(c cid.Cid, b []byte) (*node, error) {
	switch c.Type() {
	case block.CodecRaw:
		return &node{c: c, raw: b, kind: KindRaw}, nil
	case block.CodecDagPB:
	default:
		return nil, fmt.Errorf("%s: codec 0x%x: %w", c, c.Type(), block.ErrUnsupported)
	}
	n, err := pb.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	if !n.HasData {
		return nil, malformed(c, "dag-pb node without UnixFS data")
	}
	fs, err := pb.UnmarshalFS(n.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	nd := &node{c: c, pb: n, fs: fs}
	switch fs.Type {
	case pb.TFile, pb.TRaw:
		nd.kind = KindFile
	case pb.TDirectory, pb.THAMTShard:
		nd.kind = KindDirectory
	case pb.TSymlink:
		nd.kind = KindSymlink
	default:
		return nil, fmt.Errorf("%s: UnixFS type %v: %w", c, fs.Type, block.ErrUnsupported)
	}
	return nd, nil
}

// Entry describes what a CID names.
type Entry struct {
	Cid  cid.Cid
	Kind Kind
	// Size is the content length in bytes for files and raw blocks, the
	// target length for symlinks, and 0 for directories (whose size would
	// need the whole tree).
	Size uint64
	// Target is the symlink target, verbatim; empty for other kinds.
	Target string
	// Sharded is true for HAMT directories, which otherwise report as
	// KindDirectory.
	Sharded bool
	// Mode holds the permission bits (07777) the writer recorded, and
	// HasMode says whether it recorded any: UnixFS 1.5 metadata is
	// optional, and 0 is a valid mode, so absence needs its own flag.
	Mode    uint32
	HasMode bool
	// Mtime is the recorded modification time; zero when absent.
	Mtime time.Time
}

// Stat loads c's root block and reports what it is. It fetches one block.
func Stat(ctx context.Context, g block.Getter, c cid.Cid) (Entry, error) {
	n, err := getNode(ctx, g, c)
	if err != nil {
		return Entry{}, err
	}
	return n.entry()
}

func (n *node) entry() (Entry, error) {
	e := Entry{Cid: n.c, Kind: n.kind}
	if n.fs != nil {
		e.Mode, e.HasMode = n.fs.Mode&0o7777, n.fs.HasMode
		if m := n.fs.Mtime; m != nil {
			e.Mtime = time.Unix(m.Seconds, int64(m.Nanos)).UTC()
		}
	}
	switch n.kind {
	case KindRaw:
		e.Size = uint64(len(n.raw))
	case KindFile:
		f, err := decodeFileNode(n)
		if err != nil {
			return Entry{}, err
		}
		e.Size = f.size
	case KindSymlink:
		e.Target = string(n.fs.Data)
		e.Size = uint64(len(e.Target))
	case KindDirectory:
		e.Sharded = n.fs.Type == pb.THAMTShard
	}
	return e, nil
}
