package unixfs

import (
	"context"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// builder writes UnixFS DAGs with package pb directly, so tests can make
// shapes an importer never would: hostile names, lying sizes, odd trees.
type builder struct {
	t testing.TB
	s *memstore.Store
}

func newBuilder(t testing.TB) *builder { return &builder{t: t, s: memstore.New()} }

func (b *builder) put(version int, codec uint64, data []byte) cid.Cid {
	b.t.Helper()
	c, err := block.Sum(version, codec, block.HashSHA256, data)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.s.Put(context.Background(), c, data); err != nil {
		b.t.Fatal(err)
	}
	return c
}

func (b *builder) raw(data []byte) cid.Cid { return b.put(1, block.CodecRaw, data) }

func (b *builder) pbNode(links []pb.Link, fs *pb.FSNode) cid.Cid {
	n := &pb.Node{Links: links, Data: fs.Marshal(), HasData: true}
	return b.put(1, block.CodecDagPB, n.Marshal())
}

// fileOpts shapes a file DAG.
type fileOpts struct {
	chunk, fanout int
	dagpbLeaves   bool // old-style dag-pb leaves instead of raw ones
	inline        int  // bytes the root keeps in its own Data before its children
}

// file builds a balanced file DAG over data and returns its root.
func (b *builder) file(data []byte, o fileOpts) cid.Cid {
	b.t.Helper()
	inline := data[:min(o.inline, len(data))]
	data = data[len(inline):]
	var level []sub
	for off := 0; off < len(data); off += o.chunk {
		chunk := data[off:min(off+o.chunk, len(data))]
		if o.dagpbLeaves {
			c := b.pbNode(nil, &pb.FSNode{Type: pb.TFile, Data: chunk, FileSize: uint64(len(chunk)), HasFileSize: true})
			level = append(level, sub{c, uint64(len(chunk))})
		} else {
			level = append(level, sub{b.raw(chunk), uint64(len(chunk))})
		}
	}
	for {
		if len(level) == 1 && len(inline) == 0 {
			return level[0].c
		}
		if len(level) <= o.fanout {
			return b.fileParent(level, inline).c
		}
		var next []sub
		for i := 0; i < len(level); i += o.fanout {
			next = append(next, b.fileParent(level[i:min(i+o.fanout, len(level))], nil))
		}
		level = next
	}
}

type sub struct {
	c    cid.Cid
	size uint64
}

func (b *builder) fileParent(kids []sub, inline []byte) sub {
	fs := pb.FSNode{Type: pb.TFile, Data: inline}
	total := uint64(len(inline))
	var links []pb.Link
	for _, k := range kids {
		links = append(links, pb.Link{Cid: k.c, Tsize: k.size, HasTsize: true})
		fs.BlockSizes = append(fs.BlockSizes, k.size)
		total += k.size
	}
	fs.FileSize, fs.HasFileSize = total, true
	return sub{b.pbNode(links, &fs), total}
}

type entry struct {
	name string
	c    cid.Cid
}

// dir builds a basic directory with entries in the given order, whatever
// their names.
func (b *builder) dir(ents ...entry) cid.Cid {
	var links []pb.Link
	for _, e := range ents {
		links = append(links, pb.Link{Cid: e.c, Name: e.name, HasName: true, Tsize: 1, HasTsize: true})
	}
	return b.pbNode(links, &pb.FSNode{Type: pb.TDirectory})
}

func (b *builder) symlink(target string) cid.Cid {
	return b.pbNode(nil, &pb.FSNode{Type: pb.TSymlink, Data: []byte(target)})
}

// hamt builds a HAMT directory with the given fanout, placing entries
// with hamtIndex. The layout (and so its bit order) is checked against
// Kubo-written HAMTs in TestForeignHAMT.
func (b *builder) hamt(ents []entry, fanout int) cid.Cid {
	return b.hamtLevel(ents, fanout, 0)
}

func (b *builder) hamtLevel(ents []entry, fanout, depth int) cid.Cid {
	bitsPer := 0
	for 1<<bitsPer < fanout {
		bitsPer++
	}
	pad := len(fmt.Sprintf("%X", fanout-1))
	slots := make([][]entry, fanout)
	for _, e := range ents {
		i := hamtIndex(e.name, depth, bitsPer)
		slots[i] = append(slots[i], e)
	}
	var links []pb.Link
	bitfield := make([]byte, fanout/8)
	for i, s := range slots {
		if len(s) == 0 {
			continue
		}
		bitfield[len(bitfield)-1-i/8] |= 1 << (i % 8)
		prefix := fmt.Sprintf("%0*X", pad, i)
		if len(s) == 1 {
			links = append(links, pb.Link{Cid: s[0].c, Name: prefix + s[0].name, HasName: true, Tsize: 1, HasTsize: true})
			continue
		}
		sub := b.hamtLevel(s, fanout, depth+1)
		links = append(links, pb.Link{Cid: sub, Name: prefix, HasName: true, Tsize: 1, HasTsize: true})
	}
	return b.pbNode(links, &pb.FSNode{
		Type: pb.THAMTShard, Data: bitfield,
		HashType: hamtMurmur3, HasHashType: true,
		Fanout: uint64(fanout), HasFanout: true,
	})
}
