package blockstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/trove-p2p/trove/block"
)

// smallDisk mounts a tmpfs of sizeMiB under a temp dir and unmounts it
// when the test ends; it skips the test where mounting is not allowed.
func smallDisk(t *testing.T, sizeMiB int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+itoa(sizeMiB)+"m"); err != nil {
		t.Skipf("cannot mount a small filesystem (needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

func itoa(n int) string {
	b := []byte{}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// fill writes a file of n MiB in dir, standing for whatever else uses the
// disk; removing it frees the space.
func fill(t *testing.T, dir string, mib int) string {
	t.Helper()
	p := filepath.Join(dir, "other-data")
	if err := os.WriteFile(p, make([]byte, mib<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFullDisk fills a small filesystem through each write path. Before
// the space check Badger, writing through its memory maps, killed the
// process with SIGBUS once the disk was full (this test then crashed the
// test binary). Now each path fails with ErrNoSpace (which is also
// ENOSPC), what was written stays readable, and once space is freed the
// same writes succeed.
func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	type putFn func(s *Store, c []blk) error
	paths := []struct {
		name string
		put  putFn
	}{
		{"Put", func(s *Store, bs []blk) error {
			for _, b := range bs {
				if err := s.Put(ctx, b.c, b.data); err != nil {
					return err
				}
			}
			return nil
		}},
		{"PutAsync", func(s *Store, bs []blk) error {
			errs := make(chan error, len(bs))
			for _, b := range bs {
				s.PutAsync(ctx, b.c, b.data, func(err error) { errs <- err })
			}
			var first error
			for range bs {
				if err := <-errs; err != nil && first == nil {
					first = err
				}
			}
			return first
		}},
		{"Batch", func(s *Store, bs []blk) error {
			b := s.NewBatch()
			defer b.Discard()
			for _, x := range bs {
				if err := b.Put(ctx, x.c, x.data); err != nil {
					return err
				}
			}
			return b.Commit()
		}},
	}
	for _, tc := range paths {
		t.Run(tc.name, func(t *testing.T) {
			disk := smallDisk(t, 96)
			other := fill(t, disk, 20)
			s := openT(t, filepath.Join(disk, "blocks"), Options{ValueLogFileSize: 16 << 20})
			var bs []blk
			for i := range 16 { // 16 MiB: more than 96 - 20 - 64 MiB reserve
				d := make([]byte, 1<<20)
				copy(d, itoa(i+1)+tc.name)
				bs = append(bs, blk{rawCid(t, d), d})
			}
			err := tc.put(s, bs)
			if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v, want ErrNoSpace", err)
			}
			stored := 0
			for _, b := range bs {
				if got, err := s.Get(ctx, b.c); err == nil {
					if err := block.Verify(b.c, got); err != nil {
						t.Fatalf("a block written before the disk filled is damaged: %v", err)
					}
					stored++
				}
			}
			if stored == len(bs) {
				t.Fatal("everything was stored; the disk never filled")
			}
			t.Logf("%s: %d of %d MiB stored before ErrNoSpace: %v", tc.name, stored, len(bs), err)
			// Pins and deletes still work on the full disk.
			if err := s.Pin(ctx, bs[0].c, PinOptions{Kind: PinDirect}); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(other); err != nil {
				t.Fatal(err)
			}
			if err := tc.put(s, bs); err != nil {
				t.Fatalf("after freeing space: %v", err)
			}
			for _, b := range bs {
				if got, err := s.Get(ctx, b.c); err != nil || block.Verify(b.c, got) != nil {
					t.Fatalf("after freeing space %s: %v", b.c, err)
				}
			}
		})
	}
}
