package car

import (
	"bytes"
	"context"
	"sync"
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

	var mu sync.Mutex
	cur, peak := 0, 0
	d.s.SetFaults(memstore.Faults{OnGet: func(ctx context.Context, c cid.Cid) error {
		mu.Lock()
		cur++
		peak = max(peak, cur)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		cur--
		mu.Unlock()
		return nil
	}})
	var slow bytes.Buffer
	if err := Export(ctx, d.s, root, &slow); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fast.Bytes(), slow.Bytes()) {
		t.Fatal("archive depends on getter timing")
	}
	if peak < 2 || peak > prefetchWindow+1 {
		t.Fatalf("peak concurrent Gets = %d, want 2..%d", peak, prefetchWindow+1)
	}
	t.Logf("peak concurrent Gets: %d", peak)
}
