package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// gatewayPair starts A holding data and B with a gateway on a free port,
// connected to A; B has none of the content.
func gatewayPair(t *testing.T, data []byte, ao DaemonOptions) (a, b *Daemon, root string) {
	t.Helper()
	a, root = seed(t, data, ao)
	b = startDaemon(t, t.TempDir(), DaemonOptions{Gateway: "127.0.0.1:0"})
	if err := b.P2P().Connect(context.Background(), a.P2P().AddrInfo()); err != nil {
		t.Fatal(err)
	}
	return a, b, root
}

// TestGatewayRemoteContent: B's gateway serves a file only A has, whole and
// by range; the range stores on B only the blocks it covers.
func TestGatewayRemoteContent(t *testing.T) {
	data := randomData(6<<20, 21)
	_, b, root := gatewayPair(t, data, DaemonOptions{})
	u := b.GatewayURL()
	if !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.Contains(b.ReadyLine(), " gateway="+u) {
		t.Fatalf("gateway URL %q, ready line %q", u, b.ReadyLine())
	}

	before := storedBytes(t, b)
	req, _ := http.NewRequest("GET", u+"/ipfs/"+root, nil)
	req.Header.Set("Range", "bytes=3000000-3000099")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(got, data[3000000:3000100]) {
		t.Fatalf("range: %d %v, %d bytes", resp.StatusCode, err, len(got))
	}
	// The root and the one leaf holding the range (chunks are 1 MiB), not
	// the 6 MiB file.
	if n := storedBytes(t, b) - before; n <= 0 || n > 2<<20+4096 {
		t.Errorf("a 100-byte range stored %d bytes on B; want the root and one leaf", n)
	}

	resp, err = http.Get(u + "/ipfs/" + root)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("whole file: %d %v, %d bytes (want %d)", resp.StatusCode, err, len(got), len(data))
	}
	if resp.Header.Get("Etag") != `"`+root+`"` {
		t.Errorf("Etag %q", resp.Header.Get("Etag"))
	}

	var id IDResult
	out, err := dialRemote(t, b.Node().Repo().Path).ID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	id = out
	if id.Gateway != u {
		js, _ := json.Marshal(id)
		t.Errorf("trove id: %s; want Gateway %q", js, u)
	}
}

// TestGatewayHangUp: a client that hangs up mid-download stops the fetch;
// no gateway, file-reader or fetch goroutine stays behind, and B keeps no
// pin for the abandoned content.
func TestGatewayHangUp(t *testing.T) {
	data := randomData(8<<20, 22)
	_, b, root := gatewayPair(t, data, DaemonOptions{Transfer: TransferOptions{MaxUpload: "1MB/s"}})
	resp, err := http.Get(b.GatewayURL() + "/ipfs/" + root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()

	leaked := func() string {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			for _, mark := range []string{"trove/gateway.", "node.(*lazyGetter)", "unixfs.(*File)", "transfer.(*BlockGetter)"} {
				if strings.Contains(g, mark) {
					return g
				}
			}
		}
		return ""
	}
	deadline := time.Now().Add(10 * time.Second)
	for leaked() != "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if g := leaked(); g != "" {
		t.Fatalf("goroutine left behind after the client hung up:\n%s", g)
	}
	pins, err := b.Node().PinLs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(pins) != 0 {
		t.Errorf("pins after an abandoned gateway download: %+v", pins)
	}
	if st := b.Node().xfer.fetcher.Stats(); len(st) != 0 {
		t.Errorf("fetches still running: %+v", st)
	}
}

// TestGatewayAddress: an explicit address that is taken stops the daemon
// with an error naming it, a configured one only costs the gateway;
// --no-gateway serves none.
func TestGatewayAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = StartDaemon(ctx, t.TempDir(), DaemonOptions{ListenAddrs: loopback, NoMDNS: true, Gateway: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "gateway") {
		t.Fatalf("busy --gateway address: %v", err)
	}
	// The configured address taken (another daemon on this machine): the
	// daemon runs, without a gateway, rather than failing.
	withGatewayConfig := func(addr string) string {
		dir := t.TempDir()
		n, err := Open(ctx, dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := n.Repo().Config
		cfg.Gateway.ListenAddr = addr
		if err := n.Repo().SaveConfig(cfg); err != nil {
			t.Fatal(err)
		}
		n.Close()
		return dir
	}
	busy := startDaemon(t, withGatewayConfig(ln.Addr().String()), DaemonOptions{})
	if busy.GatewayURL() != "" {
		t.Fatalf("configured busy address: gateway %q", busy.GatewayURL())
	}
	busy.Close()
	// The config is what was read: a free configured port is served.
	free := startDaemon(t, withGatewayConfig("127.0.0.1:0"), DaemonOptions{})
	if u := free.GatewayURL(); !strings.HasPrefix(u, "http://127.0.0.1:") || strings.HasSuffix(u, ":8180") {
		t.Fatalf("configured 127.0.0.1:0: gateway %q", u)
	}
	free.Close()

	d := startDaemon(t, t.TempDir(), DaemonOptions{NoGateway: true})
	if d.GatewayURL() != "" || strings.Contains(d.ReadyLine(), "gateway=") {
		t.Fatalf("--no-gateway: URL %q, ready line %q", d.GatewayURL(), d.ReadyLine())
	}
}
