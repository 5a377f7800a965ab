package blockstore

import (
	"bytes"
	"context"
	"sync"
	"testing"
)

// TestBatchRelease checks the promise OnRelease makes to importers: every
// Put's buffer comes back exactly once before Commit or Discard returns,
// and only after Badger has its own copy, so scribbling over a released
// buffer cannot change what the store holds.
func TestBatchRelease(t *testing.T) {
	for _, tc := range []struct {
		name   string
		commit bool
	}{{"commit", true}, {"discard", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			// Small batches so that several flushes happen in the
			// background while Puts continue.
			s := openT(t, t.TempDir(), Options{BatchBytes: 64 << 10})
			blocks := dag(t, tc.name, 40, 20<<10)
			want := make(map[*byte][]byte)
			var (
				mu       sync.Mutex
				released = map[*byte]int{}
			)
			b := s.NewBatch()
			b.OnRelease(func(d []byte) {
				mu.Lock()
				released[&d[:1][0]]++
				mu.Unlock()
				for i := range d {
					d[i] = 0xEE
				}
			})
			for _, bl := range blocks {
				want[&bl.data[:1][0]] = bytes.Clone(bl.data)
				if err := b.Put(ctx, bl.c, bl.data); err != nil {
					t.Fatal(err)
				}
			}
			if tc.commit {
				if err := b.Commit(); err != nil {
					t.Fatal(err)
				}
			} else {
				b.Discard()
			}
			mu.Lock()
			defer mu.Unlock()
			if len(released) != len(blocks) {
				t.Fatalf("%d of %d buffers released", len(released), len(blocks))
			}
			for p, n := range released {
				if n != 1 {
					t.Fatalf("a buffer was released %d times", n)
				}
				if _, ok := want[p]; !ok {
					t.Fatal("released a buffer that was never Put")
				}
			}
			if !tc.commit {
				return
			}
			for _, bl := range blocks {
				got, err := s.Get(ctx, bl.c)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want[&bl.data[:1][0]]) {
					t.Fatalf("%s: stored bytes changed with the released buffer", bl.c)
				}
			}
		})
	}
}
