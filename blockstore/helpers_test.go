package blockstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/unixfs/pb"
)

func openT(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rawCid(t testing.TB, data []byte) cid.Cid {
	t.Helper()
	c, err := block.Sum(1, block.CodecRaw, block.HashSHA256, data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type blk struct {
	c    cid.Cid
	data []byte
}

// dag builds a two-level dag-pb DAG: a root linking to n raw leaves whose
// bytes derive from tag. The leaves come first, as an importer writes them.
func dag(t testing.TB, tag string, n, leafSize int) []blk {
	t.Helper()
	var out []blk
	var root pb.Node
	for i := range n {
		label := fmt.Sprintf("%s/leaf/%d/", tag, i)
		d := make([]byte, max(leafSize, len(label)))
		copy(d, label)
		c := rawCid(t, d)
		out = append(out, blk{c, d})
		root.Links = append(root.Links, pb.Link{Cid: c, Tsize: uint64(leafSize), HasTsize: true})
	}
	root.Data, root.HasData = []byte(tag), true
	rd := root.Marshal()
	rc, err := block.Sum(1, block.CodecDagPB, block.HashSHA256, rd)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, blk{rc, rd})
}

// pbRoot builds a dag-pb node linking to links.
func pbRoot(t testing.TB, links []cid.Cid) blk {
	t.Helper()
	var n pb.Node
	for _, c := range links {
		n.Links = append(n.Links, pb.Link{Cid: c})
	}
	d := n.Marshal()
	c, err := block.Sum(1, block.CodecDagPB, block.HashSHA256, d)
	if err != nil {
		t.Fatal(err)
	}
	return blk{c, d}
}

func putAll(t testing.TB, p block.Putter, bs []blk) {
	t.Helper()
	for _, b := range bs {
		if err := p.Put(context.Background(), b.c, b.data); err != nil {
			t.Fatal(err)
		}
	}
}

func mustHave(t testing.TB, s *Store, bs []blk, want bool) {
	t.Helper()
	for _, b := range bs {
		ok, err := s.Has(context.Background(), b.c)
		if err != nil {
			t.Fatal(err)
		}
		if ok != want {
			t.Fatalf("Has(%s) = %v, want %v", b.c, ok, want)
		}
	}
}
