package unixfs

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// FuzzParsePath: no panic, and whatever is accepted has only valid
// components and survives being printed and parsed again.
func FuzzParsePath(f *testing.F) {
	c := newBuilder(f).raw([]byte("x")).String()
	for _, s := range []string{c, c + "/a/b", "/ipfs/" + c + "/a", c + "/../x", c + "//", "/ipns/x", "", "/ipfs/", c + "/a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		root, parts, err := ParsePath(s)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("error not ErrBadPath: %v", err)
			}
			return
		}
		for _, p := range parts {
			if CheckName(p) != nil {
				t.Fatalf("accepted bad component %q", p)
			}
		}
		again := root.String()
		if len(parts) > 0 {
			again += "/" + strings.Join(parts, "/")
		}
		r2, p2, err := ParsePath(again)
		if err != nil || !r2.Equals(root) || len(p2) != len(parts) {
			t.Fatalf("%q -> %q does not parse back: %v", s, again, err)
		}
	})
}

// FuzzNode stores one arbitrary dag-pb block whose links point at a few
// real blocks and runs every reader over it. Nothing may panic or hang,
// reads stay within the reported size, and errors are classified.
func FuzzNode(f *testing.F) {
	b := newBuilder(f)
	leaf := b.raw([]byte("0123456789"))
	seed := func(links []pb.Link, fs *pb.FSNode) {
		f.Add((&pb.Node{Links: links, Data: fs.Marshal(), HasData: true}).Marshal())
	}
	seed([]pb.Link{{Cid: leaf}, {Cid: leaf}}, &pb.FSNode{Type: pb.TFile, BlockSizes: []uint64{10, 10}})
	seed([]pb.Link{{Cid: leaf, Name: "a", HasName: true}}, &pb.FSNode{Type: pb.TDirectory})
	seed([]pb.Link{{Cid: leaf, Name: "FFa", HasName: true}}, &pb.FSNode{Type: pb.THAMTShard, HashType: 0x22, HasHashType: true, Fanout: 256, HasFanout: true})
	seed(nil, &pb.FSNode{Type: pb.TSymlink, Data: []byte("../x")})
	seed(nil, &pb.FSNode{Type: pb.TFile, Data: []byte("inline")})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		ctx := context.Background()
		s := memstore.New()
		s.Put(ctx, leaf, []byte("0123456789"))
		c, err := block.Sum(1, block.CodecDagPB, block.HashSHA256, data)
		if err != nil {
			t.Fatal(err)
		}
		s.Put(ctx, c, data)
		classified := func(err error) bool {
			return err == nil || errors.Is(err, ErrMalformed) || errors.Is(err, pb.ErrMalformed) ||
				errors.Is(err, block.ErrNotFound) || errors.Is(err, block.ErrUnsupported) ||
				errors.Is(err, ErrNotDir) || errors.Is(err, ErrNotFile) || errors.Is(err, block.ErrTooLarge)
		}
		st, err := Stat(ctx, s, c)
		if !classified(err) {
			t.Fatalf("Stat: %v", err)
		}
		if err != nil {
			return
		}
		switch st.Kind {
		case KindFile:
			fl, err := NewFile(ctx, s, c)
			if err != nil {
				t.Fatalf("Stat ok but NewFile: %v", err)
			}
			defer fl.Close()
			if st.Size > 1<<20 {
				return // sizes are claims; reading would only find the lie later
			}
			got, err := io.ReadAll(fl)
			if !classified(err) {
				t.Fatalf("read: %v", err)
			}
			if err == nil && uint64(len(got)) != st.Size {
				t.Fatalf("read %d bytes of a %d-byte file", len(got), st.Size)
			}
		case KindDirectory:
			ents, err := ReadDir(ctx, s, c)
			if !classified(err) {
				t.Fatalf("ReadDir: %v", err)
			}
			for _, e := range ents {
				if _, err := Lookup(ctx, s, c, e.Name); !classified(err) {
					t.Fatalf("Lookup: %v", err)
				}
			}
		}
	})
}
