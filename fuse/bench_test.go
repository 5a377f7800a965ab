//go:build linux

package fuse_test

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trove-p2p/trove/fuse"
	"github.com/trove-p2p/trove/node"
)

// benchSize is the file BenchmarkMountVsCat reads: $TROVE_FUSE_BENCH_SIZE
// bytes (suffixes k, M, G), 1 GiB by default.
func benchSize(b *testing.B) int64 {
	s := os.Getenv("TROVE_FUSE_BENCH_SIZE")
	if s == "" {
		return 1 << 30
	}
	mul := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mul, s = 1<<10, s[:len(s)-1]
	case 'm', 'M':
		mul, s = 1<<20, s[:len(s)-1]
	case 'g', 'G':
		mul, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("TROVE_FUSE_BENCH_SIZE=%q: want a size such as 64M or 1G", os.Getenv("TROVE_FUSE_BENCH_SIZE"))
	}
	return n * mul
}

// chachaReader streams pseudo-random bytes without holding the file.
type chachaReader struct{ r *rand.ChaCha8 }

func (c chachaReader) Read(p []byte) (int, error) { return c.r.Read(p) }

// BenchmarkMountVsCat reads one local file sequentially with cat(1)
// through the mount and with the code `trove cat` runs offline
// (Node.Cat), alternating, each mount read on a fresh mount so the page
// cache holds nothing of the file. It reports the median throughput of
// each, their ratio (mount/cat; the goal is >= 0.7) and the median of the
// per-pair ratios (pair-ratio).
//
// The cat side runs in this process on purpose: `trove cat CID >
// /dev/null` would add a process start and a repo open to it and nothing
// else (its output is free), so Node.Cat into io.Discard is the harder
// side to match, while the mount side pays for a real reader process.
//
//	TROVE_FUSE_BENCH_SIZE=1G go test ./fuse -run '^$' -bench MountVsCat -benchtime 5x
func BenchmarkMountVsCat(b *testing.B) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		b.Skipf("no /dev/fuse: %v", err)
	}
	size := benchSize(b)
	ctx := context.Background()
	n, err := node.Open(ctx, b.TempDir(), node.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	res, err := n.Add(ctx, node.ReaderEntry(io.LimitReader(chachaReader{rand.NewChaCha8([32]byte{1})}, size)), node.AddOptions{})
	if err != nil {
		b.Fatal(err)
	}
	root := res.Roots[0]
	dir := filepath.Join(b.TempDir(), "mnt")
	os.Mkdir(dir, 0o755)

	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devNull.Close()
	var catTimes, mountTimes []time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		got, err := n.Cat(ctx, root, io.Discard)
		if err != nil || got != size {
			b.Fatalf("cat: %d bytes, %v", got, err)
		}
		catTimes = append(catTimes, time.Since(start))

		m, err := n.Mount(dir, node.Source{Offline: true}, fuse.Options{})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		// cat(1) to /dev/null: what a user's tool does, with its own
		// buffer size, and no Go runtime in the reading process.
		cmd := exec.Command("cat", filepath.Join(dir, root))
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = devNull, &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("cat through the mount: %v %s", err, stderr.String())
		}
		mountTimes = append(mountTimes, time.Since(start))
		b.Logf("pair %d: cat %.0f MB/s, mount %.0f MB/s", len(catTimes),
			float64(size)/catTimes[len(catTimes)-1].Seconds()/1e6, float64(size)/mountTimes[len(mountTimes)-1].Seconds()/1e6)
		if err := m.Unmount(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// On a shared machine the two halves of a pair see the same load, so
	// the median of the per-pair ratios is the steadiest figure.
	ratios := make([]float64, len(catTimes))
	for i := range catTimes {
		ratios[i] = catTimes[i].Seconds() / mountTimes[i].Seconds()
	}
	slices.Sort(ratios)
	mbps := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(size) / ds[len(ds)/2].Seconds() / 1e6
	}
	cat, mount := mbps(catTimes), mbps(mountTimes)
	b.ReportMetric(cat, "cat-MB/s")
	b.ReportMetric(mount, "mount-MB/s")
	b.ReportMetric(mount/cat, "mount/cat")
	b.ReportMetric(ratios[len(ratios)/2], "pair-ratio")
}
