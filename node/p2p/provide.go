package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"
)

// reprovideConcurrency bounds parallel provides in one round. Each is a DHT
// lookup of ~20 peers plus as many ADD_PROVIDER messages; eight in flight
// keeps a round of thousands of roots moving without flooding a home uplink.
const reprovideConcurrency = 8

// reprovideTimeout bounds one root's provide inside a round, so a lookup
// stuck on unresponsive peers cannot stall the remaining roots. kad-dht
// keeps the last second of it for storing the records.
const reprovideTimeout = time.Minute

// firstReprovideDelay lets a freshly started node fill its routing table
// before the first round, so the records land on the right peers.
const firstReprovideDelay = time.Minute

// Provide announces to the DHT that this node serves c. It returns once the
// record is stored on the closest peers found, or with the lookup's error.
func (n *Node) Provide(ctx context.Context, c cid.Cid) error {
	if !c.Defined() {
		return errors.New("p2p: provide: undefined CID")
	}
	if err := n.dht.Provide(ctx, c, true); err != nil {
		return fmt.Errorf("p2p: provide %s: %w", c, err)
	}
	return nil
}

// Reprovide runs one reprovide round: it asks Options.Roots for the current
// roots and announces each. It keeps going past failures and reports how
// many roots failed along with the first error.
func (n *Node) Reprovide(ctx context.Context) error {
	if n.opts.Roots == nil {
		return nil
	}
	roots, err := n.opts.Roots(ctx)
	if err != nil {
		return fmt.Errorf("p2p: reprovide: listing roots: %w", err)
	}
	var failed atomic.Int64
	var once sync.Once
	var firstErr error
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(reprovideConcurrency)
	for _, c := range roots {
		g.Go(func() error {
			ctx, cancel := context.WithTimeout(gctx, reprovideTimeout)
			defer cancel()
			if err := n.Provide(ctx, c); err != nil {
				failed.Add(1)
				once.Do(func() { firstErr = err })
			}
			return nil
		})
	}
	g.Wait()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("p2p: reprovide: %d of %d roots failed: %w", f, len(roots), firstErr)
	}
	n.log.Info("reprovided roots", "count", len(roots))
	return nil
}

func (n *Node) reprovideLoop(ctx context.Context) {
	interval := n.opts.ReprovideInterval
	t := time.NewTimer(min(firstReprovideDelay, interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.Reprovide(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("reprovide", "err", err)
		}
		t.Reset(interval)
	}
}

// FindProviders streams peers the DHT knows as providers of c, as they
// arrive; this node itself is left out. It stops after max results (max <= 0
// means until the lookup completes) or when ctx ends, and then closes the
// channel. Callers must drain the channel or cancel ctx.
func (n *Node) FindProviders(ctx context.Context, c cid.Cid, max int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo)
	if !c.Defined() {
		close(out)
		return out
	}
	ctx, cancel := context.WithCancel(ctx)
	ask := 0
	if max > 0 {
		// One extra in case this node is among the providers.
		ask = max + 1
	}
	in := n.dht.FindProvidersAsync(ctx, c, ask)
	go func() {
		defer close(out)
		defer cancel()
		sent := 0
		for p := range in {
			if p.ID == n.host.ID() {
				continue
			}
			select {
			case out <- p:
			case <-ctx.Done():
				return
			}
			sent++
			if max > 0 && sent >= max {
				return
			}
		}
	}()
	return out
}
