package transfer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/internal/benchraw"
	"github.com/trove-p2p/trove/internal/memstore"
)

func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchSize is TROVE_BENCH_MB (default 256) MiB; chunk is TROVE_BENCH_CHUNK_KB
// (default 1024) KiB.
func benchSize() (size, chunk int) {
	return benchEnvInt("TROVE_BENCH_MB", 256) << 20, benchEnvInt("TROVE_BENCH_CHUNK_KB", 1024) << 10
}

// rawRate measures one stream carrying size bytes from p to h (the
// limit; package benchraw), and how many cores the machine kept busy
// meanwhile (-1 where it cannot tell).
func rawRate(ctx context.Context, h host.Host, p peer.ID, size int) (rate, cores float64, err error) {
	busy0, up0 := machineBusy()
	start := time.Now()
	if err := benchraw.Pull(ctx, h, p, int64(size)); err != nil {
		return 0, 0, err
	}
	return float64(size) / time.Since(start).Seconds(), coresUsed(busy0, up0), nil
}

// seederData fills a deterministic file, so parent and child agree
// without shipping it.
func seederData(size int) []byte {
	data := make([]byte, size)
	r := rand.NewChaCha8([32]byte{'t', 'r', 'o', 'v', 'e'})
	r.Read(data)
	return data
}

// TestBenchSeederProcess is the seeder half of the two-process benchmark;
// it only runs when spawned by startSeederProcess.
func TestBenchSeederProcess(t *testing.T) {
	if os.Getenv("TROVE_BENCH_SEEDER") != "1" {
		t.Skip("spawned by BenchmarkOneSource")
	}
	size, chunk := benchSize()
	h := newHost(t)
	benchraw.Serve(h)
	// The seeder serves from Badger opened as a daemon opens it
	// (CheckReads: Badger's CRC-32C instead of a second SHA-256 per block
	// served), unless TROVE_BENCH_SEEDER_STORE=mem.
	var src interface {
		Source
		putter
	}
	if os.Getenv("TROVE_BENCH_SEEDER_STORE") == "mem" {
		src = memstore.New()
	} else {
		bs, err := blockstore.Open(t.TempDir(), blockstore.Options{CheckReads: true})
		if err != nil {
			t.Fatal(err)
		}
		defer bs.Close()
		src = bs
	}
	srv := NewServer(h, src, ServerOptions{})
	defer srv.Close()
	root := "none" // no file: BenchmarkRawNoise
	if os.Getenv("TROVE_BENCH_SEEDER_RAW") != "1" {
		c, _ := buildFile(t, seederData(size), chunk, 174, src)
		root = c.String()
	}
	fmt.Printf("SEEDER %s %s %s\n", root, h.ID(), h.Addrs()[0])
	io.Copy(io.Discard, os.Stdin) // serve until the parent closes stdin
}

// BenchmarkRawNoise is BenchmarkOneSource's limit alone: TROVE_BENCH_MB
// (default 256) MiB of zeros on one Noise+yamux stream from a second
// process, with trove's stack and nothing else, b.N times. It reports the
// median rate and the cores the machine kept busy meanwhile;
// scripts/bench-get.sh runs it next to every get.
func BenchmarkRawNoise(b *testing.B) {
	b.Setenv("TROVE_BENCH_SEEDER_RAW", "1")
	size, _ := benchSize()
	_, ai := startSeederProcess(b)
	ctx := context.Background()
	h := newHost(b)
	if err := h.Connect(ctx, ai); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	var rates, cores []float64
	for b.Loop() {
		r, c, err := rawRate(ctx, h, ai.ID, size)
		if err != nil {
			b.Fatal(err)
		}
		rates, cores = append(rates, r), append(cores, c)
	}
	b.ReportMetric(median(rates)/1e6, "raw-MB/s")
	b.ReportMetric(median(cores), "raw-cores")
}

func startSeederProcess(b *testing.B) (cid.Cid, peer.AddrInfo) {
	args := []string{"-test.run=^TestBenchSeederProcess$", "-test.v"}
	if prof := os.Getenv("TROVE_BENCH_SEEDER_PROF"); prof != "" {
		args = append(args, "-test.cpuprofile="+prof)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TROVE_BENCH_SEEDER=1")
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "SEEDER" {
			root := cid.Undef
			if f[1] != "none" {
				var err error
				if root, err = cid.Decode(f[1]); err != nil {
					b.Fatal(err)
				}
			}
			id, err := peer.Decode(f[2])
			if err != nil {
				b.Fatal(err)
			}
			go io.Copy(io.Discard, out)
			return root, peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{ma.StringCast(f[3])}}
		}
	}
	b.Fatal("seeder process did not start")
	return cid.Undef, peer.AddrInfo{}
}

// BenchmarkOneSource fetches a TROVE_BENCH_MB file from a seeder (serving
// from Badger, as a daemon does; TROVE_BENCH_SEEDER_STORE=mem for memory) in a
// separate process and, in the same run, measures a raw Noise+yamux
// stream between the same two hosts: the limit to compare against.
// TROVE_BENCH_STORE picks the downloader's store: badger (default, on a
// temp dir, what a daemon uses), mem, sink (keeps only inner nodes:
// protocol cost alone), or pack (leaves appended to a file with pwrite:
// see packStore). rss-growth-MB is the peak resident-set growth of
// this (fetching) process during the fetch, on Linux.
func BenchmarkOneSource(b *testing.B) {
	size, _ := benchSize()
	root, ai := startSeederProcess(b)
	ctx := context.Background()
	h := newHost(b)
	if err := h.Connect(ctx, ai); err != nil {
		b.Fatal(err)
	}
	raw, rawCores, err := rawRate(ctx, h, ai.ID, size)
	if err != nil {
		b.Fatal(err)
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		// The fetching side runs its GC as trove daemon does (cmd/trove,
		// daemonGC), so rss-growth-MB is what a daemon shows.
		defer debug.SetGCPercent(debug.SetGCPercent(50))
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	var rates, cores []float64
	var growth int64 = -1
	for b.Loop() {
		var st Store
		switch os.Getenv("TROVE_BENCH_STORE") {
		case "sink":
			st = newSinkStore()
		case "mem":
			st = memstore.New()
		case "pack":
			ps, err := newPackStore(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer ps.f.Close()
			st = ps
		default:
			bs, err := blockstore.Open(b.TempDir(), blockstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer bs.Close()
			st = bs
		}
		opts := FetchOptions{}
		if os.Getenv("TROVE_BENCH_DEBUG") == "1" {
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		f := NewFetcher(h, st, opts)
		runtime.GC()
		before, ok := resetPeakRSS()
		busy0, up0 := machineBusy()
		start := time.Now()
		if err := f.Fetch(ctx, root, ai); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		cores = append(cores, coresUsed(busy0, up0))
		if peak, ok2 := peakRSS(); ok && ok2 {
			growth = max(growth, peak-before)
		}
		b.Logf("fetch %d MiB in %v", size>>20, el)
		rates = append(rates, float64(size)/el.Seconds())
		f.Close()
	}
	// The median, not the best: the machine is shared and runs vary by
	// tens of percent, and a user gets a typical run.
	med := median(rates)
	b.ReportMetric(raw/1e6, "raw-MB/s")
	b.ReportMetric(med/1e6, "trove-MB/s")
	b.ReportMetric(100*med/raw, "%-of-raw")
	if growth >= 0 {
		b.ReportMetric(float64(growth)/1e6, "rss-growth-MB")
	}
	// How busy the whole machine was (both processes, and whatever else
	// runs on it), in cores: a raw stream that already keeps every core
	// busy leaves no CPU for hashing and storing, so it is a limit the
	// fetch cannot approach on this machine, whatever the protocol does.
	if rawCores >= 0 {
		b.ReportMetric(rawCores, "raw-cores")
		b.ReportMetric(median(cores), "fetch-cores")
		b.ReportMetric(float64(runtime.NumCPU()), "cpus")
	}
}

// machineBusy reads the machine's busy and total CPU time from
// /proc/stat (clock ticks); -1 where it cannot.
func machineBusy() (busy, total int64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1, -1
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return -1, -1
	}
	for i, v := range f[1:8] { // user nice system idle iowait irq softirq
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return -1, -1
		}
		total += n
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, total
}

// coresUsed is how many cores were busy on average since machineBusy
// returned busy0 and total0, or -1.
func coresUsed(busy0, total0 int64) float64 {
	busy1, total1 := machineBusy()
	if busy0 < 0 || busy1 < 0 || total1 <= total0 {
		return -1
	}
	return float64(busy1-busy0) / float64(total1-total0) * float64(runtime.NumCPU())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// procStatusKB reads a "Name: N kB" line of /proc/self/status.
func procStatusKB(name string) (int64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0, false
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			return n << 10, err == nil
		}
	}
	return 0, false
}

// resetPeakRSS restarts the kernel's high-water mark (VmHWM) at the
// current RSS, so peakRSS afterwards covers only what follows, and
// returns that RSS.
func resetPeakRSS() (int64, bool) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0, false
	}
	return procStatusKB("VmRSS")
}

func peakRSS() (int64, bool) { return procStatusKB("VmHWM") }

// BenchmarkFourCappedSeeders: four in-process seeders capped at
// TROVE_BENCH_CAP_MB MB/s (default 25) each; the limit is their sum
// (100 MB/s by default), the goal 85% of it.
func BenchmarkFourCappedSeeders(b *testing.B) {
	size := benchEnvInt("TROVE_BENCH_MB", 128) << 20
	capRate := float64(benchEnvInt("TROVE_BENCH_CAP_MB", 25)) * 1e6
	data := seederData(size)
	var hints []peer.AddrInfo
	var stores []putter
	var servers []*Server
	for range 4 {
		s := newSeeder(b, ServerOptions{PeerRate: capRate})
		hints = append(hints, addrInfo(s.h))
		stores = append(stores, s.store)
		servers = append(servers, s.srv)
	}
	root, _ := buildFile(b, data, 1<<20, 174, stores...)
	h := newHost(b)
	b.SetBytes(int64(size))
	b.ResetTimer()
	var rates []float64
	for b.Loop() {
		f := NewFetcher(h, memstore.New(), FetchOptions{})
		start := time.Now()
		if err := f.Fetch(context.Background(), root, hints...); err != nil {
			b.Fatal(err)
		}
		rates = append(rates, float64(size)/time.Since(start).Seconds())
		f.Close()
	}
	med := median(rates)
	b.ReportMetric(4*capRate/1e6, "limit-MB/s")
	b.ReportMetric(med/1e6, "trove-MB/s")
	b.ReportMetric(100*med/(4*capRate), "%-of-limit")
	for i, s := range servers {
		var n int64
		for _, v := range s.Served() {
			n += v
		}
		b.ReportMetric(float64(n)/float64(size)/float64(b.N), fmt.Sprintf("share-seeder%d", i))
	}
}

// sinkStore keeps dag-pb blocks (the fetcher reads inner nodes back) and
// only counts raw leaves, so TROVE_BENCH_STORE=sink measures the protocol
// without the cost of an in-memory store filling gigabytes of fresh pages.
type sinkStore struct {
	mu    sync.Mutex
	inner map[string][]byte
	raw   map[string]bool
}

func newSinkStore() *sinkStore {
	return &sinkStore{inner: map[string][]byte{}, raw: map[string]bool{}}
}

func (s *sinkStore) Put(_ context.Context, c cid.Cid, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Type() == block.CodecRaw {
		s.raw[string(c.Hash())] = true
	} else {
		s.inner[string(c.Hash())] = bytes.Clone(data) // Put must not keep data
	}
	return nil
}

func (s *sinkStore) Has(_ context.Context, c cid.Cid) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.inner[string(c.Hash())]
	return ok || s.raw[string(c.Hash())], nil
}

func (s *sinkStore) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.inner[string(c.Hash())]; ok {
		return d, nil
	}
	return nil, block.NotFound(c)
}
