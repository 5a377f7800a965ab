package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trove-p2p/trove/block"
	"golang.org/x/time/rate"
)

// Source is what a Server serves from: it reads blocks and answers
// have-queries without reading them.
type Source interface {
	block.Getter
	block.Haser
}

// ServerOptions tunes a Server. The zero value serves without rate limits
// and with the defaults noted on each field.
type ServerOptions struct {
	// MaxRequests caps the requests one peer may have open across all its
	// streams; more get StatusTooMany. Zero means 64.
	MaxRequests int
	// MaxStreams caps concurrent streams per peer; more are reset. Since
	// each stream holds at most one block in memory, this bounds memory
	// per peer to MaxStreams*block.MaxSize. Zero means 4.
	MaxStreams int
	// GlobalRate and PeerRate are upload limits in bytes per second for
	// all peers together and for each peer. Zero means unlimited.
	GlobalRate, PeerRate float64
	// WriteTimeout bounds one message write; a peer that does not read
	// for this long is reset. Zero means 30s.
	WriteTimeout time.Duration
	// IdleTimeout closes a stream on which the peer sent nothing for
	// this long. Zero means 2 minutes.
	IdleTimeout time.Duration
	// Logger receives protocol errors. Nil means slog.Default().
	Logger *slog.Logger
	// TrustSource serves blocks as the Source returns them. The zero
	// value re-hashes each block before sending it (see verifiedSource);
	// set it only when the Source verifies reads itself.
	TrustSource bool
}

func (o *ServerOptions) fill() {
	if o.MaxRequests <= 0 {
		o.MaxRequests = 64
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 4
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// StreamMemory is what one serving stream reserves from the resource
// manager: the largest block it holds while writing plus its read buffer.
const StreamMemory = block.MaxSize + readBufferSize

// readBufferSize is the serving stream's request reader buffer.
const readBufferSize = 16 << 10

// Server answers /trove/transfer/1.0.0 streams from a Source.
//
// Fairness between peers comes from granularity: every stream's writer
// serves one block per turn and takes it from the shared global token
// bucket, so a greedy peer cannot starve others for longer than one block.
type Server struct {
	h    host.Host
	src  Source
	opts ServerOptions
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	global *rate.Limiter

	mu       sync.Mutex
	peerRate float64
	peers    map[peer.ID]*servedPeer
	served   map[peer.ID]int64 // bytes of block data sent, kept after disconnect
}

type servedPeer struct {
	streams int
	open    int
	lim     *rate.Limiter
}

// NewServer registers the protocol handler on h. Close unregisters it.
func NewServer(h host.Host, src Source, opts ServerOptions) *Server {
	opts.fill()
	if !opts.TrustSource {
		src = verifiedSource{src, opts.Logger}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		h: h, src: src, opts: opts, log: opts.Logger,
		ctx: ctx, cancel: cancel,
		global:   rate.NewLimiter(limitOf(opts.GlobalRate), burstOf(opts.GlobalRate)),
		peerRate: opts.PeerRate,
		peers:    make(map[peer.ID]*servedPeer),
		served:   make(map[peer.ID]int64),
	}
	h.SetStreamHandler(ProtocolID, s.handle)
	return s
}

func limitOf(bps float64) rate.Limit {
	if bps <= 0 {
		return rate.Inf
	}
	return rate.Limit(bps)
}

// burstOf keeps bursts to about 1/20 s of traffic, so a cap holds over
// short transfers too; waitBytes splits blocks larger than the burst.
func burstOf(bps float64) int {
	if bps <= 0 {
		return block.MaxSize
	}
	return int(min(max(bps/20, 16<<10), block.MaxSize))
}

// waitBytes takes n tokens from lim in pieces no larger than its burst.
func waitBytes(ctx context.Context, lim *rate.Limiter, n int) error {
	for n > 0 {
		k := min(n, lim.Burst())
		if err := lim.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func setLimit(lim *rate.Limiter, bps float64) {
	lim.SetBurst(burstOf(bps))
	lim.SetLimit(limitOf(bps))
}

// SetLimits changes the upload limits (bytes/s, zero = unlimited) for the
// live server; streams already waiting pick them up at their next block.
func (s *Server) SetLimits(global, perPeer float64) {
	setLimit(s.global, global)
	s.mu.Lock()
	s.peerRate = perPeer
	for _, p := range s.peers {
		setLimit(p.lim, perPeer)
	}
	s.mu.Unlock()
}

// Served reports block bytes sent to each peer since the server started.
func (s *Server) Served() map[peer.ID]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[peer.ID]int64, len(s.served))
	for k, v := range s.served {
		out[k] = v
	}
	return out
}

// Close stops accepting streams and aborts the ones in progress.
func (s *Server) Close() error {
	s.h.RemoveStreamHandler(ProtocolID)
	s.cancel()
	return nil
}

func (s *Server) acquire(p peer.ID) *servedPeer {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.peers[p]
	if sp == nil {
		sp = &servedPeer{lim: rate.NewLimiter(limitOf(s.peerRate), burstOf(s.peerRate))}
		s.peers[p] = sp
	}
	if sp.streams >= s.opts.MaxStreams {
		return nil
	}
	sp.streams++
	return sp
}

func (s *Server) release(p peer.ID, sp *servedPeer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp.streams--
	if sp.streams == 0 {
		delete(s.peers, p)
	}
}

// openRequest counts a new request against the peer's cap.
func (s *Server) openRequest(sp *servedPeer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp.open >= s.opts.MaxRequests {
		return false
	}
	sp.open++
	return true
}

func (s *Server) closeRequest(sp *servedPeer) {
	s.mu.Lock()
	sp.open--
	s.mu.Unlock()
}

func (s *Server) addServed(p peer.ID, n int) {
	s.mu.Lock()
	s.served[p] += int64(n)
	s.mu.Unlock()
}

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
	ss := &srvStream{s: s, st: st, peer: p, sp: sp, ctx: ctx, reqs: make(map[uint64]*srvReq)}
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
	rr       int
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
		ss.mu.Unlock()
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

// maxDepth bounds a DAG walk's stack: a balanced UnixFS tree of 174-link
// nodes covers any real file in far fewer levels, and a hostile DAG must
// not make the server allocate without limit.
const maxDepth = 64

type dagFrame struct {
	links  []cid.Cid
	sizes  []uint64
	idx    int
	offset uint64
}

// dagWalk yields the blocks under a root in depth-first, left-to-right
// order, honouring the request's leaf or byte range.
type dagWalk struct {
	m      Message
	start  bool
	stack  []dagFrame
	leaves uint64
}

// next returns the next block to send (data nil = missing leaf), or done
// with a final status.
func (w *dagWalk) next(ctx context.Context, src Source) (cid.Cid, []byte, Status, bool) {
	if !w.start {
		w.start = true
		root := w.m.CID
		data, err := src.Get(ctx, root)
		if err != nil {
			return root, nil, statusOf(err), true
		}
		if err := w.push(root, data, 0); err != nil {
			return root, nil, StatusBadRequest, true
		}
		return root, data, StatusOK, false
	}
	byteRange := w.m.Flags&FlagByteRange != 0
	for len(w.stack) > 0 {
		f := &w.stack[len(w.stack)-1]
		if f.idx >= len(f.links) {
			w.stack = w.stack[:len(w.stack)-1]
			continue
		}
		c := f.links[f.idx]
		var size uint64
		known := len(f.sizes) == len(f.links)
		if known {
			size = f.sizes[f.idx]
		}
		childStart := f.offset
		f.offset += size
		f.idx++
		if byteRange && known && (childStart+size <= w.m.Start || (w.m.End != 0 && childStart >= w.m.End)) {
			continue // the whole subtree is outside the range
		}
		if c.Type() == block.CodecRaw {
			if !w.wantLeaf() {
				if w.pastEnd() {
					return c, nil, StatusOK, true
				}
				continue
			}
			data, err := src.Get(ctx, c)
			if errors.Is(err, block.ErrNotFound) {
				return c, nil, StatusOK, false
			}
			if err != nil {
				return c, nil, StatusInternal, true
			}
			return c, data, StatusOK, false
		}
		data, err := src.Get(ctx, c)
		if err != nil {
			return c, nil, statusOf(err), true
		}
		n, err := decodeNode(data)
		if err != nil {
			return c, nil, StatusBadRequest, true
		}
		if len(n.Links) == 0 { // a dag-pb leaf
			if !w.wantLeaf() {
				if w.pastEnd() {
					return c, nil, StatusOK, true
				}
				continue
			}
			return c, data, StatusOK, false
		}
		if len(w.stack) >= maxDepth {
			return c, nil, StatusBadRequest, true
		}
		w.stack = append(w.stack, dagFrame{links: n.Links, sizes: n.BlockSizes, offset: childStart})
		return c, data, StatusOK, false
	}
	return cid.Undef, nil, StatusOK, true
}

// wantLeaf counts a leaf and reports whether it is sent.
func (w *dagWalk) wantLeaf() bool {
	i := w.leaves
	w.leaves++
	if w.m.Flags&FlagInnerOnly != 0 {
		return false
	}
	if w.m.Flags&FlagByteRange != 0 {
		return true // subtrees outside the range were skipped by size
	}
	return i >= w.m.Start && (w.m.End == 0 || i < w.m.End)
}

func (w *dagWalk) pastEnd() bool {
	return w.m.Flags&FlagByteRange == 0 && w.m.End != 0 && w.leaves > w.m.End
}

func (w *dagWalk) push(c cid.Cid, data []byte, off uint64) error {
	if c.Type() != block.CodecDagPB {
		return nil
	}
	n, err := decodeNode(data)
	if err != nil {
		return err
	}
	if len(n.Links) > 0 {
		w.stack = append(w.stack, dagFrame{links: n.Links, sizes: n.BlockSizes, offset: off})
	}
	return nil
}

func statusOf(err error) Status {
	if errors.Is(err, block.ErrNotFound) {
		return StatusNotFound
	}
	return StatusInternal
}
