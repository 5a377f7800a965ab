package unixfs

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/spaolacci/murmur3"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/unixfs/pb"
	"golang.org/x/sync/errgroup"
)

// DirEntry is one name in a directory.
type DirEntry struct {
	Name string
	Cid  cid.Cid
	// Tsize is the link's cumulative DAG size as the writer recorded it:
	// a hint for progress bars, never trusted for reading.
	Tsize uint64
}

// hamtMurmur3 is the multihash code of the only HAMT hash function UnixFS
// defines (murmur3-x64-64).
const hamtMurmur3 = 0x22

// shardFetchers bounds concurrent sub-shard fetches while listing a HAMT;
// over the network each is a round trip, locally it costs nothing.
const shardFetchers = 8

// ReadDir lists a basic or HAMT-sharded directory. Basic directories are
// listed in link order (sorted by name, as writers produce them); HAMT
// entries come in hash order, which means nothing, so they are sorted by
// name. Names are returned as stored: callers that create files from them
// must validate them (WriteTo does).
func ReadDir(ctx context.Context, g block.Getter, c cid.Cid) ([]DirEntry, error) {
	n, err := getNode(ctx, g, c)
	if err != nil {
		return nil, err
	}
	return readDir(ctx, g, n)
}

func readDir(ctx context.Context, g block.Getter, n *node) ([]DirEntry, error) {
	if n.kind != KindDirectory {
		return nil, fmt.Errorf("%s is a %v: %w", n.c, n.kind, ErrNotDir)
	}
	if n.fs.Type == pb.TDirectory {
		out := make([]DirEntry, len(n.pb.Links))
		for i, l := range n.pb.Links {
			out[i] = DirEntry{Name: l.Name, Cid: l.Cid, Tsize: l.Tsize}
		}
		return out, nil
	}
	var (
		mu  sync.Mutex
		out []DirEntry
	)
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(shardFetchers)
	root, err := newShard(n, 0)
	if err != nil {
		return nil, err
	}
	// walk lists one shard node; slots are the slot indices that led to
	// it. Every entry must sit on the path its name hashes to, so that
	// listing and Lookup agree and one name cannot appear in two places.
	var walk func(n *node, slots []uint64) error
	walk = func(n *node, slots []uint64) error {
		depth := len(slots)
		h, err := newShard(n, depth)
		if err != nil {
			return err
		}
		if h != root {
			return malformed(n.c, "HAMT fanout changes between levels")
		}
		for _, l := range n.pb.Links {
			idx, err := h.slot(n.c, l.Name)
			if err != nil {
				return err
			}
			path := append(slices.Clip(slots), idx)
			if name := l.Name[h.padLen:]; name != "" {
				for d, want := range path {
					if hamtIndex(name, d, h.bits) != want {
						return malformed(n.c, "HAMT entry %q is not in the slot its hash selects", name)
					}
				}
				mu.Lock()
				out = append(out, DirEntry{Name: name, Cid: l.Cid, Tsize: l.Tsize})
				mu.Unlock()
				continue
			}
			child := l.Cid
			// A full errgroup would run the function inline; TryGo keeps
			// the walk going on this goroutine instead.
			sub := func() error {
				cn, err := getNode(ctx, g, child)
				if err != nil {
					return err
				}
				return walk(cn, path)
			}
			if !eg.TryGo(sub) {
				if err := sub(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	eg.Go(func() error { return walk(n, nil) })
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// shard is what a HAMT node's UnixFS data says about its layout.
type shard struct {
	bits   int // hash bits consumed per level: log2(fanout)
	padLen int // hex digits in a link name's slot prefix
}

func newShard(n *node, depth int) (shard, error) {
	fs := n.fs
	if n.kind != KindDirectory || fs.Type != pb.THAMTShard {
		return shard{}, malformed(n.c, "HAMT links to a non-shard node")
	}
	if !fs.HasHashType || fs.HashType != hamtMurmur3 {
		return shard{}, fmt.Errorf("%s: HAMT hash function 0x%x: %w", n.c, fs.HashType, block.ErrUnsupported)
	}
	// Fanout must be a power of two of at least 8 bits (so slots are
	// whole hex digits, as every writer produces) and small enough that a
	// node's bitfield is a sane size.
	if !fs.HasFanout || fs.Fanout < 8 || fs.Fanout > 4096 || bits.OnesCount64(fs.Fanout) != 1 {
		return shard{}, malformed(n.c, "HAMT fanout %d", fs.Fanout)
	}
	b := bits.TrailingZeros64(fs.Fanout)
	if (depth+1)*b > 64 || depth > maxDepth {
		return shard{}, malformed(n.c, "HAMT deeper than its 64-bit hash allows")
	}
	return shard{bits: b, padLen: len(fmt.Sprintf("%X", fs.Fanout-1))}, nil
}

// slot parses the slot index at the start of a HAMT link name. Writers
// use fixed-width upper-case hex; anything else would be found by a
// listing but missed by Lookup, so it is refused.
func (h shard) slot(c cid.Cid, linkName string) (uint64, error) {
	if len(linkName) < h.padLen {
		return 0, malformed(c, "HAMT link name %q shorter than its %d-char prefix", linkName, h.padLen)
	}
	idx, err := strconv.ParseUint(linkName[:h.padLen], 16, 64)
	if err != nil || idx>>h.bits != 0 || fmt.Sprintf("%0*X", h.padLen, idx) != linkName[:h.padLen] {
		return 0, malformed(c, "HAMT link name %q has no valid slot prefix", linkName)
	}
	return idx, nil
}

// hamtIndex is the slot of name at a depth: the murmur3-x64-64 hash of the
// name as 8 big-endian bytes, read most significant bit first, bits at a
// time.
func hamtIndex(name string, depth, bits int) uint64 {
	// Reading the big-endian bytes MSB first is reading the number's
	// bits from the top.
	v := murmur3.Sum64([]byte(name))
	return (v << (depth * bits)) >> (64 - bits)
}

// ErrNoName means a directory has no entry of the name asked for. It
// matches block.ErrNotFound too, but unlike a missing block, fetching
// from peers cannot help: the directory is there and says so.
var ErrNoName error = noName{}

type noName struct{}

func (noName) Error() string        { return "no such entry" }
func (noName) Is(target error) bool { return target == block.ErrNotFound }

// Lookup finds one name in a directory. In a HAMT it follows the name's
// hash and fetches one block per level instead of listing the shard. A
// missing name wraps ErrNoName (and so block.ErrNotFound).
func Lookup(ctx context.Context, g block.Getter, dir cid.Cid, name string) (DirEntry, error) {
	n, err := getNode(ctx, g, dir)
	if err != nil {
		return DirEntry{}, err
	}
	return lookup(ctx, g, n, name)
}

func lookup(ctx context.Context, g block.Getter, n *node, name string) (DirEntry, error) {
	if n.kind != KindDirectory {
		return DirEntry{}, fmt.Errorf("%s is a %v: %w", n.c, n.kind, ErrNotDir)
	}
	notFound := fmt.Errorf("%q in %s: %w", name, n.c, ErrNoName)
	if n.fs.Type == pb.TDirectory {
		for _, l := range n.pb.Links {
			if l.Name == name {
				return DirEntry{Name: name, Cid: l.Cid, Tsize: l.Tsize}, nil
			}
		}
		return DirEntry{}, notFound
	}
	for depth := 0; ; depth++ {
		h, err := newShard(n, depth)
		if err != nil {
			return DirEntry{}, err
		}
		prefix := fmt.Sprintf("%0*X", h.padLen, hamtIndex(name, depth, h.bits))
		var next *pb.Link
		for i := range n.pb.Links {
			l := &n.pb.Links[i]
			if !strings.HasPrefix(l.Name, prefix) {
				continue
			}
			if len(l.Name) == h.padLen {
				next = l
				break
			}
			if l.Name[h.padLen:] == name {
				return DirEntry{Name: name, Cid: l.Cid, Tsize: l.Tsize}, nil
			}
		}
		if next == nil {
			return DirEntry{}, notFound
		}
		if n, err = getNode(ctx, g, next.Cid); err != nil {
			return DirEntry{}, err
		}
	}
}
