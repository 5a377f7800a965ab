package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func (s *Server) handle(st network.Stream) {
	p := st.Conn().RemotePeer()
	sp := s.acquire(p)
	if sp == nil {
		s.log.Debug("transfer: too many streams", "peer", p)
		st.Reset()
		return
	}
	defer s.release(p, sp)
	// The block buffer and read buffer this stream will hold are
	// reserved up front, so libp2p's resource manager bounds what all
	// serving streams together can cost (docs/reliability.md).
	if err := st.Scope().ReserveMemory(StreamMemory, network.ReservationPriorityAlways); err != nil {
		s.log.Debug("transfer: stream memory refused", "peer", p, "err", err)
		st.Reset()
		return
	}
	defer st.Scope().ReleaseMemory(StreamMemory)
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	ss := &srvStream{s: s, st: st, peer: p, sp: sp, ctx: ctx, reqs: make(map[uint64]*srvReq), rr: -1}
	ss.cond = sync.NewCond(&ss.mu)
	go func() {
		// Wake the writer when the server or the stream is torn down.
		<-ctx.Done()
		ss.mu.Lock()
		ss.dead = true
		ss.cond.Broadcast()
		ss.mu.Unlock()
	}()
	go ss.readLoop(cancel)
	err := ss.writeLoop()
	ss.mu.Lock()
	ss.dead = true // the reader must not open requests from now on
	for range ss.reqs {
		s.closeRequest(sp)
	}
	clear(ss.reqs)
	ss.active, ss.queued = nil, nil
	ss.mu.Unlock()
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.log.Debug("transfer: stream reset", "peer", p, "err", err)
		}
		st.Reset()
		return
	}
	st.Close()
}

// srvStream is one requester stream: a reader that parses requests and a
// writer that serves the open ones round-robin, one message per turn.
type srvStream struct {
	s    *Server
	st   network.Stream
	peer peer.ID
	sp   *servedPeer
	ctx  context.Context
	buf  []byte // block buffer of the writer (see appendGetter)

	mu       sync.Mutex
	cond     *sync.Cond
	credit   int64
	ctrl     []Message // replies that bypass the request queue
	active   []*srvReq // served round-robin
	queued   []*srvReq // bulk requests waiting for a slot
	bulk     int       // bulk requests in active
	reqs     map[uint64]*srvReq
	rr       int  // index in active of the request served last; -1 before the first
	readDone bool // requester closed its side: finish open requests, then close
	dead     bool // abort now
	protoErr error
}

func (ss *srvStream) readLoop(cancel context.CancelFunc) {
	br := bufio.NewReaderSize(ss.st, readBufferSize)
	for {
		ss.st.SetReadDeadline(time.Now().Add(ss.s.opts.IdleTimeout))
		payload, err := ReadFrame(br, MaxRequestFrame)
		if err != nil {
			ss.mu.Lock()
			if errors.Is(err, io.EOF) {
				ss.readDone = true
			} else {
				ss.protoErr = err
				ss.dead = true
			}
			ss.cond.Broadcast()
			ss.mu.Unlock()
			return
		}
		m, err := Decode(payload)
		if errors.Is(err, errUnknownType) {
			continue
		}
		ss.mu.Lock()
		for len(ss.ctrl) >= maxPendingReplies && !ss.dead {
			ss.cond.Wait()
		}
		dead := ss.dead
		ss.mu.Unlock()
		if dead {
			return // the stream ended while we waited: nothing to report
		}
		if err == nil {
			err = ss.accept(m)
		}
		if err != nil {
			ss.s.log.Info("transfer: protocol error, resetting stream", "peer", ss.peer, "err", err)
			ss.mu.Lock()
			ss.protoErr = err
			ss.dead = true
			ss.cond.Broadcast()
			ss.mu.Unlock()
			cancel()
			return
		}
	}
}

// accept takes one decoded message from the requester.
func (ss *srvStream) accept(m Message) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	defer ss.cond.Broadcast()
	if ss.dead {
		return context.Canceled
	}
	switch m.Type {
	case MsgCredit:
		if m.Credit > math.MaxInt32 {
			return fmt.Errorf("%w: credit %d", ErrProtocol, m.Credit)
		}
		ss.credit += int64(m.Credit)
		if ss.credit > 1<<40 {
			return fmt.Errorf("%w: credit overflow", ErrProtocol)
		}
		return nil
	case MsgCancel:
		r := ss.reqs[m.ID]
		if r == nil {
			return nil
		}
		r.cancelled = true
		for i, q := range ss.queued {
			if q == r { // never started: answer now, free the slot
				ss.queued = append(ss.queued[:i], ss.queued[i+1:]...)
				delete(ss.reqs, m.ID)
				ss.ctrl = append(ss.ctrl, Message{Type: MsgDone, ID: m.ID, Status: StatusCancelled})
				ss.s.closeRequest(ss.sp)
				break
			}
		}
		return nil
	case MsgHave, MsgWant, MsgDAG:
	default:
		// A response type sent to a server is a broken peer.
		return fmt.Errorf("%w: unexpected message type 0x%02x", ErrProtocol, m.Type)
	}
	if ss.reqs[m.ID] != nil {
		return fmt.Errorf("%w: request id %d reused while open", ErrProtocol, m.ID)
	}
	if m.Type == MsgDAG && m.End != 0 && m.End <= m.Start {
		ss.ctrl = append(ss.ctrl, Message{Type: MsgDone, ID: m.ID, Status: StatusBadRequest})
		return nil
	}
	if !ss.s.openRequest(ss.sp) {
		ss.ctrl = append(ss.ctrl, Message{Type: MsgDone, ID: m.ID, Status: StatusTooMany})
		return nil
	}
	r := &srvReq{m: m}
	ss.reqs[m.ID] = r
	// Small requests (have-queries, single blocks a reader waits for)
	// are served at once; bulk ones a few at a time in arrival order, so
	// that a requester's queue stays in order and the unstarted tail can
	// be cancelled and moved to a faster peer at no cost.
	if m.Type == MsgHave || (m.Type == MsgWant && len(m.CIDs) <= 1) || ss.bulk < maxBulkActive {
		ss.activate(r)
	} else {
		ss.queued = append(ss.queued, r)
	}
	return nil
}

// maxPendingReplies caps the control replies (DONE for refused, bad or
// cancelled requests) queued on a stream and not yet written. At the cap
// the reader stops reading requests until the writer takes the queue, so
// flow control pushes back on a requester that floods requests and does
// not read its replies; before, each 40-byte request it sent queued about
// 120 bytes here until WriteTimeout, hundreds of MB on a fast link.
const maxPendingReplies = 1024

// maxBulkActive is how many bulk requests per stream are served
// round-robin at a time; the rest wait in order.
const maxBulkActive = 2

func isBulk(r *srvReq) bool {
	return r.m.Type == MsgDAG || (r.m.Type == MsgWant && len(r.m.CIDs) > 1)
}

func (ss *srvStream) activate(r *srvReq) {
	if isBulk(r) {
		ss.bulk++
	}
	ss.active = append(ss.active, r)
}

// finished removes r and promotes the next queued request. Called with
// ss.mu held.
func (ss *srvStream) finished(r *srvReq) {
	delete(ss.reqs, r.m.ID)
	for i, a := range ss.active {
		if a == r {
			ss.active = append(ss.active[:i], ss.active[i+1:]...)
			if i <= ss.rr {
				// Keep the turn where it was: the request after the
				// removed one is next. Without this every removal
				// skipped one, and a queue of single-block requests
				// (a file of 1 MiB blocks) went out as 0, 2, 4, 1, ...
				// to a reader that needs them in order.
				ss.rr--
			}
			break
		}
	}
	if isBulk(r) {
		ss.bulk--
	}
	for len(ss.queued) > 0 && ss.bulk < maxBulkActive {
		next := ss.queued[0]
		ss.queued = ss.queued[1:]
		ss.activate(next)
	}
}

func (ss *srvStream) writeLoop() error {
	bw := bufio.NewWriterSize(ss.st, 64<<10)
	var buf []byte
	write := func(m *Message) error {
		// Block data goes straight from the store's slice to the
		// stream: encode the header alone, then append the data.
		data := m.Data
		if m.Type == MsgBlock {
			m.Data = nil
		}
		buf = AppendFrameHeader(buf[:0], m, len(data))
		now := time.Now()
		ss.st.SetWriteDeadline(now.Add(ss.s.opts.WriteTimeout))
		// Serving is activity too: a requester on a slow link may not
		// need to send anything for longer than IdleTimeout.
		ss.st.SetReadDeadline(now.Add(ss.s.opts.IdleTimeout))
		if _, err := bw.Write(buf); err != nil {
			return err
		}
		_, err := bw.Write(data)
		return err
	}
	for {
		ss.mu.Lock()
		// Without credit only replies that carry no block may go out,
		// so a stalled requester still hears DONE, TOO_MANY and HAVE.
		for !ss.dead && len(ss.ctrl) == 0 && ss.runnable() < 0 && !(ss.readDone && len(ss.active) == 0) {
			ss.cond.Wait()
		}
		if ss.dead {
			err := ss.protoErr
			ss.mu.Unlock()
			if err == nil {
				err = context.Canceled
			}
			return err
		}
		ss.answerCancelled()
		if len(ss.ctrl) > 0 {
			ctrl := ss.ctrl
			ss.ctrl = nil
			ss.cond.Broadcast() // a reader may wait for room (maxPendingReplies)
			ss.mu.Unlock()
			for i := range ctrl {
				if err := write(&ctrl[i]); err != nil {
					return err
				}
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			continue
		}
		if len(ss.active) == 0 { // readDone and nothing left
			ss.mu.Unlock()
			return bw.Flush()
		}
		ss.rr = ss.runnable()
		r := ss.active[ss.rr] // not cancelled: answerCancelled just ran
		ss.mu.Unlock()

		msgs, done := r.step(ss.ctx, ss.s.src, &ss.buf)
		for i := range msgs {
			m := &msgs[i]
			n := len(m.Data)
			if m.Type == MsgBlock {
				if err := ss.spend(n); err != nil {
					return err
				}
			}
			if err := write(m); err != nil {
				return err
			}
			if m.Type == MsgBlock {
				ss.s.addServed(ss.peer, n)
			}
		}
		if done {
			ss.mu.Lock()
			ss.finished(r)
			ss.mu.Unlock()
			ss.s.closeRequest(ss.sp)
		}
		// Flush at the end of each turn: blocks are large enough that
		// batching them gains nothing, and small replies must not sit in
		// the buffer while the writer waits for credit.
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

// answerCancelled finishes every active request the requester cancelled,
// queueing its DONE as a control reply: a cancelled request needs no
// turn of its own, and leaving each to wait for one (behind blocks paced
// by the upload limit) let them pile up to the peer's request cap. Called
// by the writer with ss.mu held, between steps, so no step of theirs is
// in progress.
func (ss *srvStream) answerCancelled() {
	for i := 0; i < len(ss.active); {
		r := ss.active[i]
		if !r.cancelled {
			i++
			continue
		}
		ss.ctrl = append(ss.ctrl, Message{Type: MsgDone, ID: r.m.ID, Status: StatusCancelled})
		ss.finished(r) // removes ss.active[i]
		ss.s.closeRequest(ss.sp)
	}
}

// runnable picks the next request to serve, round-robin after the last
// one, or -1. Called with ss.mu held.
func (ss *srvStream) runnable() int {
	for k := 1; k <= len(ss.active); k++ {
		i := (ss.rr + k) % len(ss.active)
		r := ss.active[i]
		if ss.credit > 0 || !r.needsCredit() {
			return i
		}
	}
	return -1
}

// spend takes flow-control credit (runnable checked there is some; only
// this goroutine spends it) and waits for both token buckets before a
// block of n bytes goes out.
func (ss *srvStream) spend(n int) error {
	ss.mu.Lock()
	ss.credit -= int64(n)
	ss.mu.Unlock()
	if n == 0 {
		return nil
	}
	if err := waitBytes(ss.ctx, ss.sp.lim, n); err != nil {
		return err
	}
	return waitBytes(ss.ctx, ss.s.global, n)
}
