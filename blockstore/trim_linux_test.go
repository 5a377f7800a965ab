package blockstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// vlogResident sums the resident bytes of this process's mappings of
// value-log files, from /proc/self/smaps.
func vlogResident(t *testing.T) int64 {
	t.Helper()
	return vlogResidentIn(t, "")
}

// vlogResidentIn is vlogResident for the value logs in dir ("" for all),
// so that stores of other tests in the process do not count.
func vlogResidentIn(t *testing.T, dir string) int64 {
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
			path := fs[len(fs)-1]
			in = strings.HasSuffix(path, ".vlog") && (dir == "" || filepath.Dir(path) == dir)
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

// TestReadRSSBounded reads 96 MiB of blocks back and checks that the
// value-log pages Get touched do not stay mapped into the process (the
// daemon streaming a 1 GiB file out grew by 1 GiB of RSS before), and that
// the data read, a second time too, is intact.
func TestReadRSSBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 96 MiB")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	pool := make([]byte, 8<<20)
	rand.NewChaCha8([32]byte{3}).Read(pool)
	const bs, total = 1 << 20, 96 << 20
	data := func(i int) []byte {
		off := (i * 4099) % (len(pool) - bs) // blocks differ and straddle pages
		return pool[off : off+bs]
	}
	b := s.NewBatch()
	var key [8]byte
	cids := make([]blk, total/bs)
	for i := range cids {
		binary.BigEndian.PutUint64(key[:], uint64(i))
		cids[i] = blk{rawCid(t, key[:]), data(i)}
		if err := b.Put(ctx, cids[i].c, cids[i].data); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		var peak int64
		for i, c := range cids {
			got, err := s.Get(ctx, c.c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, c.data) {
				t.Fatalf("round %d: block %d read back wrong", round, i)
			}
			peak = max(peak, vlogResidentIn(t, dir))
		}
		// Only the partial pages at the ends of each value stay mapped,
		// with what the kernel's fault-around (64 KiB) maps next to
		// them: 12 MiB at worst here, against 96 MiB without unmapping.
		if limit := int64(len(cids))*2*(64<<10) + 4<<20; peak > limit {
			t.Fatalf("round %d: value log had %d KiB resident while reading, want <= %d KiB", round, peak>>10, limit>>10)
		}
		t.Logf("round %d: peak value-log RSS %d KiB", round, peak>>10)
	}
}
