package node

import (
	"errors"
	"math"
	"testing"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		bad  bool
	}{
		{in: "", want: 0},
		{in: "0", want: 0},
		{in: "unlimited", want: 0},
		{in: "25MB/s", want: 25e6},
		{in: "10MiB/s", want: 10 << 20},
		{in: "512KiB/s", want: 512 << 10},
		{in: "1.5M", want: 1.5e6},
		{in: " 100 kB/s ", want: 100e3},
		{in: "2GB", want: 2e9},
		{in: "800", want: 800},
		{in: "8mbps", want: 8e6},
		{in: "fast", bad: true},
		{in: "MB/s", bad: true},
		{in: "10TB/s", bad: true},
		{in: "1.2.3MB", bad: true},
		{in: "-5MB/s", bad: true},
	} {
		got, err := ParseRate(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrBadRate) {
				t.Errorf("ParseRate(%q) = %v, %v; want ErrBadRate", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatRateRoundTrip(t *testing.T) {
	for _, bps := range []float64{0, 999, 25e6, 10 << 20, 1.5e9} {
		got, err := ParseRate(FormatRate(bps))
		if err != nil || math.Abs(got-bps) > bps*1e-5 {
			t.Errorf("%v -> %q -> %v, %v", bps, FormatRate(bps), got, err)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"25MB/s", "0", "1.5KiB", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseRate(s)
		if err != nil {
			if !errors.Is(err, ErrBadRate) {
				t.Fatalf("error without ErrBadRate: %v", err)
			}
			return
		}
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("ParseRate(%q) = %v", s, v)
		}
	})
}
