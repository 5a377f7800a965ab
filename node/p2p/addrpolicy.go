package p2p

import (
	"fmt"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// publicDHT decides, once at start, whether this node's DHT should behave
// like a public-internet node (filter out loopback and private addresses)
// or like a LAN node (keep them). Deciding from the bound listen sockets,
// not from observed addresses, keeps the decision stable: a home node that
// later learns its router's public IP still serves its LAN.
func publicDHT(policy string, h host.Host) (bool, error) {
	switch policy {
	case "", PrivateAddrsAuto:
		return hasPublicListenAddr(h), nil
	case PrivateAddrsAllow:
		return false, nil
	case PrivateAddrsDeny:
		return true, nil
	default:
		return false, fmt.Errorf("p2p: unknown PrivateAddrs policy %q (want auto, allow or deny)", policy)
	}
}

func hasPublicListenAddr(h host.Host) bool {
	listen := h.Network().ListenAddresses()
	ifaces, err := manet.InterfaceMultiaddrs()
	if err == nil {
		if resolved, err := manet.ResolveUnspecifiedAddresses(listen, ifaces); err == nil {
			listen = resolved
		}
	}
	for _, a := range listen {
		if manet.IsPublicAddr(a) {
			return true
		}
	}
	return false
}

// dhtAddrOptions returns the kad-dht filters for the chosen policy. kad-dht
// on its own (outside its "dual" wrapper) filters nothing, which on the
// public internet would fill routing tables and provider records with
// 192.168.x.x addresses nobody can dial; so the public case installs
// kad-dht's own public filters plus an address filter on what we store and
// hand out.
func dhtAddrOptions(public bool) []dht.Option {
	if !public {
		return nil
	}
	return []dht.Option{
		dht.QueryFilter(dht.PublicQueryFilter),
		dht.RoutingTableFilter(dht.PublicRoutingTableFilter),
		dht.AddressFilter(publicAddrsOnly),
	}
}

func publicAddrsOnly(addrs []ma.Multiaddr) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, a := range addrs {
		if manet.IsPublicAddr(a) {
			out = append(out, a)
		}
	}
	return out
}
