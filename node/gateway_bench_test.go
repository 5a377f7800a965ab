package node

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// gatewayBenchSize is $TROVE_GATEWAY_BENCH_SIZE bytes, default 1 GiB (the
// size docs/gateway.md reports); smaller values make a quick check.
func gatewayBenchSize(b *testing.B) int64 {
	s := os.Getenv("TROVE_GATEWAY_BENCH_SIZE")
	if s == "" {
		return 1 << 30
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("TROVE_GATEWAY_BENCH_SIZE=%q", s)
	}
	return n
}

func benchDaemon(b *testing.B, o DaemonOptions) *Daemon {
	b.Helper()
	o.ListenAddrs, o.NoMDNS = loopback, true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := StartDaemon(ctx, b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

func benchSeed(b *testing.B, d *Daemon, size int64) string {
	b.Helper()
	res, err := d.Node().Add(context.Background(), ReaderEntry(randReader(9, size)), AddOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return res.Roots[0]
}

// httpGet downloads url to io.Discard and returns the time to the first
// byte and the total.
func httpGet(b *testing.B, url string, want int64) (ttfb, total time.Duration) {
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("GET %s: %s", url, resp.Status)
	}
	one := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, one); err != nil {
		b.Fatal(err)
	}
	ttfb = time.Since(start)
	// A client reading 1 MiB at a time, as curl or a browser reads a
	// large download; io.Copy into io.Discard would read 8 KiB per
	// syscall and measure the benchmark's client instead of the gateway.
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, make([]byte, 1<<20))
	if err != nil || n+1 != want {
		b.Fatalf("GET %s: %d bytes, %v; want %d", url, n+1, err, want)
	}
	return ttfb, time.Since(start)
}

// BenchmarkGatewayLocal: a local file through the daemon's gateway over
// loopback HTTP against Node.Cat (what `trove cat` runs) of the same file
// in the same iteration; gw/cat is the ratio (goal >= 0.9).
func BenchmarkGatewayLocal(b *testing.B) {
	size := gatewayBenchSize(b)
	d := benchDaemon(b, DaemonOptions{Gateway: "127.0.0.1:0"})
	root := benchSeed(b, d, size)
	url := d.GatewayURL() + "/ipfs/" + root
	var gw, cat time.Duration
	b.SetBytes(size)
	for b.Loop() {
		_, t := httpGet(b, url, size)
		gw += t
		start := time.Now()
		n, err := d.Node().Cat(context.Background(), root, io.Discard)
		if err != nil || n != size {
			b.Fatalf("cat: %d, %v", n, err)
		}
		cat += time.Since(start)
	}
	b.ReportMetric(mbps(size*int64(b.N), gw), "gw-MB/s")
	b.ReportMetric(mbps(size*int64(b.N), cat), "cat-MB/s")
	b.ReportMetric(cat.Seconds()/gw.Seconds(), "gw/cat")
}

// BenchmarkGatewayRemote: a file only A has, through a fresh B's gateway,
// against a fresh B's FetchTo (what `trove get` runs through a daemon: the
// download and the output file written as blocks arrive) from the same
// peer in the same iteration; gw/get is the ratio (goal >= 0.9), ttfb-ms
// the gateway's time to first byte for content B has none of. Two more
// fresh nodes give the limits the gateway cannot exceed: fetch-MB/s is
// Fetch alone (into the store, no output), cat-MB/s Node.Cat to
// io.Discard (the content API's own streaming speed).
func BenchmarkGatewayRemote(b *testing.B) {
	size := gatewayBenchSize(b)
	a := benchDaemon(b, DaemonOptions{})
	root := benchSeed(b, a, size)
	var gw, get, fetch, cat, ttfb time.Duration
	b.SetBytes(size)
	connected := func(o DaemonOptions) *Daemon {
		d := benchDaemon(b, o)
		if err := d.P2P().Connect(context.Background(), a.P2P().AddrInfo()); err != nil {
			b.Fatal(err)
		}
		return d
	}
	for b.Loop() {
		bg := connected(DaemonOptions{Gateway: "127.0.0.1:0"})
		first, t := httpGet(b, bg.GatewayURL()+"/ipfs/"+root, size)
		gw += t
		ttfb += first
		bg.Close()

		bt := benchDaemon(b, DaemonOptions{NoGateway: true})
		out := filepath.Join(b.TempDir(), "out")
		start := time.Now()
		if _, err := bt.Node().FetchTo(context.Background(), FetchToArgs{FetchArgs: FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, Out: out}, nil); err != nil {
			b.Fatal(err)
		}
		get += time.Since(start)
		bt.Close()
		os.Remove(out)

		bf := benchDaemon(b, DaemonOptions{NoGateway: true})
		start = time.Now()
		if _, err := bf.Node().Fetch(context.Background(), FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, nil); err != nil {
			b.Fatal(err)
		}
		fetch += time.Since(start)
		bf.Close()

		bc := connected(DaemonOptions{NoGateway: true})
		start = time.Now()
		if _, err := bc.Node().Cat(context.Background(), root, io.Discard); err != nil {
			b.Fatal(err)
		}
		cat += time.Since(start)
		bc.Close()
	}
	b.ReportMetric(mbps(size*int64(b.N), cat), "cat-MB/s")
	b.ReportMetric(mbps(size*int64(b.N), gw), "gw-MB/s")
	b.ReportMetric(mbps(size*int64(b.N), get), "get-MB/s")
	b.ReportMetric(mbps(size*int64(b.N), fetch), "fetch-MB/s")
	b.ReportMetric(get.Seconds()/gw.Seconds(), "gw/get")
	b.ReportMetric(fetch.Seconds()/gw.Seconds(), "gw/fetch")
	b.ReportMetric(float64(ttfb.Milliseconds())/float64(b.N), "ttfb-ms")
}
