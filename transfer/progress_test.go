package transfer

import (
	"math"
	"testing"
	"time"
)

// TestProgressETA: a rate that decayed towards zero must not overflow the
// ETA into a negative duration; past maxETA it reads as unknown (0).
func TestProgressETA(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want time.Duration
	}{
		{1e6, 10 * time.Second}, // 10 MB left at 1 MB/s
		{1e-9, 0},               // stalled
		{0, 0},                  // no sample yet
	} {
		tr := &transfer{}
		tr.total.Store(20e6)
		tr.have.Store(10e6)
		tr.rate.Store(math.Float64bits(tc.rate))
		if got := tr.snapshot().ETA; got != tc.want {
			t.Errorf("rate %g: ETA %v, want %v", tc.rate, got, tc.want)
		}
	}
}
