package transfer

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	const MiB = 1 << 20
	cfg := SchedConfig{Horizon: time.Second, StartInflight: 3 * MiB, MinInflight: 2 * MiB, MaxInflight: 64 * MiB, DefaultRate: MiB}
	span := func(holders ...int) SpanLoad { return SpanLoad{Bytes: MiB, Holders: holders} }
	for _, tc := range []struct {
		name  string
		peers []PeerLoad
		spans []SpanLoad
		want  []Assignment
	}{
		{"nothing to do", []PeerLoad{{Usable: true}}, nil, nil},
		{"no usable peer", []PeerLoad{{Usable: false}}, []SpanLoad{span()}, nil},
		{"unknown peer gets StartInflight", []PeerLoad{{Usable: true}}, []SpanLoad{span(), span(), span(), span()},
			[]Assignment{{0, 0, false}, {0, 1, false}, {0, 2, false}}},
		{"slow measured peer gets MinInflight", []PeerLoad{{Rate: MiB / 10, Usable: true}}, []SpanLoad{span(), span(), span()},
			[]Assignment{{0, 0, false}, {0, 1, false}}},
		{"fast peer gets more", []PeerLoad{{Rate: 8 * MiB, Usable: true}, {Rate: MiB, Usable: true}},
			[]SpanLoad{span(), span(), span(), span(), span(), span(), span(), span(), span(), span(), span()},
			// Peer 0 finishes sooner until its 8 MiB pipeline is full.
			[]Assignment{{0, 0, false}, {0, 1, false}, {0, 2, false}, {0, 3, false}, {0, 4, false}, {0, 5, false}, {0, 6, false}, {0, 7, false}, {1, 8, false}, {1, 9, false}}},
		{"urgent first", []PeerLoad{{Rate: MiB / 10, Usable: true}}, []SpanLoad{span(), span(), {Bytes: MiB, Urgent: true}},
			[]Assignment{{0, 2, false}, {0, 0, false}}},
		{"full peer waits", []PeerLoad{{Rate: MiB, Inflight: 2 * MiB, Usable: true}}, []SpanLoad{span()}, nil},
		{"steal an unstarted span from a slow holder",
			[]PeerLoad{{Rate: 10 * MiB, Usable: true}, {Rate: MiB / 10, Inflight: MiB, Usable: true}},
			[]SpanLoad{span(1)}, []Assignment{{0, 0, true}}},
		{"endgame: idle fast peer races slow holder of a started span",
			[]PeerLoad{{Rate: 10 * MiB, Usable: true}, {Rate: MiB / 10, Inflight: MiB, Usable: true}},
			[]SpanLoad{{Bytes: MiB, Holders: []int{1}, Started: true}}, []Assignment{{0, 0, false}}},
		{"no stealing from a peer about as fast",
			[]PeerLoad{{Rate: MiB, Usable: true}, {Rate: MiB, Inflight: MiB, Usable: true}},
			[]SpanLoad{span(1)}, nil},
		{"idle peer takes half a queue",
			[]PeerLoad{{Rate: MiB, Usable: true}, {Rate: MiB, Inflight: 2 * MiB, Usable: true}},
			[]SpanLoad{span(1), span(1)}, []Assignment{{0, 0, true}}},
		{"endgame: no race against equal holder",
			[]PeerLoad{{Rate: MiB, Usable: true}, {Rate: MiB, Inflight: MiB, Usable: true}},
			[]SpanLoad{span(1)}, nil},
		{"no duplicates while work is pending",
			[]PeerLoad{{Rate: 10 * MiB, Inflight: 5 * MiB, Usable: true}, {Rate: MiB / 10, Inflight: MiB, Usable: true}},
			// The pending span first; only then the race for span 0.
			[]SpanLoad{span(1), span()}, []Assignment{{0, 1, false}, {0, 0, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Schedule(tc.peers, tc.spans, cfg)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestScheduleInvariants checks the policy's promises on many random
// situations: only usable peers, never past a peer's capacity by more
// than one span, never a span twice to one peer, steals only of unstarted
// single-holder spans, duplicates only when no span is unassigned, never
// above MaxHolders.
func TestScheduleInvariants(t *testing.T) {
	cfg := SchedConfig{}.withDefaults()
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 20000 {
		peers := make([]PeerLoad, r.IntN(5))
		for i := range peers {
			peers[i] = PeerLoad{Usable: r.IntN(4) != 0, Inflight: r.Int64N(16 << 20)}
			if r.IntN(3) != 0 {
				peers[i].Rate = float64(r.Int64N(500e6))
			}
		}
		spans := make([]SpanLoad, r.IntN(8))
		for i := range spans {
			spans[i] = SpanLoad{Bytes: 1 + r.Int64N(8<<20), Urgent: r.IntN(5) == 0, Started: r.IntN(2) == 0}
			if len(peers) > 0 && r.IntN(2) == 0 {
				spans[i].Holders = []int{r.IntN(len(peers))}
			}
		}
		got := Schedule(peers, spans, cfg)
		assigned := map[int]bool{}
		holders := make([][]int, len(spans))
		for i, s := range spans {
			holders[i] = slices.Clone(s.Holders)
		}
		added := make([]int64, len(peers))
		pendingLeft := 0
		for _, s := range spans {
			if len(s.Holders) == 0 {
				pendingLeft++
			}
		}
		for _, a := range got {
			p := peers[a.Peer]
			if !p.Usable {
				t.Fatalf("iter %d: unusable peer %d assigned", iter, a.Peer)
			}
			capb := min(max(int64(p.Rate*cfg.Horizon.Seconds()), cfg.MinInflight), cfg.MaxInflight)
			if p.Rate == 0 {
				capb = cfg.StartInflight
			}
			if p.Inflight+added[a.Peer] >= capb {
				t.Fatalf("iter %d: peer %d over capacity", iter, a.Peer)
			}
			added[a.Peer] += spans[a.Span].Bytes
			if slices.Contains(holders[a.Span], a.Peer) {
				t.Fatalf("iter %d: span %d twice to peer %d", iter, a.Span, a.Peer)
			}
			if a.Steal {
				if len(holders[a.Span]) != 1 || spans[a.Span].Started || pendingLeft > 0 {
					t.Fatalf("iter %d: bad steal of span %d (holders %v)", iter, a.Span, holders[a.Span])
				}
				added[holders[a.Span][0]] -= spans[a.Span].Bytes
				holders[a.Span] = []int{a.Peer}
				continue
			}
			if len(holders[a.Span]) > 0 {
				// A duplicate: only once every pending span is assigned.
				if pendingLeft > 0 {
					t.Fatalf("iter %d: duplicate while %d spans unassigned", iter, pendingLeft)
				}
				if len(holders[a.Span]) >= cfg.MaxHolders {
					t.Fatalf("iter %d: span %d above MaxHolders", iter, a.Span)
				}
			} else if !assigned[a.Span] {
				assigned[a.Span] = true
				pendingLeft--
			}
			holders[a.Span] = append(holders[a.Span], a.Peer)
		}
	}
}
