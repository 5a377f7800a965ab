package p2p

import (
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	goyamux "github.com/libp2p/go-yamux/v5"
)

// StreamWindow is every yamux stream's receive window: how many bytes a
// peer may send on one stream before we read them. A stream moves at most
// about StreamWindow/RTT, and a little more than half that when the reader
// returns the window in halves, as yamux does; 8 MiB keeps a link of up to
// about 4 MB of bandwidth-delay product (100 ms at 40 MB/s, 40 ms at
// 100 MB/s) full on one stream. 16 MiB gained a 100 ms, 125 MB/s link a
// little (0.27-0.32 of it against 0.24, 64 MiB files) for twice the
// memory a hostile peer can pin (below).
//
// The window starts at its full size instead of growing from 256 KiB the
// way go-yamux v5's auto-tuning does, because that growth loses credit:
// each time it doubles the window it grants the peer only the doubling and
// drops the bytes the reader had consumed since the last update (the
// first GrowTo's delta is overwritten by the second's), while counting
// them as granted. After growing to 8 MiB about 4 MiB of the window is
// lost for the stream's lifetime and the reader sends its next update only
// once everything in flight has arrived, so a bulk stream runs
// stop-and-wait: 4 MiB bursts, one RTT apart (0.69 of a 40 ms, 25 MB/s
// link; 0.18 of a 100 ms, 125 MB/s one). A fixed window has no growth
// step, hence nothing to lose.
//
// Memory, the price: yamux reserves only its first 256 KiB per stream
// through the resource manager, so up to StreamWindow per open stream can
// be buffered unaccounted when a peer sends faster than a handler reads (a
// peer that stalls our writes and keeps sending). The resource manager's
// stream limits bound how many such streams a peer can hold
// (DefaultMaxStreamsPerPeer inbound: up to 512 MiB for one peer, where the
// growing window exposed 16 MiB). trove's own bulk stream (package
// transfer) stays below the window anyway by its credit, which it
// reserves. What would remove the exposure, and why reserving the whole
// window per stream is not it: docs/reliability.md, "Known exposure".
const StreamWindow = 8 << 20

// muxer is go-libp2p's yamux transport with StreamWindow as both the
// initial and the largest window.
func muxer() *yamux.Transport {
	cfg := *yamux.DefaultTransport.Config()
	cfg.InitialStreamWindowSize = StreamWindow
	cfg.MaxStreamWindowSize = StreamWindow
	if err := goyamux.VerifyConfig(&cfg); err != nil {
		panic(err) // constants above
	}
	return (*yamux.Transport)(&cfg)
}
