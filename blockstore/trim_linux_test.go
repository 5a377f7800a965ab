package blockstore

import (
	"bufio"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// vlogResident sums the resident bytes of this process's mappings of
// value-log files, from /proc/self/smaps.
func vlogResident(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	var sum int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":") {
			in = strings.HasSuffix(fs[len(fs)-1], ".vlog")
			continue
		}
		if in && fs[0] == "Rss:" && len(fs) >= 2 {
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			sum += kb << 10
		}
	}
	return sum
}

// TestImportRSSBounded writes 192 MiB through a Batch and checks that the
// value log never has more than a few trims' worth resident: without the
// sync-and-page-out every written byte stays in RSS.
func TestImportRSSBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 192 MiB")
	}
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	pool := make([]byte, 16<<20)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(pool)
	const bs, total = 1 << 20, 192 << 20
	b := s.NewBatch()
	defer b.Discard()
	var peak int64
	var key [8]byte
	for i := range total / bs {
		binary.BigEndian.PutUint64(key[:], uint64(i))
		off := (i * bs) % len(pool)
		if err := b.Put(ctx, rawCid(t, key[:]), pool[off:off+bs]); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, vlogResident(t))
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	// trimLimit of unsynced bytes, plus what Badger wrote while the last
	// sync ran, plus one page-out's slack.
	if limit := int64(trimLimit + 3*defaultBatchBytes + trimEvery); peak > limit {
		t.Fatalf("value log had %d MiB resident, want <= %d MiB", peak>>20, limit>>20)
	}
	t.Logf("peak value-log RSS %d MiB", peak>>20)
}
