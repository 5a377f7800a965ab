package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-p2p/trove/node"
)

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536 << 10, "1.5 MiB"}, {3 << 30, "3.0 GiB"}} {
		if got := humanBytes(tc.in); got != tc.want {
			t.Errorf("humanBytes(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressBar(&buf)
	p.update(5 << 20)
	p.update(6 << 20) // within 100ms: not drawn
	p.finish()
	out := buf.String()
	if strings.Count(out, "\r") != 2 || !strings.Contains(out, "5.0 MiB") || !strings.HasSuffix(out, "\n") {
		t.Errorf("progress output %q", out)
	}
	if !strings.Contains(out[strings.LastIndex(out, "\r"):], "6.0 MiB") {
		t.Errorf("final redraw lacks the total: %q", out)
	}
	var nilBar *progressBar
	nilBar.finish() // must not panic: commands call it unconditionally
}

// TestNoProgressWhenNotTerminal: a pipe or file as stderr gets no bar, so
// logs and scripts see only real messages.
func TestNoProgressWhenNotTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Fatal("a file or buffer counts as a terminal")
	}
	_, errs, code := trove(t, t.TempDir(), strings.NewReader(strings.Repeat("x", 3<<20)), "add", "-")
	if code != 0 || errs != "" {
		t.Errorf("add wrote to a non-terminal stderr: exit %d, %q", code, errs)
	}
}

// TestProgressBarRateFromFirstUpdate: get makes its copy-out bar before
// the daemon downloads; a 10 s download then showed a 200 MiB copy at
// 17 MiB/s instead of ~130. The rate counts from the first update.
func TestProgressBarRateFromFirstUpdate(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(1000, 0)
	p := newProgressBar(&buf)
	p.now = func() time.Time { return clock }
	clock = clock.Add(10 * time.Second) // the download, before any copy
	p.update(1 << 20)
	clock = clock.Add(time.Second)
	p.update(101 << 20)
	p.finish()
	out := buf.String()
	if last := out[strings.LastIndex(out, "\r"):]; !strings.Contains(last, "101.0 MiB  100.0 MiB/s") {
		t.Errorf("rate not counted from the first update: %q", out)
	}
}

// TestProgressETAOverflow: a stalled peer drove the rate toward 0 and the
// ETA overflowed into -9223372036 s in get --json; unknown is 0.
func TestProgressETAOverflow(t *testing.T) {
	var buf bytes.Buffer
	jsonProgress(&buf)(node.FetchProgress{Cid: "x", Have: 1, Total: 9, Rate: 0.01, ETA: -9223372036.854776})
	if !strings.Contains(buf.String(), `"ETA":0,`) {
		t.Errorf("overflowed ETA printed as %s", buf.String())
	}
}
