package node

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrBadRate marks a bandwidth setting that does not parse.
var ErrBadRate = errors.New("bad rate")

// rateUnits maps a unit prefix to bytes. Decimal and binary prefixes both
// appear in the wild ("25MB/s" on a router page, "10MiB/s" in rsync), so
// both are accepted and mean what they say.
var rateUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gib": 1 << 30,
}

// ParseRate reads a human bandwidth such as "25MB/s", "512KiB/s", "1.5M" or
// "0" into bytes per second. Zero, "", "0" and "unlimited" mean no limit.
// The "/s" suffix is optional because a rate is the only thing these
// settings can mean.
func ParseRate(s string) (float64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" || t == "unlimited" || t == "off" {
		return 0, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "/s"), "ps")
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	mul, ok := rateUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%w: %q (want e.g. 25MB/s, 512KiB/s or 0 for unlimited)", ErrBadRate, s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(v*mul, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%w: %q", ErrBadRate, s)
	}
	return v * mul, nil
}

// FormatRate prints bytes/s the way ParseRate reads it back.
func FormatRate(bps float64) string {
	if bps <= 0 {
		return "unlimited"
	}
	for _, u := range []struct {
		name string
		v    float64
	}{{"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}} {
		if bps >= u.v {
			return strconv.FormatFloat(bps/u.v, 'g', 6, 64) + u.name + "/s"
		}
	}
	return strconv.FormatFloat(bps, 'f', 0, 64) + "B/s"
}
