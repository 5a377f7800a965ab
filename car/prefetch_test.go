package car

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/internal/memstore"
)

// TestExportPrefetchBounded checks that Export keeps several Gets in flight
// against a slow getter, but never more than its window (plus the one it is
// waiting on), and still produces the same archive as without latency.
func TestExportPrefetchBounded(t *testing.T) {
	ctx := context.Background()
	d := newDAG(t)
	var leaves []cid.Cid
	for i := range 40 {
		leaves = append(leaves, d.raw([]byte{byte(i), 1, 2, 3}))
	}
	root := d.node(1, nil, d.node(1, nil, leaves[:20]...), d.node(1, nil, leaves[20:]...))

	var fast bytes.Buffer
	if err := Export(ctx, d.s, root, &fast); err != nil {
		t.Fatal(err)
	}

	d.s.SetFaults(memstore.Faults{OnGet: func(context.Context, cid.Cid) error {
		time.Sleep(5 * time.Millisecond)
		return nil
	}})
	var slow bytes.Buffer
	if err := Export(ctx, d.s, root, &slow); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fast.Bytes(), slow.Bytes()) {
		t.Fatal("archive depends on getter timing")
	}
	peak := d.s.PeakGets()
	if peak < 2 || peak > prefetchWindow+1 {
		t.Fatalf("peak concurrent Gets = %d, want 2..%d", peak, prefetchWindow+1)
	}
	t.Logf("peak concurrent Gets: %d", peak)
}
