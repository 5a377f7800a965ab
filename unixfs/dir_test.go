package unixfs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
	"github.com/trove-p2p/trove/unixfs/pb"
)

func TestReadDirAndLookup(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		n       int
		fanout  int // 0: basic directory
		sharded bool
		// maxGets bounds the blocks one Lookup may fetch: one per level
		// the names' hashes need, never the whole shard.
		maxGets int
	}{
		{"basic empty", 0, 0, false, 1},
		{"basic", 50, 0, false, 1},
		{"hamt 256 small", 10, 256, true, 1},
		{"hamt 256 multilevel", 3000, 256, true, 3},
		{"hamt 16 deep", 2000, 16, true, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t)
			var ents []entry
			for i := range tc.n {
				name := fmt.Sprintf("file-%05d", i)
				ents = append(ents, entry{name, b.raw([]byte(name))})
			}
			var dir cid.Cid
			if tc.fanout == 0 {
				dir = b.dir(ents...)
			} else {
				dir = b.hamt(ents, tc.fanout)
			}
			st, err := Stat(ctx, b.s, dir)
			if err != nil || st.Kind != KindDirectory || st.Sharded != tc.sharded {
				t.Fatalf("Stat = %+v, %v", st, err)
			}
			got, err := ReadDir(ctx, b.s, dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.n {
				t.Fatalf("ReadDir: %d entries, want %d", len(got), tc.n)
			}
			for i, e := range got {
				if e.Name != ents[i].name || !e.Cid.Equals(ents[i].c) {
					t.Fatalf("entry %d = %s %s, want %s %s", i, e.Name, e.Cid, ents[i].name, ents[i].c)
				}
			}
			for _, e := range ents {
				before := b.s.Gets()
				d, err := Lookup(ctx, b.s, dir, e.name)
				if err != nil || !d.Cid.Equals(e.c) {
					t.Fatalf("Lookup(%s) = %v, %v", e.name, d.Cid, err)
				}
				if fetched := b.s.Gets() - before; fetched > tc.maxGets {
					t.Fatalf("Lookup(%s) fetched %d blocks", e.name, fetched)
				}
			}
			for _, name := range []string{"absent", "file-99999", "FILE-00001"} {
				if _, err := Lookup(ctx, b.s, dir, name); !errors.Is(err, block.ErrNotFound) || !errors.Is(err, ErrNoName) {
					t.Fatalf("Lookup(%s) err = %v, want ErrNoName, matching ErrNotFound", name, err)
				}
			}
		})
	}
}

func TestDirErrors(t *testing.T) {
	ctx := context.Background()
	b := newBuilder(t)
	leaf := b.raw([]byte("x"))
	var ents []entry
	for i := range 300 {
		ents = append(ents, entry{fmt.Sprint(i), leaf})
	}
	hamt := b.hamt(ents, 256)
	var shardCid cid.Cid
	n, _ := getNode(ctx, b.s, hamt)
	for _, l := range n.pb.Links {
		if len(l.Name) == 2 {
			shardCid = l.Cid
			break
		}
	}
	if !shardCid.Defined() {
		t.Fatal("no sub-shard in a 300-entry HAMT")
	}
	if _, err := ReadDir(ctx, b.s, leaf); !errors.Is(err, ErrNotDir) {
		t.Errorf("ReadDir(raw) = %v", err)
	}
	if _, err := Lookup(ctx, b.s, leaf, "x"); !errors.Is(err, ErrNotDir) {
		t.Errorf("Lookup(raw) = %v", err)
	}
	b.s.SetFaults(memstore.Faults{Missing: []cid.Cid{shardCid}})
	if _, err := ReadDir(ctx, b.s, hamt); !errors.Is(err, block.ErrNotFound) || !strings.Contains(err.Error(), shardCid.String()) {
		t.Errorf("ReadDir with a lost shard = %v", err)
	}
	// A lost block is not a missing name: peers could still supply it.
	if _, err := ReadDir(ctx, b.s, hamt); errors.Is(err, ErrNoName) {
		t.Errorf("a lost shard reads as a missing name: %v", err)
	}
}

func TestParsePath(t *testing.T) {
	c := newBuilder(t).raw([]byte("x"))
	s := c.String()
	tests := []struct {
		in    string
		parts []string
		ok    bool
	}{
		{s, nil, true},
		{s + "/a", []string{"a"}, true},
		{s + "/a/b c/d", []string{"a", "b c", "d"}, true},
		{"/ipfs/" + s + "/a/b", []string{"a", "b"}, true},
		{"/ipfs/" + s, nil, true},
		{s + "/", nil, false},
		{s + "//a", nil, false},
		{s + "/a/../b", nil, false},
		{s + "/./a", nil, false},
		{s + "/a\\b", nil, false},
		{s + "/a\x00", nil, false},
		{"/ipns/" + s, nil, false},
		{"/" + s, nil, false},
		{"notacid/a", nil, false},
		{"", nil, false},
	}
	for _, tc := range tests {
		got, parts, err := ParsePath(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParsePath(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if !tc.ok {
			if !errors.Is(err, ErrBadPath) {
				t.Errorf("ParsePath(%q) err = %v, want ErrBadPath", tc.in, err)
			}
			continue
		}
		if !got.Equals(c) || !slices.Equal(parts, tc.parts) {
			t.Errorf("ParsePath(%q) = %s %q", tc.in, got, parts)
		}
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	b := newBuilder(t)
	leaf := b.raw([]byte("leaf"))
	link := b.symlink("inner")
	var many []entry
	for i := range 500 {
		many = append(many, entry{fmt.Sprint("n", i), leaf})
	}
	many = append(many, entry{"deep", b.dir(entry{"leaf", leaf})})
	inner := b.dir(entry{"f", leaf}, entry{"h", b.hamt(many, 256)})
	root := b.dir(entry{"inner", inner}, entry{"link", link}, entry{"file", leaf})
	tests := []struct {
		path string
		want cid.Cid
		err  error
		at   string // the failing prefix the error must name
	}{
		{"", root, nil, ""},
		{"inner", inner, nil, ""},
		{"inner/f", leaf, nil, ""},
		{"inner/h/n123", leaf, nil, ""},
		{"inner/h/deep/leaf", leaf, nil, ""},
		{"inner/h/n999", cid.Undef, block.ErrNotFound, "inner/h/n999"},
		{"nope/x", cid.Undef, block.ErrNotFound, "/nope"},
		{"file/x", cid.Undef, ErrNotDir, "file/x"},
		{"link/f", cid.Undef, ErrNotDir, "link/f"},
		{"inner/../file", cid.Undef, ErrBadPath, ".."},
		{"inner//f", cid.Undef, ErrBadPath, "empty"},
		{"/inner", cid.Undef, ErrBadPath, "empty"},
	}
	for _, tc := range tests {
		got, err := Resolve(ctx, b.s, root, tc.path)
		if tc.err != nil {
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.at) {
				t.Errorf("Resolve(%q) err = %v, want %v naming %q", tc.path, err, tc.err, tc.at)
			}
			continue
		}
		if err != nil || !got.Equals(tc.want) {
			t.Errorf("Resolve(%q) = %s, %v; want %s", tc.path, got, err, tc.want)
		}
	}
}

// TestHostileHAMT builds shards by hand that no honest writer produces and
// checks that ReadDir refuses them rather than listing names Lookup could
// not find.
func TestHostileHAMT(t *testing.T) {
	ctx := context.Background()
	b := newBuilder(t)
	leaf := b.raw([]byte("x"))
	shardFS := func(fanout uint64) *pb.FSNode {
		return &pb.FSNode{Type: pb.THAMTShard, HashType: hamtMurmur3, HasHashType: true, Fanout: fanout, HasFanout: true}
	}
	link := func(name string, c cid.Cid) pb.Link { return pb.Link{Cid: c, Name: name, HasName: true} }
	slotOf := func(name string) string { return fmt.Sprintf("%02X", hamtIndex(name, 0, 8)) }
	wrong := fmt.Sprintf("%02X", (hamtIndex("a", 0, 8)+1)%256)
	good := b.pbNode([]pb.Link{link(slotOf("a")+"a", leaf)}, shardFS(256))
	lettered := "n0" // a name whose slot prefix has a hex letter, so case matters
	for i := 0; !strings.ContainsAny(slotOf(lettered), "ABCDEF"); i++ {
		lettered = fmt.Sprint("n", i)
	}
	tests := []struct {
		name string
		root cid.Cid
		want error
	}{
		{"control", good, nil},
		{"entry in the wrong slot", b.pbNode([]pb.Link{link(wrong+"a", leaf)}, shardFS(256)), ErrMalformed},
		{"lower-case prefix", b.pbNode([]pb.Link{link(strings.ToLower(slotOf(lettered))+lettered, leaf)}, shardFS(256)), ErrMalformed},
		{"non-hex prefix", b.pbNode([]pb.Link{link("G1a", leaf)}, shardFS(256)), ErrMalformed},
		{"short name", b.pbNode([]pb.Link{link("A", leaf)}, shardFS(256)), ErrMalformed},
		{"fanout not a power of two", b.pbNode(nil, shardFS(200)), ErrMalformed},
		{"fanout changes", b.pbNode([]pb.Link{link("00", b.pbNode(nil, shardFS(16)))}, shardFS(256)), ErrMalformed},
		{"sub-shard is a file", b.pbNode([]pb.Link{link("00", leaf)}, shardFS(256)), ErrMalformed},
		{"unknown hash", b.pbNode(nil, &pb.FSNode{Type: pb.THAMTShard, HashType: 0x12, HasHashType: true, Fanout: 256, HasFanout: true}), block.ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadDir(ctx, b.s, tc.root)
			if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
				t.Fatalf("ReadDir err = %v, want %v", err, tc.want)
			}
		})
	}
}

// Stat carries the optional UnixFS 1.5 mode and mtime, and tells a
// recorded mode 0 from no mode at all.
func TestStatModeMtime(t *testing.T) {
	b := newBuilder(t)
	for _, tc := range []struct {
		name    string
		fs      pb.FSNode
		mode    uint32
		hasMode bool
		mtime   time.Time
	}{
		{"none", pb.FSNode{Type: pb.TFile, Data: []byte("x")}, 0, false, time.Time{}},
		{"mode only", pb.FSNode{Type: pb.TFile, Data: []byte("x"), Mode: 0o100755, HasMode: true}, 0o755, true, time.Time{}},
		{"mode zero", pb.FSNode{Type: pb.TDirectory, HasMode: true}, 0, true, time.Time{}},
		{"mtime", pb.FSNode{Type: pb.TFile, Mtime: &pb.Mtime{Seconds: 1700000000, Nanos: 5, HasNanos: true}}, 0, false, time.Unix(1700000000, 5).UTC()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := tc.fs
			c := b.pbNode(nil, &fs)
			e, err := Stat(context.Background(), b.s, c)
			if err != nil {
				t.Fatal(err)
			}
			if e.Mode != tc.mode || e.HasMode != tc.hasMode || !e.Mtime.Equal(tc.mtime) {
				t.Errorf("Stat = mode %o (%v) mtime %v, want %o (%v) %v", e.Mode, e.HasMode, e.Mtime, tc.mode, tc.hasMode, tc.mtime)
			}
		})
	}
}
