package transfer

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-p2p/trove/internal/memstore"
)

// lockedBuf is a log sink safe for the fetcher's goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLanes: a peer whose rate times round trip passes LaneBytes gets
// extra streams, at most maxLanes, that carry blocks (the file arrives
// whole and verified), and the transfer closes them when it ends. With
// the default LaneBytes a loopback peer gets none.
func TestLanes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		laneBytes int64
		wantLanes bool
	}{{"window-bound", 1, true}, {"default", 0, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			data := randomBytes(t, 6<<20)
			// 4 MiB/s: long enough for several rate samples.
			s := newSeeder(t, ServerOptions{PeerRate: 4 << 20})
			root, leaves := buildFile(t, data, 256<<10, 174, s.store)
			var logs lockedBuf
			local := memstore.New()
			h := newHost(t)
			f := NewFetcher(h, local, FetchOptions{
				LaneBytes: tc.laneBytes, SpanBytes: 256 << 10,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			if err := f.Fetch(ctx, root, addrInfo(s.h)); err != nil {
				t.Fatal(err)
			}
			checkFile(t, local, leaves, data)
			opened := strings.Count(logs.String(), "lane opened")
			if tc.wantLanes && (opened < 1 || opened > maxLanes) {
				t.Fatalf("%d lanes opened, want 1..%d\n%s", opened, maxLanes, logs.String())
			}
			if !tc.wantLanes && opened != 0 {
				t.Fatalf("%d lanes opened on loopback with the default LaneBytes", opened)
			}
			// Lanes end with the transfer; the shared session stays.
			deadline := time.Now().Add(5 * time.Second)
			for {
				n := 0
				for _, c := range h.Network().ConnsToPeer(s.h.ID()) {
					for _, st := range c.GetStreams() {
						if st.Protocol() == ProtocolID {
							n++
						}
					}
				}
				if n <= 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d transfer streams open after the fetch, want 1", n)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
