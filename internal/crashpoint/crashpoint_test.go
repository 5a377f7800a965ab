package crashpoint

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		nth  int64
		nilT bool
	}{
		{in: "", nilT: true},
		{in: "gc-marked", name: "gc-marked", nth: 1},
		{in: "fetch-stored:7", name: "fetch-stored", nth: 7},
		{in: "fetch-stored:0", nilT: true},
		{in: "fetch-stored:x", nilT: true},
	} {
		got := parse(tc.in)
		if tc.nilT {
			if got != nil {
				t.Errorf("parse(%q) = %+v, want nothing armed", tc.in, got)
			}
			continue
		}
		if got == nil || got.name != tc.name || got.nth != tc.nth {
			t.Errorf("parse(%q) = %+v, want %s:%d", tc.in, got, tc.name, tc.nth)
		}
	}
}

// TestUnarmedHitIsFree: with nothing armed (the test process has no
// TROVE_CRASHPOINT) a hit returns and allocates nothing.
func TestUnarmedHitIsFree(t *testing.T) {
	if armed != nil {
		t.Skip(Env + " is set in this environment")
	}
	if n := testing.AllocsPerRun(100, func() { Hit(GCMarked) }); n != 0 {
		t.Errorf("unarmed Hit allocates %v", n)
	}
}

func BenchmarkUnarmedHit(b *testing.B) {
	for b.Loop() {
		Hit(FetchStored)
	}
}
