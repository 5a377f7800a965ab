package p2p

import (
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// Defaults of the resource limits, sized so that a daemon on a 1 GiB
// machine cannot be made to hold more than a small share of it by peers.
const (
	// DefaultMaxConns is the open connections, both directions, the
	// resource manager admits: the connection manager's high water mark
	// plus room for a burst that trimming will bring back down. Half may
	// be inbound.
	DefaultMaxConns = 512
	// DefaultMaxStreamsPerPeer is the inbound streams one peer may have
	// open at once over all protocols. A DHT query or a transfer needs a
	// handful; libp2p's own default (256 and up) lets one peer take a
	// large share of the node's stream budget.
	DefaultMaxStreamsPerPeer = 64
	// StreamMemoryLimit is what one stream may reserve. libp2p's default
	// (16 MiB) is below what a transfer fetch session reserves for its
	// 16 MiB receive window at medium priority (which the resource manager
	// admits while a scope stays under 60% of its limit), so every session
	// got 8 MiB, a far peer's limit of 8 MiB per round trip. Streams
	// reserve through their peer, protocol and system scopes too, which
	// keep bounding the totals.
	StreamMemoryLimit = 32 << 20
)

// ProtocolLimit caps what one protocol's inbound streams may hold. Zero
// fields leave libp2p's scaled default.
type ProtocolLimit struct {
	// Streams is inbound streams from all peers together.
	Streams int
	// StreamsPerPeer is inbound streams from one peer.
	StreamsPerPeer int
	// Memory is bytes handlers may reserve through their streams' scopes,
	// for all peers together.
	Memory int64
	// MemoryPerPeer is the same for one peer.
	MemoryPerPeer int64
}

// applyLimits overrides the scaled limits with trove's caps.
func applyLimits(c rcmgr.ConcreteLimitConfig, o Options) rcmgr.ConcreteLimitConfig {
	conns := orInt(o.MaxConns, DefaultMaxConns)
	part := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns:         rcmgr.LimitVal(conns),
			ConnsInbound:  rcmgr.LimitVal(max(conns/2, 1)),
			ConnsOutbound: rcmgr.LimitVal(conns),
		},
		PeerDefault: rcmgr.ResourceLimits{
			StreamsInbound: rcmgr.LimitVal(orInt(o.MaxStreamsPerPeer, DefaultMaxStreamsPerPeer)),
		},
		Stream:       rcmgr.ResourceLimits{Memory: rcmgr.LimitVal64(StreamMemoryLimit)},
		Protocol:     map[protocol.ID]rcmgr.ResourceLimits{},
		ProtocolPeer: map[protocol.ID]rcmgr.ResourceLimits{},
	}
	for id, l := range o.ProtocolLimits {
		part.Protocol[id] = rcmgr.ResourceLimits{StreamsInbound: rcmgr.LimitVal(l.Streams), Memory: rcmgr.LimitVal64(l.Memory)}
		part.ProtocolPeer[id] = rcmgr.ResourceLimits{StreamsInbound: rcmgr.LimitVal(l.StreamsPerPeer), Memory: rcmgr.LimitVal64(l.MemoryPerPeer)}
	}
	return part.Build(c)
}

func orInt(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// Limits are the resource manager's effective limits and what is in use,
// for `trove stats`.
type Limits struct {
	Memory, MemoryUsed   int64
	Conns, ConnsUsed     int
	ConnsInbound         int
	Streams, StreamsUsed int
	StreamsPerPeer       int // inbound, any protocol
	// Protocols holds the protocols given in Options.ProtocolLimits.
	Protocols map[protocol.ID]ProtocolLimits
}

// ProtocolLimits is one protocol's effective limits and use.
type ProtocolLimits struct {
	Streams, StreamsUsed int // inbound
	StreamsPerPeer       int // inbound
	Memory, MemoryUsed   int64
	MemoryPerPeer        int64
}

// Limits reports the resource manager's limits and current use.
func (n *Node) Limits() Limits {
	part := n.limits.ToPartialLimitConfig()
	l := Limits{
		Memory:         int64(part.System.Memory),
		Conns:          int(part.System.Conns),
		ConnsInbound:   int(part.System.ConnsInbound),
		Streams:        int(part.System.Streams),
		StreamsPerPeer: int(part.PeerDefault.StreamsInbound),
		Protocols:      map[protocol.ID]ProtocolLimits{},
	}
	rm := n.host.Network().ResourceManager()
	_ = rm.ViewSystem(func(s network.ResourceScope) error {
		st := s.Stat()
		l.MemoryUsed, l.ConnsUsed, l.StreamsUsed = st.Memory, st.NumConnsInbound+st.NumConnsOutbound, st.NumStreamsInbound+st.NumStreamsOutbound
		return nil
	})
	for id := range n.opts.ProtocolLimits {
		pl := ProtocolLimits{
			Streams:        int(part.Protocol[id].StreamsInbound),
			StreamsPerPeer: int(part.ProtocolPeer[id].StreamsInbound),
			Memory:         int64(part.Protocol[id].Memory),
			MemoryPerPeer:  int64(part.ProtocolPeer[id].Memory),
		}
		_ = rm.ViewProtocol(id, func(s network.ProtocolScope) error {
			st := s.Stat()
			pl.StreamsUsed, pl.MemoryUsed = st.NumStreamsInbound, st.Memory
			return nil
		})
		l.Protocols[id] = pl
	}
	return l
}
