package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal; progress output to a file or
// pipe would only pollute logs.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar redraws one stderr line with bytes and rate, at most ten
// times a second so a fast import is not slowed by terminal writes. A nil
// *progressBar is a valid no-op.
//
// The rate counts from the first update, not from when the bar was made:
// get makes its bar before the daemon downloads, and counting the download
// time showed the copy-out at a fraction of its speed.
type progressBar struct {
	w          io.Writer
	mu         sync.Mutex
	now        func() time.Time
	start      time.Time // of the first update; zero before it
	startBytes int64
	last       time.Time
	bytes      int64
	total      int64 // if known, drawn as "of total (p%)"; see setTotal
}

// setTotal makes the bar show progress against total bytes.
func (p *progressBar) setTotal(total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.total = total
	p.mu.Unlock()
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, now: time.Now}
}

func (p *progressBar) update(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.start.IsZero() {
		p.start, p.startBytes = now, n
	}
	p.bytes = n
	if now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		p.draw(now)
	}
}

func (p *progressBar) draw(now time.Time) {
	of := ""
	if p.total > 0 {
		of = fmt.Sprintf(" of %s (%d%%)", humanBytes(float64(p.total)), min(100, p.bytes*100/p.total))
	}
	if secs := now.Sub(p.start).Seconds(); !p.start.IsZero() && secs > 0 {
		rate := float64(p.bytes-p.startBytes) / secs
		fmt.Fprintf(p.w, "\r\033[K%s%s  %s/s", humanBytes(float64(p.bytes)), of, humanBytes(rate))
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s%s", humanBytes(float64(p.bytes)), of)
}

func (p *progressBar) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(p.now())
	fmt.Fprintln(p.w)
}

func humanBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", b, units[i])
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}
