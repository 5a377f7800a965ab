package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/trove-p2p/trove/transfer"
)

// liar is a peer that claims every CID and answers every WANT or DAG with
// garbage under the CID asked for (the transfer package's harness covers
// every other fault; this one checks what the daemon makes of a liar).
func liar(t *testing.T) (host.Host, *atomic.Int32) {
	h := rawHost(t)
	var asked atomic.Int32
	h.SetStreamHandler(transfer.ProtocolID, func(st network.Stream) {
		defer st.Reset()
		br := bufio.NewReader(st)
		for {
			p, err := transfer.ReadFrame(br, transfer.MaxRequestFrame)
			if err != nil {
				return
			}
			m, err := transfer.Decode(p)
			if err != nil {
				continue
			}
			var out []byte
			switch m.Type {
			case transfer.MsgHave:
				bits := bytes.Repeat([]byte{0xff}, (len(m.CIDs)+7)/8)
				out = transfer.AppendFrame(out, &transfer.Message{Type: transfer.MsgHaveResp, ID: m.ID, Bits: bits})
				out = transfer.AppendFrame(out, &transfer.Message{Type: transfer.MsgDone, ID: m.ID})
			case transfer.MsgWant, transfer.MsgDAG:
				asked.Add(1)
				c := m.CID
				if m.Type == transfer.MsgWant {
					c = m.CIDs[0]
				}
				out = transfer.AppendFrame(out, &transfer.Message{Type: transfer.MsgBlock, ID: m.ID, CID: c, Data: randomData(1000, 9)})
			}
			if _, err := st.Write(out); err != nil {
				return
			}
		}
	})
	return h, &asked
}

// TestDaemonBansLiar: a daemon fetching from an honest seeder and a liar
// completes with identical bytes, bans the liar (trove stats lists it) and
// never stores its bytes; a daemon with only the liar fails quickly with a
// message that says no peer could deliver the content.
func TestDaemonBansLiar(t *testing.T) {
	ctx := context.Background()
	data := randomData(3<<20+5, 31)
	// Capped, so the fetcher spreads requests and the liar is asked.
	s, root := seed(t, data, DaemonOptions{Transfer: TransferOptions{MaxUpload: "3MB/s"}})
	lh, asked := liar(t)
	lAddr := lh.Addrs()[0].String() + "/p2p/" + lh.ID().String()

	bDir := t.TempDir()
	b := startDaemon(t, bDir, DaemonOptions{})
	if _, err := b.Node().Fetch(ctx, FetchArgs{Path: root, Peers: []string{lAddr, peerAddr(s)}}, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(catBytes(t, b.Node(), root), data) {
		t.Fatal("content differs")
	}
	if asked.Load() == 0 {
		t.Fatal("the liar was never asked; the test proves nothing")
	}
	if res, err := b.Node().RepoVerify(ctx, RepoVerifyOptions{}); err != nil || !res.Clean() {
		t.Fatalf("the fetching repo is not clean: %+v, %v", res, err)
	}
	ts, err := dialRemote(t, bDir).Transfers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if until, ok := ts.Banned[lh.ID().String()]; !ok || time.Until(until) < time.Minute {
		t.Fatalf("stats do not list the liar as banned: %v", ts.Banned)
	}
	if _, ok := ts.Banned[s.P2P().ID().String()]; ok {
		t.Fatal("the honest seeder was banned")
	}
	// `trove peers` marks the liar, with the reason, and not the seeder.
	ps, err := dialRemote(t, bDir).Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	marked := map[string]PeerResult{}
	for _, p := range ps {
		marked[p.ID] = p
	}
	if p, ok := marked[lh.ID().String()]; !ok || p.Banned == nil || time.Until(*p.Banned) < time.Minute || !strings.Contains(p.BanReason, "misbehaved") {
		t.Fatalf("peers does not show the liar as banned with a reason: %+v (listed: %v)", p, ok)
	}
	if p := marked[s.P2P().ID().String()]; p.Banned != nil || p.BanReason != "" {
		t.Fatalf("peers marks the honest seeder: %+v", p)
	}

	c := startDaemon(t, t.TempDir(), DaemonOptions{})
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.Node().Fetch(fctx, FetchArgs{Path: root, Peers: []string{lAddr}}, nil)
	if err == nil || fctx.Err() != nil {
		t.Fatalf("fetch from the liar alone: %v after %v", err, time.Since(start))
	}
	if !errors.Is(err, transfer.ErrNoProviders) || !strings.Contains(err.Error(), "no peer could deliver") {
		t.Fatalf("error does not say why: %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("gave up after %v", el)
	}
	if st, err := c.Node().Blockstore().Stat(ctx); err != nil || st.Blocks != 0 {
		t.Fatalf("the liar's bytes were stored: %d blocks, %v", st.Blocks, err)
	}
}
