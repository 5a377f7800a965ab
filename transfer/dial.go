package transfer

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	msmux "github.com/multiformats/go-multistream"
)

// openStream dials ai if needed and opens a stream of ProtocolID to it
// without waiting for identify. go-libp2p's host.Connect and
// host.NewStream both wait for the identify exchange, which costs a round
// trip on a fresh connection (0.1 s at 100 ms RTT) and tells us nothing we
// need: we speak one protocol, so the stream selects it lazily, sending
// the multistream header with the first request. A peer that does not
// speak it fails the session's first read.
func openStream(ctx context.Context, h host.Host, ai peer.AddrInfo) (network.Stream, error) {
	if _, err := h.Network().DialPeer(ctx, ai.ID); err != nil {
		return nil, fmt.Errorf("failed to dial: %w", err)
	}
	st, err := h.Network().NewStream(network.WithNoDial(ctx, "already dialed"), ai.ID)
	if err != nil {
		return nil, fmt.Errorf("failed to open stream: %w", err)
	}
	if err := st.SetProtocol(ProtocolID); err != nil {
		st.Reset()
		return nil, err
	}
	return &lazyStream{Stream: st, rw: msmux.NewMSSelect(st, protocol.ID(ProtocolID))}, nil
}

// closeWait bounds how long Close waits for the selection's answer.
const closeWait = 10 * time.Second

// lazyStream is a stream whose protocol selection completes with its
// first write and first read.
type lazyStream struct {
	network.Stream
	rw msmux.LazyConn
}

func (s *lazyStream) Read(b []byte) (int, error)  { return s.rw.Read(b) }
func (s *lazyStream) Write(b []byte) (int, error) { return s.rw.Write(b) }

func (s *lazyStream) Close() error {
	// Closing waits for the selection's answer; a silent peer must not
	// hold it forever.
	_ = s.Stream.SetReadDeadline(time.Now().Add(closeWait))
	return s.rw.Close()
}

func (s *lazyStream) CloseWrite() error {
	// Send the selection if nothing was written yet; errors surface on
	// the next read.
	_ = s.rw.Flush()
	return s.Stream.CloseWrite()
}

var _ network.Stream = (*lazyStream)(nil)
