package p2p

import (
	"context"
	"log/slog"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultPort is trove's TCP port. It is deliberately not Kubo's 4001 so a
// trove daemon and an IPFS daemon can run on one host without clashing.
const DefaultPort = 4801

// DHT modes accepted by Options.DHTMode.
const (
	// DHTAuto serves DHT requests until AutoNAT proves this node is not
	// reachable from outside, then drops to client. Unknown reachability
	// (a LAN with no AutoNAT servers, or AutoNAT off) counts as reachable,
	// because a LAN swarm of clients only would have no routing at all.
	DHTAuto = "auto"
	// DHTServer always answers DHT queries and stores provider records.
	DHTServer = "server"
	// DHTClient only queries; it never stores records for others.
	DHTClient = "client"
)

// Private-address policies accepted by Options.PrivateAddrs.
const (
	// PrivateAddrsAuto accepts loopback and private (RFC 1918, ULA, ...)
	// peer addresses in the DHT only when none of this node's own listen
	// addresses is public. A laptop on a home LAN or a test on 127.0.0.1
	// keeps everything; a node with a public address behaves like a
	// public-internet DHT node and drops addresses nobody outside can dial.
	PrivateAddrsAuto = "auto"
	// PrivateAddrsAllow always accepts them (a private data-centre swarm
	// whose hosts also have public interfaces).
	PrivateAddrsAllow = "allow"
	// PrivateAddrsDeny never accepts them.
	PrivateAddrsDeny = "deny"
)

// Defaults used when the matching Options field is zero.
const (
	// DefaultConnMgrLow and DefaultConnMgrHigh bound open connections. A
	// DHT server keeps roughly 20 peers per non-empty bucket (about 100-200
	// in a network of thousands) and block transfers add a few dozen, so 100
	// is what trimming falls back to without losing routing; 400 leaves room
	// for bursts (a popular root fetched by many) while staying far below
	// the resource manager's connection limit on a 1 GiB machine.
	DefaultConnMgrLow  = 100
	DefaultConnMgrHigh = 400
	// DefaultConnMgrGrace protects new connections from trimming long
	// enough for identify and a first DHT exchange to finish.
	DefaultConnMgrGrace = time.Minute
	// DefaultReprovideInterval re-announces pinned roots well inside the
	// 48 h lifetime DHT servers give provider records, so one missed round
	// (a laptop asleep) does not make content vanish from the DHT.
	DefaultReprovideInterval = 12 * time.Hour
	// DefaultPeerstoreSaveInterval bounds how many peers a crash forgets.
	DefaultPeerstoreSaveInterval = 10 * time.Minute
	// DefaultMaxSavedPeers caps the peerstore file. A restart only needs a
	// handful of live peers to rejoin the DHT; more just slows startup.
	DefaultMaxSavedPeers = 200
)

// DefaultListenAddrs are used when Options.ListenAddrs is empty: TCP on
// DefaultPort on every IPv4 and IPv6 interface.
func DefaultListenAddrs() []ma.Multiaddr {
	return []ma.Multiaddr{
		ma.StringCast("/ip4/0.0.0.0/tcp/4801"),
		ma.StringCast("/ip6/::/tcp/4801"),
	}
}

// Options configures a Node. The zero value of every field except Identity
// is usable; each field documents its zero value. Switches that the repo
// config turns on by default (MDNS, NAT, AutoNAT, HolePunching, RelayClient)
// are off in the zero Options so tests and embedders opt in explicitly.
type Options struct {
	// Identity is the node's private key; its public half is the peer ID.
	// Required.
	Identity crypto.PrivKey

	// ListenAddrs are TCP multiaddrs to listen on. Empty means
	// DefaultListenAddrs(); tests pass /ip4/127.0.0.1/tcp/0.
	ListenAddrs []ma.Multiaddr

	// AnnounceAddrs, when non-empty, are the only addresses this node
	// tells peers (identify, the DHT, tickets, `trove id`), in place of
	// its listen, NAT-mapped, observed and relay addresses. They exist for
	// addresses the node cannot see itself: a router's port forward, or a
	// TCP proxy in front of it (as the WAN benchmark tier puts between
	// daemons). Empty means announce what libp2p finds.
	AnnounceAddrs []ma.Multiaddr
	// AppendAnnounceAddrs are announced in addition to the others (the
	// found ones, or AnnounceAddrs): a known public address on top of the
	// LAN ones. Empty adds nothing.
	AppendAnnounceAddrs []ma.Multiaddr

	// SwarmKey, when non-nil, makes this a private swarm: only nodes with
	// the same 32-byte key can connect. Nil joins the open trove network.
	SwarmKey []byte

	// DHTMode is DHTAuto, DHTServer or DHTClient. Empty means DHTAuto.
	DHTMode string

	// PrivateAddrs is the policy for loopback and private addresses in the
	// DHT (see PrivateAddrsAuto). Empty means PrivateAddrsAuto.
	PrivateAddrs string

	// Bootstrap peers are dialled at start and whenever the routing table
	// runs low. Empty means rely on the saved peerstore and mDNS.
	Bootstrap []peer.AddrInfo

	// MDNS announces and discovers peers on the local link under the
	// service name "trove". False means off.
	MDNS bool

	// NAT asks the router for a port mapping (UPnP / NAT-PMP). False: off.
	NAT bool
	// AutoNAT runs the AutoNAT service for others and AutoNAT v2 for
	// ourselves, so peers learn whether they are reachable. False: off.
	AutoNAT bool
	// HolePunching enables DCUtR to upgrade relayed connections to direct
	// ones. Useful only with RelayClient. False: off.
	HolePunching bool
	// RelayClient lets the node dial through circuit-relay v2 and, when it
	// finds itself unreachable, reserve a slot on connected relays. False:
	// no relay transport at all.
	RelayClient bool

	// ConnMgrLow and ConnMgrHigh are the connection manager's water marks.
	// Zero means DefaultConnMgrLow / DefaultConnMgrHigh.
	ConnMgrLow, ConnMgrHigh int

	// ResourceMemory is how much memory libp2p's resource manager may
	// account for; limits on connections and streams scale with it. Zero
	// means one eighth of the machine's memory (libp2p's recommendation for
	// a dedicated node).
	ResourceMemory int64
	// MaxConns caps open connections (half of them inbound). Zero means
	// DefaultMaxConns.
	MaxConns int
	// MaxStreamsPerPeer caps the inbound streams one peer may have open
	// over all protocols. Zero means DefaultMaxStreamsPerPeer.
	MaxStreamsPerPeer int
	// ProtocolLimits caps the inbound streams and stream memory of the
	// protocols it names (the daemon sets /trove/transfer/1.0.0's). Nil
	// leaves every protocol at libp2p's scaled default.
	ProtocolLimits map[protocol.ID]ProtocolLimit

	// PeerstorePath is a file where known peers' addresses are saved
	// periodically and on Close and read back at start, so a restarted
	// node rejoins without bootstrap peers. Empty means no persistence.
	PeerstorePath string
	// PeerstoreSaveInterval is how often the file is rewritten. Zero means
	// DefaultPeerstoreSaveInterval.
	PeerstoreSaveInterval time.Duration

	// DHTDatastore holds the provider records this node stores for others
	// as a DHT server. Nil keeps them in memory: they are lost on restart
	// and come back as their providers reprovide (within 12 h by default).
	// The caller owns it: Close does not close it.
	DHTDatastore ds.Batching

	// Roots returns the CIDs to re-announce each reprovide round (the node
	// passes its pinned roots). Nil means nothing is reprovided.
	Roots func(ctx context.Context) ([]cid.Cid, error)
	// ReprovideInterval is the time between reprovide rounds. Zero means
	// DefaultReprovideInterval; negative disables the loop.
	ReprovideInterval time.Duration

	// Registerer receives libp2p's metrics for this node. Nil means metrics
	// are off; the process-global default registry is never used, because
	// several nodes in one process would collide there.
	Registerer prometheus.Registerer

	// Logger receives this node's log lines. Nil discards them.
	Logger *slog.Logger
}
