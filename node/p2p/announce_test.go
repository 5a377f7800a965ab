package p2p

import (
	"context"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

func TestAnnounceFactory(t *testing.T) {
	a, b, c := ma.StringCast("/ip4/127.0.0.1/tcp/1"), ma.StringCast("/ip4/198.51.100.1/tcp/2"), ma.StringCast("/ip4/203.0.113.9/tcp/3")
	for _, tc := range []struct {
		name           string
		replace, extra []ma.Multiaddr
		found, want    []ma.Multiaddr
	}{
		{"replace drops what was found", []ma.Multiaddr{b}, nil, []ma.Multiaddr{a}, []ma.Multiaddr{b}},
		{"append keeps what was found", nil, []ma.Multiaddr{c}, []ma.Multiaddr{a}, []ma.Multiaddr{a, c}},
		{"both", []ma.Multiaddr{b}, []ma.Multiaddr{c}, []ma.Multiaddr{a}, []ma.Multiaddr{b, c}},
		{"no duplicates", []ma.Multiaddr{b}, []ma.Multiaddr{b, c}, nil, []ma.Multiaddr{b, c}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := announceFactory(tc.replace, tc.extra)(tc.found)
			if !slices.EqualFunc(got, tc.want, ma.Multiaddr.Equal) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// tcpProxy forwards every connection on a loopback port to target, which
// may be set after the proxy starts; it counts connections.
type tcpProxy struct {
	ln     net.Listener
	target atomic.Value // string host:port
	conns  atomic.Int32
	wg     sync.WaitGroup
}

func startProxy(t *testing.T) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			out, err := net.Dial("tcp", p.target.Load().(string))
			if err != nil {
				in.Close()
				continue
			}
			p.wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer p.wg.Done()
				io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(out, in)
			go pipe(in, out)
		}
	}()
	return p
}

func (p *tcpProxy) addr() ma.Multiaddr {
	a, err := manet.FromNetAddr(p.ln.Addr())
	if err != nil {
		panic(err)
	}
	return a
}

// TestAnnounceAddrsReachPeers: a node announcing only a proxy's address
// tells a peer (through identify) that address and not its own socket,
// and the peer, dialling from what it learned, goes through the proxy.
func TestAnnounceAddrsReachPeers(t *testing.T) {
	proxy := startProxy(t)
	oa := testOptions(t)
	oa.AnnounceAddrs = []ma.Multiaddr{proxy.addr()}
	a := startNode(t, oa)
	listen := a.Host().Network().ListenAddresses()[0]
	host, _ := manet.ToNetAddr(listen)
	proxy.target.Store(host.String())

	if got := a.Host().Addrs(); !slices.EqualFunc(got, oa.AnnounceAddrs, ma.Multiaddr.Equal) {
		t.Errorf("A announces %v, want only %v", got, oa.AnnounceAddrs)
	}
	if la := a.ListenAddrs(); len(la) != 1 || !la[0].Decapsulate(ma.StringCast("/p2p/"+a.ID().String())).Equal(listen) {
		t.Errorf("ListenAddrs %v, want the bound %v", la, listen)
	}

	b := startNode(t, testOptions(t))
	sub, err := b.Host().EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// B dials A's socket directly, as a peer on A's LAN would.
	if err := b.Host().Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: []ma.Multiaddr{listen}}); err != nil {
		t.Fatal(err)
	}
	var learned []ma.Multiaddr
	for learned == nil {
		select {
		case e := <-sub.Out():
			if ev := e.(event.EvtPeerIdentificationCompleted); ev.Peer == a.ID() {
				learned = ev.ListenAddrs
			}
		case <-ctx.Done():
			t.Fatal("no identify from A")
		}
	}
	if !slices.EqualFunc(learned, oa.AnnounceAddrs, ma.Multiaddr.Equal) {
		t.Fatalf("identify told B %v, want only %v", learned, oa.AnnounceAddrs)
	}
	if proxy.conns.Load() != 0 {
		t.Fatalf("the proxy saw %d connections before anyone dialled it", proxy.conns.Load())
	}

	// Forget the socket B dialled and the connection: what B has left is
	// what identify told it, and dialling it goes through the proxy.
	// A must not dial back either (it learned B's address from identify
	// and its DHT may want B), or B would reuse that connection.
	a.Host().Peerstore().ClearAddrs(b.ID())
	b.Host().Network().ClosePeer(a.ID())
	b.Host().Peerstore().SetAddr(a.ID(), listen, 0)
	if got := b.Host().Peerstore().Addrs(a.ID()); !slices.EqualFunc(got, oa.AnnounceAddrs, ma.Multiaddr.Equal) {
		t.Fatalf("B's peerstore has %v for A, want %v", got, oa.AnnounceAddrs)
	}
	waitFor(t, 10*time.Second, "B to drop its connection to A", func() bool {
		a.Host().Peerstore().ClearAddrs(b.ID())
		a.Host().Network().ClosePeer(b.ID())
		b.Host().Network().ClosePeer(a.ID())
		return len(b.Host().Network().ConnsToPeer(a.ID())) == 0
	})
	if err := b.Host().Connect(ctx, peer.AddrInfo{ID: a.ID()}); err != nil {
		t.Fatalf("dialling A at what it announced: %v", err)
	}
	if proxy.conns.Load() == 0 {
		t.Error("B reached A without going through the announced proxy")
	}
	// A may have dialled B back meanwhile (its DHT learns B from
	// identify), so B can hold a second, inbound connection; what counts
	// is that the one B dialled goes to the proxy.
	conns := b.Host().Network().ConnsToPeer(a.ID())
	viaProxy := func(c network.Conn) bool {
		return c.Stat().Direction == network.DirOutbound && c.RemoteMultiaddr().Equal(proxy.addr())
	}
	if !slices.ContainsFunc(conns, viaProxy) {
		t.Errorf("B's connections to A are %v, want an outbound one to the proxy %v", conns, proxy.addr())
	}
	for _, c := range conns {
		if c.Stat().Direction == network.DirOutbound && !viaProxy(c) {
			t.Errorf("B dialled A at %v, not at the announced proxy %v", c.RemoteMultiaddr(), proxy.addr())
		}
	}
}

// TestAppendAnnounceAddrs: extra addresses come on top of the listen ones.
func TestAppendAnnounceAddrs(t *testing.T) {
	o := testOptions(t)
	extra := ma.StringCast("/ip4/198.51.100.7/tcp/4801")
	o.AppendAnnounceAddrs = []ma.Multiaddr{extra}
	n := startNode(t, o)
	got := n.Host().Addrs()
	if !slices.ContainsFunc(got, extra.Equal) || !slices.ContainsFunc(got, manet.IsIPLoopback) {
		t.Errorf("announces %v, want the loopback listen address and %v", got, extra)
	}
}
