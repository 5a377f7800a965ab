package node

import (
	"bufio"
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/trove-p2p/trove/node/repo"
	"github.com/trove-p2p/trove/transfer"
)

// rawHost is a bare libp2p host on loopback for tests that speak the
// transfer protocol by hand.
func rawHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// startWithConfig starts a daemon on a fresh repo after edit changes its
// config.
func startWithConfig(t *testing.T, edit func(*repo.Config)) (*Daemon, string) {
	t.Helper()
	dir := t.TempDir()
	n := openNode(t, dir, Options{})
	edit(&n.repo.Config)
	if err := n.repo.SaveConfig(n.repo.Config); err != nil {
		t.Fatal(err)
	}
	n.Close()
	return startDaemon(t, dir, DaemonOptions{}), dir
}

// TestResourceLimitsRefuseStreamFlood: a peer opening six transfer streams
// at once gets only as many as the resource manager admits (by stream
// count, or by the memory each serving stream reserves), fewer than the
// transfer server's own cap of four, so it is libp2p refusing them; the
// admitted ones work, another peer downloads in full meanwhile, and
// `trove stats` shows the limits and the use.
func TestResourceLimitsRefuseStreamFlood(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rm    repo.ResourceMgr
		admit int
	}{
		{"streams per peer", repo.ResourceMgr{TransferStreamsPerPeer: 2}, 2},
		{"stream memory", repo.ResourceMgr{TransferMemory: 6 * transfer.StreamMemory}, 3}, // half per peer
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			data := randomData(2<<20+77, 21)
			a, aDir := startWithConfig(t, func(c *repo.Config) { c.Swarm.ResourceMgr = tc.rm })
			res, err := a.Node().Add(ctx, ReaderEntry(bytes.NewReader(data)), AddOptions{})
			if err != nil {
				t.Fatal(err)
			}
			root := mustParse(t, res.Roots[0])

			flood := rawHost(t)
			if err := flood.Connect(ctx, a.P2P().AddrInfo()); err != nil {
				t.Fatal(err)
			}
			var streams []network.Stream
			for i := range 6 {
				st, err := flood.NewStream(ctx, a.P2P().ID(), transfer.ProtocolID)
				if err != nil {
					continue // refused during negotiation
				}
				t.Cleanup(func() { st.Reset() })
				// A want with no credit: an admitted stream is held open.
				m := transfer.Message{Type: transfer.MsgWant, ID: uint64(i + 1), CIDs: nil}
				m.CIDs = append(m.CIDs, root)
				st.Write(transfer.AppendFrame(nil, &m))
				streams = append(streams, st)
			}
			time.Sleep(300 * time.Millisecond) // let the refusals land
			if got := resourceStats(a.P2P().Limits()); got.TransferStreamsUsed < tc.admit || got.TransferMemoryUsed < int64(tc.admit)*transfer.StreamMemory {
				t.Errorf("stats while flooded: %+v", got)
			}
			admitted := 0
			for _, st := range streams {
				st.Write(transfer.AppendFrame(nil, &transfer.Message{Type: transfer.MsgCredit, Credit: 1 << 20}))
				st.SetReadDeadline(time.Now().Add(5 * time.Second))
				p, err := transfer.ReadFrame(bufio.NewReader(st), transfer.MaxFrame)
				if err != nil {
					continue
				}
				if m, err := transfer.Decode(p); err == nil && m.Type == transfer.MsgBlock && m.CID.Equals(root) {
					admitted++
				}
			}
			if admitted != tc.admit {
				t.Fatalf("%d of 6 streams served, want %d", admitted, tc.admit)
			}

			b := startDaemon(t, t.TempDir(), DaemonOptions{})
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if _, err := b.Node().Fetch(fctx, FetchArgs{Path: root.String(), Peers: []string{peerAddr(a)}}, nil); err != nil {
				t.Fatalf("honest peer under a flood: %v", err)
			}
			if !bytes.Equal(catBytes(t, b.Node(), root.String()), data) {
				t.Fatal("content differs")
			}

			s, err := dialRemote(t, aDir).Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r := s.Resources
			wantPerPeer := cmpOr(tc.rm.TransferStreamsPerPeer, DefaultTransferStreamsPerPeer)
			wantMem := cmpOr(tc.rm.TransferMemory, int64(DefaultTransferMemory))
			if r.TransferStreamsPerPeer != wantPerPeer || r.TransferMemory != wantMem || r.Conns != 512 || r.StreamsPerPeer != 64 || r.Memory <= 0 {
				t.Fatalf("stats resources %+v", r)
			}
		})
	}
}

func cmpOr[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

// TestFetchUnderTightTransferMemory: a daemon whose Swarm.ResourceMgr
// lets one peer's transfer streams reserve a single serving stream's
// worth (TransferMemory of 2 × StreamMemory, half per peer) still
// downloads a file in full: its fetch session reserves a window of one
// largest frame (transfer.MinWindow) instead of the 16 MiB it asks for,
// stats show exactly that in use while the session is open, and the
// reservation is given back when the session ends (here: the seeder
// stops).
func TestFetchUnderTightTransferMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := randomData(6<<20+3, 41)
	s, root := seed(t, data, DaemonOptions{})
	b, _ := startWithConfig(t, func(c *repo.Config) {
		c.Swarm.ResourceMgr = repo.ResourceMgr{TransferMemory: 2 * transfer.StreamMemory}
	})
	if _, err := b.Node().Fetch(ctx, FetchArgs{Path: root, Peers: []string{peerAddr(s)}}, nil); err != nil {
		t.Fatalf("fetch under a tight transfer memory limit: %v", err)
	}
	if !bytes.Equal(catBytes(t, b.Node(), root), data) {
		t.Fatal("content differs")
	}
	// The session stays open (idle) after the download, holding its
	// reservation.
	if used := resourceStats(b.P2P().Limits()).TransferMemoryUsed; used != transfer.MinWindow {
		t.Errorf("transfer memory in use after the download: %d, want one MinWindow (%d)", used, transfer.MinWindow)
	}
	s.Close()
	for resourceStats(b.P2P().Limits()).TransferMemoryUsed != 0 {
		if ctx.Err() != nil {
			t.Fatalf("%d bytes of transfer memory still reserved after the session ended", resourceStats(b.P2P().Limits()).TransferMemoryUsed)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
