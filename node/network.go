package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/node/api"
)

// The network operations are the Daemon's: they need the p2p host an
// offline Node does not have. Their signatures are Remote's, so a front
// door in the daemon's process and the CLI through the API see one shape;
// networkOps makes a difference a compile error.
type networkOps interface {
	ID(ctx context.Context) (IDResult, error)
	Peers(ctx context.Context) ([]PeerResult, error)
	Connect(ctx context.Context, addr string) (IDResult, error)
	Provide(ctx context.Context, path string) (string, error)
	FindProviders(ctx context.Context, a FindProvsArgs, found func(ProviderEvent) error) (FindProvsResult, error)
	Stats(ctx context.Context) (StatsResult, error)
}

var _, _ networkOps = (*Daemon)(nil), (*Remote)(nil)

// ID describes this node for `trove id`.
func (d *Daemon) ID(context.Context) (IDResult, error) {
	return IDResult{ID: d.net.ID().String(), Addrs: addrStrings(d.net.Addrs()), Gateway: d.GatewayURL()}, nil
}

// Peers lists connected peers.
func (d *Daemon) Peers(context.Context) ([]PeerResult, error) {
	out := []PeerResult{}
	for _, p := range d.net.Peers() {
		pr := PeerResult{ID: p.ID.String(), Addrs: addrStrings(p.Addrs), Direction: p.Direction.String()}
		if p.Latency > 0 {
			pr.Latency = p.Latency.Round(time.Microsecond).String()
		}
		if x := d.node.xfer; x != nil {
			if b, ok := x.fetcher.BanOf(p.ID); ok {
				until := b.Until.UTC().Round(time.Second)
				pr.Banned, pr.BanReason = &until, b.Reason
			}
		}
		out = append(out, pr)
	}
	return out, nil
}

// Connect dials a peer given as a multiaddr ending in /p2p/<ID>.
func (d *Daemon) Connect(ctx context.Context, addr string) (IDResult, error) {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return IDResult{}, fmt.Errorf("%w: %q is not a multiaddr ending in /p2p/<peer ID>: %v", api.ErrBadRequest, addr, err)
	}
	if err := d.net.Connect(ctx, *ai); err != nil {
		return IDResult{}, err
	}
	return IDResult{ID: ai.ID.String(), Addrs: addrStrings(ai.Addrs)}, nil
}

// Provide announces the content at path to the DHT and waits for the
// announcement, unlike Announce; it returns the CID announced.
func (d *Daemon) Provide(ctx context.Context, path string) (string, error) {
	c, err := d.node.Resolve(ctx, path)
	if err != nil {
		return "", err
	}
	// Announcing what we cannot serve would send peers to a hole.
	if ok, err := d.node.store.Has(ctx, c); err != nil {
		return "", err
	} else if !ok {
		return "", fmt.Errorf("provide: %w", block.NotFound(c))
	}
	err = d.net.Provide(ctx, c)
	d.metrics.provided(err)
	return c.String(), err
}

// FindProviders passes providers of a CID to found as the DHT yields them,
// until a.Num are found or a.Timeout passes; found's error stops it.
func (d *Daemon) FindProviders(ctx context.Context, a FindProvsArgs, found func(ProviderEvent) error) (FindProvsResult, error) {
	c, err := ParseCID(a.Cid)
	if err != nil {
		return FindProvsResult{}, err
	}
	d.metrics.findProviders.Inc()
	timeout, num := time.Duration(a.Timeout), a.Num
	if timeout <= 0 {
		timeout = DefaultFindProvsTimeout
	}
	if num <= 0 {
		num = DefaultFindProvsNum
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n := 0
	for p := range d.net.FindProviders(ctx, c, num) {
		n++
		if err := found(ProviderEvent{ID: p.ID.String(), Addrs: addrStrings(p.Addrs)}); err != nil {
			return FindProvsResult{Found: n}, err
		}
	}
	// The timeout is how a lookup ends when fewer than Num providers
	// exist; it is not an error, but the caller's own cancel is.
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return FindProvsResult{Found: n}, err
	}
	return FindProvsResult{Found: n}, nil
}

// Stats reports network and repo figures.
func (d *Daemon) Stats(ctx context.Context) (StatsResult, error) {
	rs, err := d.node.RepoStat(ctx)
	if err != nil {
		return StatsResult{}, err
	}
	ns := d.net.Stats()
	return StatsResult{
		PeerID: d.net.ID().String(), Peers: ns.Peers, RoutingTable: ns.RoutingTable,
		TotalIn: ns.TotalIn, TotalOut: ns.TotalOut, RateIn: ns.RateIn, RateOut: ns.RateOut,
		Blocks: rs.Blocks, RepoBytes: rs.Bytes, DiskBytes: rs.DiskBytes, Pins: rs.Pins,
		Resources: resourceStats(d.net.Limits()),
	}, nil
}

func addrStrings(as []ma.Multiaddr) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}
