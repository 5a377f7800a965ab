// Package benchraw is the limit trove's benchmarks measure against: zeros
// over a libp2p stream, with no block protocol, so that what remains
// between it and a fetch is trove's own cost. Only benchmarks import it;
// no trove node serves Protocol.
package benchraw

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Protocol streams as many zeros as the opener asks for.
const Protocol = "/trove/bench-raw/0"

// Serve answers Protocol on h: it reads a decimal byte count (at most 32
// bytes of it) and writes that many zeros.
func Serve(h host.Host) {
	h.SetStreamHandler(Protocol, func(st network.Stream) {
		defer st.Close()
		var n int64
		if _, err := fmt.Fscan(bufio.NewReader(io.LimitReader(st, 32)), &n); err != nil {
			st.Reset()
			return
		}
		buf := make([]byte, 1<<20)
		for n > 0 {
			k := min(n, int64(len(buf)))
			if _, err := st.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
	})
}

// Pull opens a stream to p, asks for n bytes and reads them all; it fails
// if fewer arrive.
func Pull(ctx context.Context, h host.Host, p peer.ID, n int64) error {
	st, err := h.NewStream(ctx, p, Protocol)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := fmt.Fprintf(st, "%d\n", n); err != nil {
		return err
	}
	got, err := io.Copy(io.Discard, st)
	if err == nil && got != n {
		err = fmt.Errorf("raw stream carried %d of %d bytes", got, n)
	}
	return err
}
