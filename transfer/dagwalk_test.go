package transfer

import (
	"context"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
)

// walkAll runs a DAG walk to its end and returns the blocks it would send,
// the CIDs it would report missing, and its final status.
func walkAll(t *testing.T, src block.Getter, m Message) (sent, missing []cid.Cid, st Status) {
	t.Helper()
	w := &dagWalk{m: m}
	for range 10000 {
		c, data, status, done := w.next(context.Background(), src)
		if done {
			return sent, missing, status
		}
		if data == nil {
			missing = append(missing, c)
			continue
		}
		sent = append(sent, c)
	}
	t.Fatal("walk did not end")
	return
}

// chain stores n dag-pb nodes, each linking to the next, over one raw leaf,
// and returns the top: a DAG deeper than any real file.
func chain(t *testing.T, st *memstore.Store, n int) cid.Cid {
	ctx := context.Background()
	c, err := block.Sum(1, block.CodecRaw, block.HashSHA256, []byte("leaf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, c, []byte("leaf")); err != nil {
		t.Fatal(err)
	}
	for range n {
		b := encodeNode([]cid.Cid{c}, []uint64{4})
		if c, err = block.Sum(1, block.CodecDagPB, block.HashSHA256, b); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, c, b); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestDAGWalk(t *testing.T) {
	const chunk = 100
	st := memstore.New()
	root, leaves := buildFile(t, randomBytes(t, 50*chunk+10), chunk, 4, st) // 51 leaves, three inner levels
	all, _ := dfsOrder(t, st, root)
	var inner []cid.Cid
	for _, c := range all {
		if !slices.Contains(leaves, c) {
			inner = append(inner, c)
		}
	}
	// upTo is the DFS order before leaf i, without the leaves before from:
	// a leaf range sends the inner nodes it passes and stops at the first
	// leaf past its end.
	upTo := func(from, i int) []cid.Cid {
		var out []cid.Cid
		for _, c := range all[:slices.Index(all, leaves[i])] {
			if j := slices.Index(leaves, c); j < 0 || j >= from {
				out = append(out, c)
			}
		}
		return out
	}
	deep := memstore.New()
	deepRoot := chain(t, deep, maxDepth+2)
	shallowRoot := chain(t, deep, maxDepth-1)
	for _, tc := range []struct {
		name       string
		src        block.Getter
		m          Message
		sent       []cid.Cid // nil: check only the leaves in sentLeaves
		sentLeaves []cid.Cid
		missing    []cid.Cid
		status     Status
		maxSent    int // 0: no bound
	}{
		{name: "everything in DFS order", src: st, m: Message{CID: root}, sent: all},
		{name: "inner nodes only", src: st, m: Message{CID: root, Flags: FlagInnerOnly}, sent: inner},
		{name: "leaf range stops past its end", src: st, m: Message{CID: root, Start: 5, End: 9}, sent: upTo(5, 9)},
		{name: "leaf range to the end", src: st, m: Message{CID: root, Start: 49}, sent: append(upTo(49, 49), leaves[49:]...)},
		{
			name: "byte range skips subtrees by size", src: st,
			m:          Message{CID: root, Flags: FlagByteRange, Start: 20*chunk + 1, End: 22 * chunk},
			sentLeaves: leaves[20:22], maxSent: 8,
		},
		{name: "absent root", src: memstore.New(), m: Message{CID: root}, status: StatusNotFound},
		{
			name: "missing leaf is reported and skipped", src: faulty(st, memstore.Faults{Missing: leaves[3:4]}),
			m: Message{CID: root}, sent: slices.DeleteFunc(slices.Clone(all), func(c cid.Cid) bool { return c == leaves[3] }),
			missing: leaves[3:4],
		},
		{
			name: "missing inner node ends the walk", src: faulty(st, memstore.Faults{Missing: inner[1:2]}),
			m: Message{CID: root}, sent: all[:slices.Index(all, inner[1])], status: StatusNotFound,
		},
		{
			name: "corrupt inner node is refused", src: faulty(st, memstore.Faults{Corrupt: inner[1:2]}),
			m: Message{CID: root}, sent: all[:slices.Index(all, inner[1])], status: StatusBadRequest,
		},
		{name: "too deep is refused", src: deep, m: Message{CID: deepRoot}, status: StatusBadRequest, sentLeaves: []cid.Cid{}, maxSent: maxDepth + 1},
		{name: "deep but within bounds", src: deep, m: Message{CID: shallowRoot}, sentLeaves: []cid.Cid{chainLeaf(t)}, maxSent: maxDepth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent, missing, status := walkAll(t, tc.src, tc.m)
			if status != tc.status {
				t.Fatalf("status %v, want %v", status, tc.status)
			}
			if !slices.Equal(missing, tc.missing) {
				t.Fatalf("missing %v, want %v", missing, tc.missing)
			}
			if tc.sent != nil && !slices.Equal(sent, tc.sent) {
				t.Fatalf("sent %d blocks, want %d in DFS order", len(sent), len(tc.sent))
			}
			if tc.sentLeaves != nil {
				got := slices.DeleteFunc(slices.Clone(sent), func(c cid.Cid) bool { return c.Type() != block.CodecRaw })
				if !slices.Equal(got, tc.sentLeaves) {
					t.Fatalf("sent leaves %v, want %v", got, tc.sentLeaves)
				}
			}
			if tc.maxSent > 0 && len(sent) > tc.maxSent {
				t.Fatalf("sent %d blocks, want at most %d", len(sent), tc.maxSent)
			}
		})
	}
}

// chainLeaf is the raw leaf under every chain.
func chainLeaf(t *testing.T) cid.Cid {
	c, err := block.Sum(1, block.CodecRaw, block.HashSHA256, []byte("leaf"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// faulty copies st into a new store with faults, so one case's faults do
// not leak into the next.
func faulty(st *memstore.Store, f memstore.Faults) *memstore.Store {
	out := memstore.New()
	ctx := context.Background()
	for _, c := range st.Keys() {
		b, _ := st.Get(ctx, c)
		out.Put(ctx, c, b)
	}
	out.SetFaults(f)
	return out
}
