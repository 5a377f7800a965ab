// Package p2p is trove's network layer below block exchange: one libp2p host
// (TCP, Noise, yamux, optional private-swarm key), a Kademlia DHT under the
// /trove protocol prefix, mDNS discovery, and the provide/reprovide loop that
// tells the DHT which roots this node can serve.
//
// A Node owns everything it starts and holds no package-level state, so many
// nodes can share one process (the tests run fifty). Moving blocks between
// connected peers is the transfer layer's job; this package only finds and
// connects peers.
package p2p
