package transfer

import (
	"context"
	"errors"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// srvReq is one open request and its cursor.
type srvReq struct {
	m         Message
	cancelled bool
	next      int // Want: index of the next CID
	dag       *dagWalk
}

// needsCredit reports whether r's next step may send a block.
func (r *srvReq) needsCredit() bool {
	switch {
	case r.cancelled, r.m.Type == MsgHave:
		return false
	case r.m.Type == MsgWant:
		return r.next < len(r.m.CIDs)
	}
	return true
}

// appendGetter is the optional Source method that appends a block to buf
// instead of allocating; blockstore has it. The writer reuses one buffer
// per stream, since a block is written out before the next is read.
type appendGetter interface {
	AppendBlock(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error)
}

// step produces the next message(s) of r and reports whether r is done.
// Each step reads at most one block, which bounds memory per request. buf
// is the stream's block buffer, valid until the next step.
func (r *srvReq) step(ctx context.Context, src Source, buf *[]byte) ([]Message, bool) {
	id := r.m.ID
	switch r.m.Type {
	case MsgHave:
		bits := make([]byte, (len(r.m.CIDs)+7)/8)
		for i, c := range r.m.CIDs {
			ok, err := src.Has(ctx, c)
			if err != nil {
				return []Message{{Type: MsgDone, ID: id, Status: StatusInternal}}, true
			}
			if ok {
				bits[i/8] |= 1 << (i % 8)
			}
		}
		return []Message{{Type: MsgHaveResp, ID: id, Bits: bits}, {Type: MsgDone, ID: id}}, true
	case MsgWant:
		if r.next >= len(r.m.CIDs) {
			return []Message{{Type: MsgDone, ID: id}}, true
		}
		c := r.m.CIDs[r.next]
		r.next++
		var data []byte
		var err error
		if ag, ok := src.(appendGetter); ok {
			data, err = ag.AppendBlock(ctx, c, (*buf)[:0])
			if err == nil {
				*buf = data
			}
		} else {
			data, err = src.Get(ctx, c)
		}
		var out []Message
		switch {
		case errors.Is(err, block.ErrNotFound):
			out = []Message{{Type: MsgMissing, ID: id, CID: c}}
		case err != nil:
			return []Message{{Type: MsgDone, ID: id, Status: StatusInternal}}, true
		default:
			out = []Message{{Type: MsgBlock, ID: id, CID: c, Data: data}}
		}
		// The last answer carries the DONE with it: waiting a whole
		// round-robin turn for it kept finished requests open, and under
		// an upload limit a reader's one-block requests piled up to the
		// peer's request cap.
		if r.next == len(r.m.CIDs) {
			return append(out, Message{Type: MsgDone, ID: id}), true
		}
		return out, false
	case MsgDAG:
		if r.dag == nil {
			r.dag = &dagWalk{m: r.m}
		}
		c, data, st, done := r.dag.next(ctx, src)
		if done {
			return []Message{{Type: MsgDone, ID: id, Status: st}}, true
		}
		if data == nil {
			return []Message{{Type: MsgMissing, ID: id, CID: c}}, false
		}
		return []Message{{Type: MsgBlock, ID: id, CID: c, Data: data}}, false
	}
	return []Message{{Type: MsgDone, ID: id, Status: StatusBadRequest}}, true
}
