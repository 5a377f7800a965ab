package p2p

import (
	"fmt"
	"net"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// checkPortsFree fails if a fixed TCP listen port is already taken. libp2p
// binds with SO_REUSEPORT (so outgoing dials can leave from the listen port,
// which NAT traversal needs), and the kernel then lets a second trove on the
// same port bind too and quietly splits incoming connections between two
// identities. A plain bind, without the option, still conflicts with them.
func checkPortsFree(addrs []ma.Multiaddr) error {
	for _, a := range addrs {
		network, hostport, err := manet.DialArgs(a)
		if err != nil || (network != "tcp" && network != "tcp4" && network != "tcp6") {
			continue
		}
		_, port, err := net.SplitHostPort(hostport)
		if err != nil || port == "0" {
			continue
		}
		l, err := net.Listen(network, hostport)
		if err != nil {
			return fmt.Errorf("p2p: listen address %s unavailable (another trove or IPFS daemon?): %w", a, err)
		}
		l.Close()
	}
	return nil
}
