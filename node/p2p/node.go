package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/sync/errgroup"
)

// DHTProtocolPrefix keeps trove's DHT apart from the public IPFS (Amino)
// DHT: peers speaking /ipfs/kad/1.0.0 never enter our routing tables and we
// never answer theirs.
const DHTProtocolPrefix = "/trove"

// MDNSService is the mDNS service name trove announces on the local link.
const MDNSService = "trove"

// connectTimeout bounds one dial during bootstrap and mDNS discovery, so a
// dead saved peer cannot hold up the others.
const connectTimeout = 10 * time.Second

// Node is one trove peer on the network: a libp2p host plus its DHT.
type Node struct {
	opts   Options
	limits rcmgr.ConcreteLimitConfig // effective, for Limits
	log    *slog.Logger
	host   host.Host
	dht    *dht.IpfsDHT
	bw     *metrics.BandwidthCounter
	mdns   mdns.Service
	public bool
	saved  []peer.AddrInfo

	hostReady chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// withDefaults returns o with every zero field at its documented default;
// checking what is set is New's job.
func (o Options) withDefaults() Options {
	if len(o.ListenAddrs) == 0 {
		o.ListenAddrs = DefaultListenAddrs()
	}
	if o.ConnMgrLow == 0 {
		o.ConnMgrLow = DefaultConnMgrLow
	}
	if o.ConnMgrHigh == 0 {
		o.ConnMgrHigh = DefaultConnMgrHigh
	}
	if o.PeerstoreSaveInterval <= 0 {
		o.PeerstoreSaveInterval = DefaultPeerstoreSaveInterval
	}
	if o.ReprovideInterval == 0 {
		o.ReprovideInterval = DefaultReprovideInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// New starts a node: it listens, starts the DHT, and in the background dials
// bootstrap and saved peers and runs the reprovide and peerstore loops. It
// does not wait for any peer; call Bootstrap to wait. ctx only cancels the
// start itself; the node runs until Close.
func New(ctx context.Context, o Options) (_ *Node, err error) {
	if o.Identity == nil {
		return nil, errors.New("p2p: Options.Identity is required")
	}
	if o.SwarmKey != nil && len(o.SwarmKey) != SwarmKeySize {
		return nil, fmt.Errorf("p2p: %w: %d bytes, want %d", ErrBadSwarmKey, len(o.SwarmKey), SwarmKeySize)
	}
	mode, err := dhtMode(o.DHTMode)
	if err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if o.ConnMgrHigh < o.ConnMgrLow {
		return nil, fmt.Errorf("p2p: ConnMgrHigh %d below ConnMgrLow %d", o.ConnMgrHigh, o.ConnMgrLow)
	}
	if loopbackOnly(o.ListenAddrs) && (o.MDNS || o.NAT) {
		// Nothing off this host can reach a node that listens only on
		// loopback, so announcing it on the LAN (mDNS multicast) or asking
		// the router for a port mapping (UPnP/NAT-PMP) would only send
		// traffic beyond the host for nothing. Tests and local setups
		// listen this way; a real node listens on 0.0.0.0 and keeps both.
		o.MDNS, o.NAT = false, false
	}
	log := o.Logger

	n := &Node{
		opts:      o,
		bw:        metrics.NewBandwidthCounter(),
		hostReady: make(chan struct{}),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	if err := checkPortsFree(o.ListenAddrs); err != nil {
		return nil, err
	}
	hopts, release, err := n.hostOptions()
	if err != nil {
		return nil, err
	}
	n.host, err = libp2p.New(hopts...)
	if err != nil {
		release()
		return nil, fmt.Errorf("p2p: starting host: %w", err)
	}
	close(n.hostReady)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.log = log.With("peer", n.host.ID().String())

	n.public, err = publicDHT(o.PrivateAddrs, n.host)
	if err != nil {
		return nil, err
	}

	if o.PeerstorePath != "" {
		saved, skipped, err := readPeerFile(o.PeerstorePath)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			n.log.Warn("cannot read saved peers; starting without them", "path", o.PeerstorePath, "err", err)
		default:
			if skipped > 0 {
				n.log.Warn("skipped malformed lines in peer file", "path", o.PeerstorePath, "lines", skipped)
			}
			for _, p := range saved {
				if p.ID == n.host.ID() {
					continue
				}
				n.host.Peerstore().AddAddrs(p.ID, p.Addrs, peerstore.AddressTTL)
				n.saved = append(n.saved, p)
			}
		}
	}

	dopts := []dht.Option{
		dht.ProtocolPrefix(DHTProtocolPrefix),
		dht.Mode(mode),
		dht.BootstrapPeersFunc(n.bootstrapPeers),
	}
	dopts = append(dopts, dhtAddrOptions(n.public)...)
	if o.DHTDatastore != nil {
		dopts = append(dopts, dht.Datastore(o.DHTDatastore))
	}
	n.dht, err = dht.New(n.host, dopts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: starting DHT: %w", err)
	}

	if o.MDNS {
		n.mdns = mdns.NewMdnsService(n.host, MDNSService, mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			return nil, fmt.Errorf("p2p: starting mDNS: %w", err)
		}
	}

	n.log.Info("p2p node started", "addrs", n.Addrs(), "dht_mode", o.DHTMode,
		"public_dht", n.public, "private_swarm", o.SwarmKey != nil, "saved_peers", len(n.saved))

	n.spawn(func(ctx context.Context) {
		if err := n.Bootstrap(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("bootstrap", "err", err)
		}
	})
	if o.PeerstorePath != "" {
		n.spawn(n.savePeersLoop)
	}
	if o.Roots != nil && o.ReprovideInterval > 0 {
		n.spawn(n.reprovideLoop)
	}
	return n, nil
}

func dhtMode(s string) (dht.ModeOpt, error) {
	switch s {
	case "", DHTAuto:
		return dht.ModeAutoServer, nil
	case DHTServer:
		return dht.ModeServer, nil
	case DHTClient:
		return dht.ModeClient, nil
	}
	return 0, fmt.Errorf("p2p: unknown DHTMode %q (want auto, server or client)", s)
}

// hostOptions builds the libp2p options. release frees the resource and
// connection managers if the host never takes ownership of them.
func (n *Node) hostOptions() (_ []libp2p.Option, release func(), _ error) {
	o := n.opts
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	var concrete rcmgr.ConcreteLimitConfig
	if o.ResourceMemory > 0 {
		concrete = limits.Scale(o.ResourceMemory, fdLimit()/2)
	} else {
		concrete = limits.AutoScale()
	}
	concrete = applyLimits(concrete, o)
	n.limits = concrete
	var rmOpts []rcmgr.Option
	if o.Registerer == nil {
		rmOpts = append(rmOpts, rcmgr.WithMetricsDisabled())
	} else {
		str, err := rcmgr.NewStatsTraceReporter()
		if err != nil {
			return nil, nil, err
		}
		rmOpts = append(rmOpts, rcmgr.WithTraceReporter(str))
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(concrete), rmOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(o.ConnMgrLow, o.ConnMgrHigh, connmgr.WithGracePeriod(DefaultConnMgrGrace))
	if err != nil {
		rm.Close()
		return nil, nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	release = func() {
		cm.Close()
		rm.Close()
	}

	opts := []libp2p.Option{
		libp2p.Identity(o.Identity),
		libp2p.ListenAddrs(o.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, muxer()),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.BandwidthReporter(n.bw),
		libp2p.UserAgent("trove"),
	}
	if len(o.AnnounceAddrs)+len(o.AppendAnnounceAddrs) > 0 {
		opts = append(opts, libp2p.AddrsFactory(announceFactory(o.AnnounceAddrs, o.AppendAnnounceAddrs)))
	}
	if o.SwarmKey != nil {
		opts = append(opts, libp2p.PrivateNetwork(pnet.PSK(o.SwarmKey)))
	}
	if o.Registerer != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(o.Registerer))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	if o.NAT {
		opts = append(opts, libp2p.NATPortMap())
	}
	if o.AutoNAT {
		opts = append(opts, libp2p.EnableNATService(), libp2p.EnableAutoNATv2())
	}
	if o.RelayClient {
		opts = append(opts, libp2p.EnableRelay(), libp2p.EnableAutoRelayWithPeerSource(n.relayCandidates))
	} else {
		opts = append(opts, libp2p.DisableRelay())
	}
	if o.HolePunching {
		opts = append(opts, libp2p.EnableHolePunching())
	}
	return opts, release, nil
}

// relayCandidates feeds AutoRelay with the peers we are connected to; it
// checks each for the relay protocol itself. trove has no relay directory,
// and connected DHT servers are the peers most likely to be reachable.
func (n *Node) relayCandidates(ctx context.Context, num int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo)
	go func() {
		defer close(out)
		select {
		case <-n.hostReady:
		case <-ctx.Done():
			return
		}
		for _, p := range n.host.Network().Peers() {
			if num <= 0 {
				return
			}
			select {
			case out <- n.host.Peerstore().PeerInfo(p):
				num--
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// bootstrapPeers is what kad-dht dials when its routing table runs low:
// the configured bootstrap peers, then the ones saved from the last run.
func (n *Node) bootstrapPeers() []peer.AddrInfo {
	out := make([]peer.AddrInfo, 0, len(n.opts.Bootstrap)+len(n.saved))
	out = append(out, n.opts.Bootstrap...)
	return append(out, n.saved...)
}

// spawn runs f in a goroutine that Close waits for, unless Close has begun.
func (n *Node) spawn(f func(ctx context.Context)) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f(n.ctx)
	}()
	return true
}

// Bootstrap dials the configured bootstrap peers and the peers saved by a
// previous run, then waits for one routing-table refresh. It fails only if
// there were peers to dial and none answered. New already calls it in the
// background; call it to wait until the node has joined.
func (n *Node) Bootstrap(ctx context.Context) error {
	var cands []peer.AddrInfo
	for _, p := range n.bootstrapPeers() {
		if p.ID != n.host.ID() {
			cands = append(cands, p)
		}
	}
	if len(cands) > 0 {
		var mu sync.Mutex
		var ok int
		var firstErr error
		var g errgroup.Group
		g.SetLimit(16)
		for _, p := range cands {
			g.Go(func() error {
				cctx, cancel := context.WithTimeout(ctx, connectTimeout)
				defer cancel()
				err := n.host.Connect(cctx, p)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					ok++
				} else if firstErr == nil {
					firstErr = err
				}
				return nil
			})
		}
		g.Wait()
		if ok == 0 {
			return fmt.Errorf("p2p: no bootstrap peer reachable (%d tried): %w", len(cands), firstErr)
		}
	}
	// A connection enters the routing table only after identify and the
	// DHT's own liveness check, so give that a moment before refreshing;
	// a refresh from an empty table fails outright.
	if len(cands) == 0 && n.dht.RoutingTable().Size() == 0 {
		return nil // nothing to join yet; mDNS or inbound peers may come
	}
	if err := n.waitRoutingTable(ctx, rtFillWait); err != nil {
		return err
	}
	select {
	case err := <-n.dht.RefreshRoutingTable():
		if err != nil {
			return fmt.Errorf("p2p: routing table refresh: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rtFillWait bounds how long Bootstrap waits for its first routing-table
// entry. Identify plus one DHT round trip takes milliseconds on a LAN and
// well under a second across continents, but an overloaded host (dozens of
// nodes in one test process) can need far longer.
const rtFillWait = 30 * time.Second

func (n *Node) waitRoutingTable(ctx context.Context, d time.Duration) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n.dht.RoutingTable().Size() == 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return errors.New("p2p: connected, but no peer entered the DHT routing table (are they DHT servers with the same swarm key?)")
		case <-tick.C:
		}
	}
	return nil
}

type mdnsNotifee struct{ n *Node }

func (m mdnsNotifee) HandlePeerFound(p peer.AddrInfo) {
	n := m.n
	if p.ID == n.host.ID() || n.host.Network().Connectedness(p.ID) == network.Connected {
		return
	}
	n.spawn(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, connectTimeout)
		defer cancel()
		if err := n.host.Connect(ctx, p); err != nil {
			n.log.Debug("mDNS peer unreachable", "remote", p.ID.String(), "err", err)
		}
	})
}

// Close stops the loops, saves the peerstore, and shuts the DHT and host
// down. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		n.cancel()
		n.wg.Wait()
		var errs []error
		if n.host != nil && n.opts.PeerstorePath != "" {
			if err := n.savePeers(); err != nil {
				errs = append(errs, err)
			}
		}
		if n.mdns != nil {
			errs = append(errs, n.mdns.Close())
		}
		if n.dht != nil {
			errs = append(errs, n.dht.Close())
		}
		if n.host != nil {
			errs = append(errs, n.host.Close())
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// ID is this node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Addrs are the addresses peers can dial, each ending in /p2p/<ID> so it
// can be pasted into another node's bootstrap list.
func (n *Node) Addrs() []ma.Multiaddr {
	addrs, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	return addrs
}

// ListenAddrs are the addresses the node's sockets are bound to, with an
// unspecified IP (0.0.0.0, ::) expanded to each interface's, each ending
// in /p2p/<ID>. Unlike Addrs they ignore AnnounceAddrs: they say where
// this host listens, which is what a proxy or port forward must point at.
func (n *Node) ListenAddrs() []ma.Multiaddr {
	var listen []ma.Multiaddr
	for _, a := range n.host.Network().ListenAddresses() {
		// The relay transport "listens" on /p2p-circuit, which is no
		// socket anyone could point a forward at.
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err != nil {
			listen = append(listen, a)
		}
	}
	if ifaces, err := manet.InterfaceMultiaddrs(); err == nil {
		if resolved, err := manet.ResolveUnspecifiedAddresses(listen, ifaces); err == nil {
			listen = resolved
		}
	}
	addrs, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: listen})
	return addrs
}

// AddrInfo is this node's ID and dialable addresses.
func (n *Node) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
}

// Host exposes the libp2p host for the transfer layer's protocols.
func (n *Node) Host() host.Host { return n.host }

// Routing exposes the DHT as libp2p's generic content and peer routing.
func (n *Node) Routing() routing.Routing { return n.dht }

// Connect dials p (no-op if already connected). It is for a user asking
// for this peer now, so it first forgets earlier failed dials to it:
// otherwise libp2p answers "dial backoff" for a while after any failure,
// such as one at start-up to a peer remembered from the last run.
func (n *Node) Connect(ctx context.Context, p peer.AddrInfo) error {
	if sw, ok := n.host.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(p.ID)
	}
	if err := n.host.Connect(ctx, p); err != nil {
		var de *swarm.DialError
		if errors.As(err, &de) {
			return unreachable{de}
		}
		return fmt.Errorf("p2p: connect %s: %w", p.ID, err)
	}
	return nil
}

// unreachable words a failed dial once. libp2p's own message says
// "failed to dial" twice (host, then swarm) before the one line per
// address that matters.
type unreachable struct{ de *swarm.DialError }

func (u unreachable) Unwrap() error { return u.de }

func (u unreachable) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cannot reach %s", u.de.Peer)
	if u.de.Cause != nil && len(u.de.DialErrors) == 0 {
		fmt.Fprintf(&b, ": %v", u.de.Cause)
	}
	for i, te := range u.de.DialErrors {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s: %v", sep, te.Address, te.Cause)
	}
	if u.de.Skipped > 0 {
		fmt.Fprintf(&b, " (and %d more addresses)", u.de.Skipped)
	}
	return b.String()
}

// PeerInfo describes one connected peer for `trove peers`.
type PeerInfo struct {
	ID peer.ID
	// Addrs are the remote ends of our open connections to it.
	Addrs []ma.Multiaddr
	// Latency is the smoothed round-trip time, zero until measured.
	Latency time.Duration
	// Direction is who dialled the first open connection.
	Direction network.Direction
}

// Peers lists the peers with an open connection.
func (n *Node) Peers() []PeerInfo {
	var out []PeerInfo
	index := map[peer.ID]int{}
	for _, c := range n.host.Network().Conns() {
		p := c.RemotePeer()
		if i, ok := index[p]; ok {
			out[i].Addrs = append(out[i].Addrs, c.RemoteMultiaddr())
			continue
		}
		index[p] = len(out)
		out = append(out, PeerInfo{
			ID:        p,
			Addrs:     []ma.Multiaddr{c.RemoteMultiaddr()},
			Latency:   n.host.Peerstore().LatencyEWMA(p),
			Direction: c.Stat().Direction,
		})
	}
	return out
}

// Stats are the network figures `trove stats` prints.
type Stats struct {
	// TotalIn and TotalOut are bytes received and sent since start, over
	// all protocols, as seen above the security layer.
	TotalIn, TotalOut int64
	// RateIn and RateOut are smoothed bytes per second.
	RateIn, RateOut float64
	// Peers is the number of connected peers.
	Peers int
	// RoutingTable is the number of peers in the DHT routing table.
	RoutingTable int
	// PublicDHT reports whether the DHT filters private addresses.
	PublicDHT bool
}

// Stats returns current traffic and routing figures.
func (n *Node) Stats() Stats {
	t := n.bw.GetBandwidthTotals()
	return Stats{
		TotalIn:      t.TotalIn,
		TotalOut:     t.TotalOut,
		RateIn:       t.RateIn,
		RateOut:      t.RateOut,
		Peers:        len(n.host.Network().Peers()),
		RoutingTable: n.dht.RoutingTable().Size(),
		PublicDHT:    n.public,
	}
}

// loopbackOnly reports whether every listen address is a loopback IP.
func loopbackOnly(addrs []ma.Multiaddr) bool {
	for _, a := range addrs {
		if !manet.IsIPLoopback(a) {
			return false
		}
	}
	return len(addrs) > 0
}
