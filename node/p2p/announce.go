package p2p

import (
	"github.com/libp2p/go-libp2p/config"
	ma "github.com/multiformats/go-multiaddr"
)

// announceFactory builds the host's AddrsFactory for Options.AnnounceAddrs
// and AppendAnnounceAddrs. libp2p hands the factory everything it found
// (listen addresses, NAT mappings, observed and relay addresses); a
// non-empty replace list drops all of that, because a node behind a port
// forward or a proxy that also announced its own socket would see peers
// bypass the forward, which is the very thing the setting is for.
func announceFactory(replace, extra []ma.Multiaddr) config.AddrsFactory {
	return func(found []ma.Multiaddr) []ma.Multiaddr {
		base := found
		if len(replace) > 0 {
			base = replace
		}
		out := make([]ma.Multiaddr, 0, len(base)+len(extra))
		seen := make(map[string]bool, cap(out))
		for _, a := range append(append([]ma.Multiaddr(nil), base...), extra...) {
			if k := string(a.Bytes()); !seen[k] {
				seen[k] = true
				out = append(out, a)
			}
		}
		return out
	}
}
