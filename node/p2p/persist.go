package p2p

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func (n *Node) savePeersLoop(ctx context.Context) {
	t := time.NewTicker(n.opts.PeerstoreSaveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := n.savePeers(); err != nil {
				n.log.Warn("saving peers", "err", err)
			}
		}
	}
}

// knownPeers picks the peers worth remembering, best first: connected ones
// (alive a moment ago), then routing-table members, then anything else the
// peerstore has addresses for.
func (n *Node) knownPeers() []peer.AddrInfo {
	self := n.host.ID()
	seen := map[peer.ID]bool{self: true}
	var out []peer.AddrInfo
	add := func(p peer.ID) {
		if seen[p] || len(out) >= DefaultMaxSavedPeers {
			return
		}
		seen[p] = true
		if addrs := n.host.Peerstore().Addrs(p); len(addrs) > 0 {
			out = append(out, peer.AddrInfo{ID: p, Addrs: addrs})
		}
	}
	for _, p := range n.host.Network().Peers() {
		add(p)
	}
	if n.dht != nil {
		for _, p := range n.dht.RoutingTable().ListPeers() {
			add(p)
		}
	}
	for _, p := range n.host.Peerstore().PeersWithAddrs() {
		add(p)
	}
	return out
}

// savePeers writes the peer file. An empty list never overwrites a
// non-empty file: a node that lost its network for a while should still
// find its old peers after a restart.
func (n *Node) savePeers() error {
	peers := n.knownPeers()
	if len(peers) == 0 {
		return nil
	}
	return writePeerFile(n.opts.PeerstorePath, peers)
}
