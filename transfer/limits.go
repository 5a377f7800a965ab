package transfer

import (
	"context"

	"github.com/trove-p2p/trove/block"
	"golang.org/x/time/rate"
)

func limitOf(bps float64) rate.Limit {
	if bps <= 0 {
		return rate.Inf
	}
	return rate.Limit(bps)
}

// burstOf keeps bursts to about 1/20 s of traffic, so a cap holds over
// short transfers too; waitBytes splits blocks larger than the burst.
func burstOf(bps float64) int {
	if bps <= 0 {
		return block.MaxSize
	}
	return int(min(max(bps/20, 16<<10), block.MaxSize))
}

// waitBytes takes n tokens from lim in pieces no larger than its burst.
func waitBytes(ctx context.Context, lim *rate.Limiter, n int) error {
	for n > 0 {
		k := min(n, lim.Burst())
		if err := lim.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func setLimit(lim *rate.Limiter, bps float64) {
	lim.SetBurst(burstOf(bps))
	lim.SetLimit(limitOf(bps))
}
