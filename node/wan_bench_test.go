//go:build wan

package node

// The WAN tier: real daemons whose traffic crosses Toxiproxy links with
// latency and a bandwidth cap, because loopback hides what a window too
// small for the bandwidth-delay product costs. Run it with
//
//	go test -tags wan -run '^$' -bench WAN -benchtime 3x ./node
//
// Each benchmark reports its throughput as a ratio to the links it
// crosses (nominal caps) and to a raw TCP stream through the same proxy,
// measured in the same run. docs/performance.md has the figures.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/trove-p2p/trove/internal/benchraw"
	"golang.org/x/sync/errgroup"
)

// wanBenchSize is $TROVE_WAN_BENCH_SIZE bytes, default 64 MiB.
func wanBenchSize(b *testing.B) int64 {
	s := os.Getenv("TROVE_WAN_BENCH_SIZE")
	if s == "" {
		return 64 << 20
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("TROVE_WAN_BENCH_SIZE=%q", s)
	}
	return n
}

// link is one emulated WAN path: a Toxiproxy proxy on 127.0.0.1 that
// delays each direction by half the RTT and caps each direction's rate.
type link struct {
	p    *toxiproxy.Proxy
	rate float64 // bytes/s, each direction
}

func newLink(b *testing.B, rtt time.Duration, bytesPerSec float64) *link {
	b.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	// The upstream is set once the daemon behind the link has started:
	// the daemon must know the proxy's address first, to announce it.
	p := toxiproxy.NewProxy(srv, fmt.Sprintf("link%p", b), "127.0.0.1:0", "127.0.0.1:1")
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Stop)
	for _, dir := range []string{"upstream", "downstream"} {
		for _, tox := range []string{
			fmt.Sprintf(`{"name":"lat-%s","type":"latency","stream":%q,"attributes":{"latency":%d}}`, dir, dir, (rtt / 2).Milliseconds()),
			// Toxiproxy's rate is in KB/s (1000 bytes).
			fmt.Sprintf(`{"name":"bw-%s","type":"bandwidth","stream":%q,"attributes":{"rate":%d}}`, dir, dir, int64(bytesPerSec/1000)),
		} {
			if _, err := p.Toxics.AddToxicJson(strings.NewReader(tox)); err != nil {
				b.Fatal(err)
			}
		}
	}
	return &link{p: p, rate: bytesPerSec}
}

// addr is the multiaddr a daemon behind the link announces.
func (l *link) addr() string {
	host, port, _ := net.SplitHostPort(l.p.Listen)
	return "/ip4/" + host + "/tcp/" + port
}

// to points the link at a TCP address.
func (l *link) to(b *testing.B, upstream string) {
	b.Helper()
	if err := l.p.Update(&toxiproxy.Proxy{Listen: l.p.Listen, Upstream: upstream, Enabled: true}); err != nil {
		b.Fatal(err)
	}
}

// seederBehind starts a daemon that holds what add puts in it and that
// peers reach only through l: it announces l's address and nothing else.
func seederBehind(b *testing.B, l *link) *Daemon {
	b.Helper()
	d := benchDaemon(b, DaemonOptions{NoGateway: true, AnnounceAddrs: []string{l.addr()}})
	host, port := "", ""
	for _, a := range d.P2P().ListenAddrs() {
		s := a.String()
		if f := strings.Split(s, "/"); len(f) >= 5 && f[1] == "ip4" && f[3] == "tcp" {
			host, port = f[2], f[4]
			break
		}
	}
	if host == "" {
		b.Fatalf("seeder listens on %v: no TCP address", d.P2P().ListenAddrs())
	}
	l.to(b, net.JoinHostPort(host, port))
	return d
}

// viaLink is the address a fetcher is given for d: the link, never d's
// own socket.
func viaLink(d *Daemon, l *link) string {
	return l.addr() + "/p2p/" + d.P2P().ID().String()
}

// fetcher starts a daemon that announces an address nobody listens on, so
// a seeder cannot dial it back directly and bypass the link.
// TROVE_WAN_DEBUG=1 sends its debug log to stderr.
func fetcher(b *testing.B) *Daemon {
	o := DaemonOptions{NoGateway: true, AnnounceAddrs: []string{"/ip4/127.0.0.1/tcp/1"}}
	if os.Getenv("TROVE_WAN_DEBUG") == "1" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return benchDaemon(b, o)
}

// checkOnlyViaLinks fails if f reached a seeder other than through its
// link: a direct connection would make the figures loopback's.
func checkOnlyViaLinks(b *testing.B, f *Daemon, seeders []*Daemon, links []*link) {
	b.Helper()
	for i, s := range seeders {
		for _, c := range f.P2P().Host().Network().ConnsToPeer(s.P2P().ID()) {
			if got := c.RemoteMultiaddr().String(); got != links[i].addr() {
				b.Fatalf("fetcher reached seeder %d at %s, not through its link %s", i, got, links[i].addr())
			}
		}
	}
}

// rawLink measures a plain TCP stream of n bytes through a fresh link of
// the same shape: the most any protocol could get through it.
func rawLink(b *testing.B, rtt time.Duration, rate float64, n int64) float64 {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		for left := n; left > 0; {
			k, err := c.Write(buf[:min(int64(len(buf)), left)])
			if err != nil {
				return
			}
			left -= int64(k)
		}
	}()
	l := newLink(b, rtt, rate)
	l.to(b, ln.Addr().String())
	start := time.Now()
	c, err := net.Dial("tcp", l.p.Listen)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	got, err := io.Copy(io.Discard, c)
	if err != nil || got != n {
		b.Fatalf("raw stream: %d of %d bytes, %v", got, n, err)
	}
	return float64(n) / time.Since(start).Seconds()
}

type wanCase struct {
	rtt   time.Duration
	rate  float64 // bytes/s per link
	links int
}

// benchFetch fetches size random bytes from c.links seeders, each behind
// its own link, into a fresh fetcher per iteration, and reports the
// throughput against the links' sum and against raw streams through
// links of the same shape. kill > 0 closes the first seeder (and its
// link) after that fraction of the nominal transfer time.
func benchFetch(b *testing.B, c wanCase, size int64, kill float64) {
	ctx := context.Background()
	var links []*link
	var seeders []*Daemon
	var root string
	for i := range c.links {
		l := newLink(b, c.rtt, c.rate)
		s := seederBehind(b, l)
		res, err := s.Node().Add(ctx, ReaderEntry(randReader(7, size)), AddOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if i > 0 && res.Roots[0] != root {
			b.Fatal("seeders hold different roots")
		}
		root = res.Roots[0]
		links, seeders = append(links, l), append(seeders, s)
	}
	nominal := c.rate * float64(c.links)
	// The raw stream carries what one link carries in the fetch (up to
	// 64 MiB): a shorter one would pay its setup round trip over fewer
	// bytes and flatter of-raw.
	raw := rawLink(b, c.rtt, c.rate, min(size/int64(c.links), 64<<20)) * float64(c.links)
	var total time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		f := fetcher(b)
		var peers []string
		for i, s := range seeders {
			peers = append(peers, viaLink(s, links[i]))
		}
		b.StartTimer()
		start := time.Now()
		if kill > 0 {
			after := time.Duration(kill * float64(size) / nominal * float64(time.Second))
			go func() {
				time.Sleep(after)
				links[0].p.Stop()
			}()
		}
		if _, err := f.Node().Fetch(ctx, FetchArgs{Path: root, Peers: peers}, nil); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		if kill == 0 {
			checkOnlyViaLinks(b, f, seeders, links)
		}
		f.Close()
		if kill > 0 {
			links[0].p.Start()
		}
		b.StartTimer()
	}
	got := float64(size) * float64(b.N) / total.Seconds()
	b.ReportMetric(got/1e6, "fetch-MB/s")
	b.ReportMetric(got/nominal, "of-links")
	b.ReportMetric(got/raw, "of-raw")
	if kill > 0 {
		// Ideal: all links until the kill, the others after it.
		tk := kill * float64(size) / nominal
		rest := float64(size) - tk*nominal
		ideal := tk + rest/(nominal-c.rate)
		b.ReportMetric(ideal/(total.Seconds()/float64(b.N)), "of-ideal")
	}
}

// BenchmarkWANOneLink: one seeder, 40 ms RTT, 25 MB/s (goal >= 0.9 of the link).
func BenchmarkWANOneLink(b *testing.B) {
	benchFetch(b, wanCase{rtt: 40 * time.Millisecond, rate: 25e6, links: 1}, wanBenchSize(b), 0)
}

// BenchmarkWANThreeLinks: three seeders, 40 ms RTT and 6.25 MB/s each
// (goal >= 0.9 of their sum).
func BenchmarkWANThreeLinks(b *testing.B) {
	benchFetch(b, wanCase{rtt: 40 * time.Millisecond, rate: 6.25e6, links: 3}, wanBenchSize(b), 0)
}

// BenchmarkWANLongFatLink: one seeder, 100 ms RTT, 125 MB/s, 64 MiB
// (goal >= 0.7 of the link).
func BenchmarkWANLongFatLink(b *testing.B) {
	benchFetch(b, wanCase{rtt: 100 * time.Millisecond, rate: 125e6, links: 1}, wanBenchSize(b), 0)
}

// BenchmarkWANSeederKilled: three 6.25 MB/s links, the first seeder gone
// a third of the way in; of-ideal compares with all three links until
// then and two after (goal: the lost seeder costs only its share).
func BenchmarkWANSeederKilled(b *testing.B) {
	benchFetch(b, wanCase{rtt: 40 * time.Millisecond, rate: 6.25e6, links: 3}, wanBenchSize(b), 1.0/3)
}

// BenchmarkWANTree: 2,000 files of 4 KiB over one 40 ms, 25 MB/s link;
// goal: under 1 s plus the bytes at link speed (of-goal >= 1 meets it).
func BenchmarkWANTree(b *testing.B) {
	ctx := context.Background()
	const files, size = 2000, 4 << 10
	dir := filepath.Join(b.TempDir(), "tree")
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%04d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		data, _ := io.ReadAll(io.LimitReader(randReader(byte(i), size), size))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	l := newLink(b, 40*time.Millisecond, 25e6)
	s := seederBehind(b, l)
	res, err := s.Node().Add(ctx, FileEntries([]string{dir}, true), AddOptions{})
	if err != nil {
		b.Fatal(err)
	}
	root := res.Roots[len(res.Roots)-1]
	goal := time.Second + time.Duration(float64(files*size)/l.rate*float64(time.Second))
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		f := fetcher(b)
		b.StartTimer()
		start := time.Now()
		if _, err := f.Node().Fetch(ctx, FetchArgs{Path: root, Peers: []string{viaLink(s, l)}}, nil); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		checkOnlyViaLinks(b, f, []*Daemon{s}, []*link{l})
		f.Close()
		b.StartTimer()
	}
	per := total / time.Duration(b.N)
	b.ReportMetric(per.Seconds(), "s/tree")
	b.ReportMetric(goal.Seconds()/per.Seconds(), "of-goal")
}

// BenchmarkWANProxyCeiling is a raw TCP stream of 64 MiB through a link
// of 125 MB/s with no latency and with 100 ms: what the emulator itself
// lets through, so a ratio to the nominal cap can be read against it.
func BenchmarkWANProxyCeiling(b *testing.B) {
	for _, rtt := range []time.Duration{0, 100 * time.Millisecond} {
		b.Run(rtt.String(), func(b *testing.B) {
			var rates []float64
			for range b.N {
				rates = append(rates, rawLink(b, rtt, 125e6, 64<<20))
			}
			b.ReportMetric(rates[len(rates)/2]/125e6, "of-link")
		})
	}
}

// BenchmarkWANRawStreams moves 64 MiB over one libp2p connection (TCP,
// Noise, yamux with trove's windows) through a 100 ms, 125 MB/s link, on
// 1 and on 3 streams at once, with no block protocol: what the stack
// under package transfer lets through, the limit its lanes work against.
func BenchmarkWANRawStreams(b *testing.B) {
	const size = 64 << 20
	for _, streams := range []int{1, 3} {
		b.Run(strconv.Itoa(streams), func(b *testing.B) {
			l := newLink(b, 100*time.Millisecond, 125e6)
			s := seederBehind(b, l)
			benchraw.Serve(s.P2P().Host())
			var rates []float64
			for range b.N {
				f := fetcher(b)
				ai, err := peer.AddrInfoFromString(viaLink(s, l))
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				start := time.Now()
				if err := f.P2P().Host().Connect(ctx, *ai); err != nil {
					b.Fatal(err)
				}
				var g errgroup.Group
				for range streams {
					g.Go(func() error { return benchraw.Pull(ctx, f.P2P().Host(), ai.ID, size/int64(streams)) })
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
				rates = append(rates, size/time.Since(start).Seconds())
				f.Close()
			}
			slices.Sort(rates)
			b.ReportMetric(rates[len(rates)/2]/125e6, "of-link")
		})
	}
}
