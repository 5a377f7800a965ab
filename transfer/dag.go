package transfer

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// DAGRange restricts a DAG request; the zero value asks for everything.
type DAGRange struct {
	// InnerOnly skips leaves: one round trip for a file's whole
	// structure.
	InnerOnly bool
	// Bytes makes Start/End file byte offsets instead of leaf indices.
	Bytes bool
	// Start and End bound the range [Start, End); End 0 means to the end.
	Start, End uint64
}

// StreamDAG asks one peer for the DAG under root in depth-first order and
// calls fn for each block, already verified (the root against root, every
// other block against a link of a verified parent). Blocks are not
// stored; fn decides. A peer sending anything else is banned.
func (f *Fetcher) StreamDAG(ctx context.Context, from peer.AddrInfo, root cid.Cid, rng DAGRange, fn func(c cid.Cid, data []byte) error) error {
	s, err := f.session(ctx, from)
	if err != nil {
		return err
	}
	m := Message{Type: MsgDAG, CID: root, Start: rng.Start, End: rng.End}
	if rng.InnerOnly {
		m.Flags |= FlagInnerOnly
	}
	if rng.Bytes {
		m.Flags |= FlagByteRange
	}
	call, err := s.request(m, []cid.Cid{root})
	if err != nil {
		return err
	}
	defer s.cancel(call)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-call.ch:
			if !ok {
				if err := s.Err(); err != nil {
					return err
				}
				return errors.New("transfer: DAG request ended without status")
			}
			switch m.Type {
			case MsgBlock:
				s.consumed(len(m.Data))
				if err := fn(m.CID, m.Data); err != nil {
					return err
				}
			case MsgMissing:
				return fmt.Errorf("peer %s: %s: %w", from.ID, m.CID, statusErr(StatusNotFound))
			case MsgDone:
				return statusErr(m.Status)
			}
		}
	}
}
