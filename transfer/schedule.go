package transfer

import (
	"slices"
	"time"
)

// PeerLoad is the scheduler's view of one provider.
type PeerLoad struct {
	// Rate is the measured throughput in bytes/s; zero means not yet
	// measured.
	Rate float64
	// Inflight is the bytes requested from the peer and not yet received.
	Inflight int64
	// Usable is false for peers that are backing off after a failure.
	Usable bool
}

// SpanLoad is the scheduler's view of one unfinished span of blocks.
type SpanLoad struct {
	// Bytes still missing from the span.
	Bytes int64
	// Holders are the indexes of peers currently fetching the span.
	Holders []int
	// Urgent spans (a reader is waiting on them) go first.
	Urgent bool
	// Started is true once any block of the span arrived from a
	// holder; only unstarted spans may be stolen.
	Started bool
}

// Assignment asks Peer to fetch Span. If Steal is set, the span's current
// (single) holder is to be cancelled first: the work moves, it is not
// duplicated.
type Assignment struct {
	Peer, Span int
	Steal      bool
}

// SchedConfig tunes Schedule. The zero value gets the defaults noted.
type SchedConfig struct {
	// Horizon is how much time worth of data each peer should have in
	// flight: enough to keep its pipe full between replies. Zero: 250ms.
	Horizon time.Duration
	// StartInflight is the pipeline depth for a peer whose rate is not
	// measured yet: enough to fill a long fat link (12.5 MB at 100 ms and
	// 125 MB/s) before the first sample. Zero: 8 MiB.
	StartInflight int64
	// MinInflight is the least pipeline depth for a measured peer. Kept
	// small, so that at the end of a list a slow peer does not sit on
	// queued work the others could share: what is queued at a server is
	// mostly on the wire already and cannot be taken back. Zero: 2 MiB.
	MinInflight int64
	// MaxInflight caps any one peer's pipeline. Zero: 64 MiB.
	MaxInflight int64
	// DefaultRate is assumed for unmeasured peers when comparing finish
	// times. Zero: 10 MB/s.
	DefaultRate float64
	// MaxHolders caps how many peers may fetch the same span in the
	// endgame. Zero: 2.
	MaxHolders int
}

func (c SchedConfig) withDefaults() SchedConfig {
	if c.Horizon <= 0 {
		c.Horizon = 250 * time.Millisecond
	}
	if c.StartInflight <= 0 {
		c.StartInflight = 8 << 20
	}
	if c.MinInflight <= 0 {
		c.MinInflight = 2 << 20
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 64 << 20
	}
	if c.DefaultRate <= 0 {
		c.DefaultRate = 10e6
	}
	if c.MaxHolders <= 0 {
		c.MaxHolders = 2
	}
	return c
}

// Schedule decides which peer fetches which span next. It is a pure
// function of its inputs (no clock, no locks, no I/O) so that every policy
// decision can be tested exhaustively; the Fetcher calls it on every event
// and carries out the result.
//
// Policy:
//   - Each usable peer may have Rate*Horizon bytes in flight (clamped to
//     [MinInflight, MaxInflight]; StartInflight until measured), so fast peers are kept busy and slow ones
//     are not handed work they would sit on: work "steals itself" towards
//     whoever drains it.
//   - Unassigned spans go out urgent first, then in order (so a streaming
//     reader gets the front of the file first), each to the peer that
//     would finish it soonest given what it already has in flight.
//   - A peer with room steals a queued, unstarted span from a peer that
//     would deliver it clearly later (the old request is cancelled).
//   - Only when no unassigned span is left (the endgame) may a span be
//     duplicated: a peer with spare room takes the in-flight span whose
//     holder is expected to finish last, if it would finish it in less
//     than half the time.
//     Outside the endgame no block is requested twice.
func Schedule(peers []PeerLoad, spans []SpanLoad, cfg SchedConfig) []Assignment {
	cfg = cfg.withDefaults()
	inflight := make([]int64, len(peers))
	for i, p := range peers {
		inflight[i] = p.Inflight
	}
	rate := func(i int) float64 {
		if peers[i].Rate > 0 {
			return peers[i].Rate
		}
		return cfg.DefaultRate
	}
	capOf := func(i int) int64 {
		if peers[i].Rate <= 0 {
			return cfg.StartInflight
		}
		c := int64(peers[i].Rate * cfg.Horizon.Seconds())
		return min(max(c, cfg.MinInflight), cfg.MaxInflight)
	}
	hasRoom := func(i int) bool { return peers[i].Usable && inflight[i] < capOf(i) }
	finish := func(i int, extra int64) float64 { return float64(inflight[i]+extra) / rate(i) }

	var pending []int
	for i, s := range spans {
		if len(s.Holders) == 0 {
			pending = append(pending, i)
		}
	}
	slices.SortStableFunc(pending, func(a, b int) int {
		switch {
		case spans[a].Urgent == spans[b].Urgent:
			return 0
		case spans[a].Urgent:
			return -1
		}
		return 1
	})

	var out []Assignment
	for _, si := range pending {
		best := -1
		for p := range peers {
			if hasRoom(p) && (best < 0 || finish(p, spans[si].Bytes) < finish(best, spans[si].Bytes)) {
				best = p
			}
		}
		if best < 0 {
			return out // nobody has room; the rest waits for the next event
		}
		out = append(out, Assignment{Peer: best, Span: si})
		inflight[best] += spans[si].Bytes
	}

	holders := make([][]int, len(spans))
	for i, s := range spans {
		holders[i] = slices.Clone(s.Holders)
	}
	for _, a := range out {
		holders[a.Span] = append(holders[a.Span], a.Peer)
	}
	order := make([]int, len(peers))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch ra, rb := rate(a), rate(b); {
		case ra > rb:
			return -1
		case ra < rb:
			return 1
		}
		return 0
	})
	// Work stealing: a peer with room takes a span that is queued, not
	// yet started, at a peer that would deliver it later. Nothing is
	// fetched twice; the old holder is cancelled.
	stolen := make([]bool, len(spans))
	for _, p := range order {
		for hasRoom(p) {
			bestSpan, bestT := -1, 0.0
			for si, s := range spans {
				h := holders[si]
				if len(h) != 1 || h[0] == p || s.Started || stolen[si] {
					continue
				}
				q := h[0]
				// The span sits at the back of q's pipeline.
				if t := finish(q, 0); finish(p, s.Bytes) < 0.8*t && t > bestT {
					bestSpan, bestT = si, t
				}
			}
			if bestSpan < 0 {
				break
			}
			q := holders[bestSpan][0]
			out = append(out, Assignment{Peer: p, Span: bestSpan, Steal: true})
			stolen[bestSpan] = true
			holders[bestSpan] = []int{p}
			inflight[q] -= spans[bestSpan].Bytes
			inflight[p] += spans[bestSpan].Bytes
		}
	}

	// Endgame: everything is assigned; idle capacity races the slowest
	// holders.
	for _, p := range order {
		for hasRoom(p) {
			bestSpan, bestT := -1, 0.0
			for si, s := range spans {
				h := holders[si]
				if len(h) == 0 || len(h) >= cfg.MaxHolders || slices.Contains(h, p) || stolen[si] {
					continue
				}
				// When would the current holders deliver it? Assume the span
				// sits at the back of each holder's pipeline.
				t := -1.0
				for _, q := range h {
					if ft := finish(q, 0); t < 0 || ft < t {
						t = ft
					}
				}
				// Duplicate only for a clear win: racing a holder that
				// is about as fast wastes bandwidth for nothing.
				if finish(p, s.Bytes) < t/2 && t > bestT {
					bestSpan, bestT = si, t
				}
			}
			if bestSpan < 0 {
				break
			}
			out = append(out, Assignment{Peer: p, Span: bestSpan})
			holders[bestSpan] = append(holders[bestSpan], p)
			inflight[p] += spans[bestSpan].Bytes
		}
	}
	return out
}
