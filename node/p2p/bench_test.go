package p2p

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// BenchmarkProviderLookup50 measures, in a 50-node loopback network, how
// long a Provide takes, how soon after Provide returns another node finds
// the provider, and how long a later lookup from a third node takes. Each
// iteration provides 10 fresh CIDs from random nodes; searchers are nodes
// that do not already hold the record, so every lookup crosses the network.
//
//	go test ./node/p2p -run '^$' -bench ProviderLookup50 -benchtime 3x
func BenchmarkProviderLookup50(b *testing.B) {
	tn := buildNet(b, 50, 3, 11)
	rng := rand.New(rand.NewPCG(1, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	searcher := func(c cid.Cid, not ...int) *Node {
		for {
			i := rng.IntN(len(tn.nodes))
			if !slices.Contains(not, i) && !holdsRecord(b, tn.nodes[i], c) {
				return tn.nodes[i]
			}
		}
	}
	var provide, fresh, lookup []time.Duration
	for b.Loop() {
		for range 10 {
			pi := rng.IntN(len(tn.nodes))
			c := randomCID(b)
			t0 := time.Now()
			if err := tn.nodes[pi].Provide(ctx, c); err != nil {
				b.Fatal(err)
			}
			provide = append(provide, time.Since(t0))

			s := searcher(c, pi)
			t1 := time.Now()
			if p, err := firstProvider(ctx, s, c); err != nil || p.ID != tn.nodes[pi].ID() {
				b.Fatalf("fresh lookup: %v %v", p.ID, err)
			}
			fresh = append(fresh, time.Since(t1))

			s2 := searcher(c, pi, slices.Index(tn.nodes, s))
			t2 := time.Now()
			if p, err := firstProvider(ctx, s2, c); err != nil || p.ID != tn.nodes[pi].ID() {
				b.Fatalf("lookup: %v %v", p.ID, err)
			}
			lookup = append(lookup, time.Since(t2))
		}
	}
	report := func(name string, d []time.Duration) {
		slices.Sort(d)
		ms := func(q float64) float64 {
			return float64(d[int(q*float64(len(d)-1))]) / float64(time.Millisecond)
		}
		b.ReportMetric(ms(0.5), name+"-p50-ms")
		b.ReportMetric(ms(0.95), name+"-p95-ms")
	}
	report("lookup", lookup)
	report("provide-to-found", fresh)
	report("provide", provide)
	b.ReportMetric(float64(len(lookup)), "cids")
}
