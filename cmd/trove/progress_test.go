package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
