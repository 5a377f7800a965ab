package blockstore

import (
	"context"
	"testing"
)

// A fresh store's Stat must show the disk space its blocks take right
// away; Badger's own estimate lagged by a minute and showed 0.
func TestStatDiskBytesImmediate(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	const n, size = 8, 1 << 20
	b := s.NewBatch()
	for _, x := range dag(t, "disk", n, size) {
		if err := b.Put(ctx, x.c, x.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes < n*size {
		t.Fatalf("Bytes = %d, want >= %d", st.Bytes, n*size)
	}
	if st.DiskVlog < n*size {
		t.Errorf("DiskVlog = %d, want >= %d (the blocks live in the value log)", st.DiskVlog, n*size)
	}
	// The value log is preallocated sparse: the allocated figure must not
	// be the nominal file size (256 MiB by default).
	if st.DiskVlog > 64<<20 {
		t.Errorf("DiskVlog = %d: counted file length, not allocated space", st.DiskVlog)
	}
}
