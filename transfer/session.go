package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trove-p2p/trove/block"
	"golang.org/x/time/rate"
)

// ErrMisbehaved marks a peer that sent a corrupt block, a block nobody
// asked for, or a malformed message. The Fetcher bans such peers.
var ErrMisbehaved = errors.New("peer misbehaved")

// ErrRejected wraps a non-OK request status from the server.
var ErrRejected = errors.New("request rejected")

// errTooMany is StatusTooMany: the peer is busy with our other requests,
// which is no reason to stop asking it.
var errTooMany = errors.New("too many requests")

// session is the requester side of one long-lived stream to one peer. All
// requests to that peer are multiplexed on it by request ID; a single
// reader goroutine dispatches responses, checking that every block was
// asked for and verifying it before any consumer sees it, except for
// consumers that verify themselves (requestVerifying), so that hashing
// need not serialise on the reader.
type session struct {
	p      peer.ID
	st     network.Stream
	down   *rate.Limiter // download limit shared by all sessions; never nil
	window int64
	onBad  func(peer.ID, error)
	pool   *framePool

	wmu sync.Mutex
	bw  *bufio.Writer

	mu      sync.Mutex
	calls   map[uint64]*call
	nextID  uint64
	pending int64 // credit consumed but not yet returned
	// creditDue wakes creditLoop when pending reaches a quarter window.
	creditDue chan struct{}
	err       error
	done      chan struct{}

	// reserved is the window's memory reserved through st's scope,
	// released when the session ends (window.go).
	reserved int64
	// idle ends the session once no request has been open this long,
	// which gives back its stream and reservation; zero never does.
	idle      time.Duration
	idleTimer *time.Timer
	// rtt is the round trip of the quickest have request answered on
	// the session, in nanoseconds; 0 while unknown. Lanes use it.
	rtt atomic.Int64
}

// noteRTT records one request's round trip.
func (s *session) noteRTT(d time.Duration) {
	for {
		old := s.rtt.Load()
		if old != 0 && old <= int64(d) || s.rtt.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// errIdle ends a session nobody used for its idle period.
var errIdle = errors.New("transfer: session idle")

// call is one request in flight. The reader goroutine is the only sender
// on ch and closes it when the request ends or the session dies.
type call struct {
	id     uint64
	typ    byte
	expect map[string]int // multihash keys of blocks the peer may still send, with how many times
	ch     chan Message
	gone   chan struct{} // closed by the consumer on cancel
	once   sync.Once
	// consumerVerifies moves block.Verify from the reader to the
	// consumer: the one reader goroutine per peer then only copies
	// frames, and hashing spreads over the consumers' goroutines (and
	// cores) instead of serialising a whole transfer on one. Only a
	// consumer that verifies before using a block may set it.
	consumerVerifies bool
}

// newSession starts the session on st with the given window, of which
// reserved bytes were reserved through st's scope (given back when the
// session ends).
func newSession(st network.Stream, window, reserved int64, down *rate.Limiter, pool *framePool, onBad func(peer.ID, error)) *session {
	if pool == nil {
		pool = new(framePool)
	}
	s := &session{
		p: st.Conn().RemotePeer(), st: st, down: down, window: window, reserved: reserved, onBad: onBad, pool: pool,
		bw:        bufio.NewWriterSize(st, 16<<10),
		calls:     make(map[uint64]*call),
		done:      make(chan struct{}),
		creditDue: make(chan struct{}, 1),
	}
	go s.readLoop()
	if err := s.send(&Message{Type: MsgCredit, Credit: uint64(window)}); err != nil {
		s.fail(err)
	}
	go s.creditLoop()
	return s
}

func (s *session) send(m *Message) error {
	buf := AppendFrame(nil, m)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.st.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.bw.Write(buf); err != nil {
		return err
	}
	return s.bw.Flush()
}

// Err returns why the session died, or nil while it is alive.
func (s *session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *session) fail(err error) {
	s.mu.Lock()
	if !s.failLocked(err) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.end()
}

// failLocked records err as the session's end, under s.mu; it reports
// false if the session had already ended. The caller then calls end.
func (s *session) failLocked(err error) bool {
	if s.err != nil {
		return false
	}
	s.err = err
	close(s.done)
	if s.idleTimer != nil {
		s.idleTimer.Stop()
	}
	return true
}

// end gives back what an ended session holds: its window's memory
// reservation, then its stream.
func (s *session) end() {
	if s.reserved > 0 {
		s.st.Scope().ReleaseMemory(int(s.reserved))
	}
	s.st.Reset()
}

// setIdle makes the session end after d without open requests. Call it
// once, before the session is shared.
func (s *session) setIdle(d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idle = d
	s.idleTimer = time.AfterFunc(d, s.idleCheck)
	if len(s.calls) > 0 {
		s.idleTimer.Stop()
	}
}

// idleCheck runs when the idle timer fires. A request registered since
// keeps the session; the check and the end happen under s.mu, so a
// request either finds the session alive and registered or fails at once
// with errIdle (its caller opens a new session next time).
func (s *session) idleCheck() {
	s.mu.Lock()
	if len(s.calls) > 0 || !s.failLocked(errIdle) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.end()
}

// request sends m (its ID is assigned here) and returns the call whose
// channel yields the responses. expect lists the blocks the peer may send;
// for DAG requests it starts with the root and grows as verified inner
// nodes name children.
func (s *session) request(m Message, expect []cid.Cid) (*call, error) {
	return s.requestV(m, expect, false)
}

// requestVerifying is request for a consumer that calls block.Verify on
// every block itself before storing or using it (see
// call.consumerVerifies).
func (s *session) requestVerifying(m Message, expect []cid.Cid) (*call, error) {
	return s.requestV(m, expect, true)
}

func (s *session) requestV(m Message, expect []cid.Cid, consumerVerifies bool) (*call, error) {
	c := &call{
		typ: m.Type, expect: make(map[string]int, len(expect)), gone: make(chan struct{}),
		consumerVerifies: consumerVerifies && m.Type == MsgWant,
	}
	for _, e := range expect {
		c.expect[string(e.Hash())]++
	}
	n := len(expect) + 2
	if m.Type == MsgDAG {
		n = 64
	}
	// A channel large enough for every response of a want means the
	// reader never waits on a slow consumer of one request while others
	// could proceed.
	c.ch = make(chan Message, n)
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.err
	}
	s.nextID++
	c.id = s.nextID
	m.ID = c.id
	s.calls[c.id] = c
	if s.idleTimer != nil {
		s.idleTimer.Stop()
	}
	s.mu.Unlock()
	if err := s.send(&m); err != nil {
		s.fail(err)
		return nil, err
	}
	return c, nil
}

// cancel tells the peer to stop; blocks already on the wire are dropped
// (and their credit returned) until its Done arrives.
func (s *session) cancel(c *call) {
	c.once.Do(func() {
		close(c.gone)
		if s.Err() == nil {
			s.send(&Message{Type: MsgCancel, ID: c.id})
		}
		// Blocks already queued for the departed consumer still hold
		// credit; return it, or the stream would slowly run dry. The
		// reader closes ch at DONE or when the session dies.
		go func() {
			for m := range c.ch {
				if m.Type == MsgBlock {
					s.consumed(len(m.Data))
					s.release(&m)
				}
			}
		}()
	})
}

// release recycles the receive buffer behind m.Data. Call it only when
// nothing refers to m.Data any more: the block was dropped, or a store
// that copies (see Store) has taken it. Messages that are not released
// are simply left to the garbage collector.
func (s *session) release(m *Message) {
	s.pool.put(m.frame)
	m.frame, m.Data = nil, nil
}

// consumed returns flow-control credit once a block has been dealt with.
// Credit is returned in batches of a quarter window to keep control
// messages rare, and sent by creditLoop: consumed runs in store callbacks
// that must not wait on this peer's stream.
func (s *session) consumed(n int) {
	s.mu.Lock()
	s.pending += int64(n)
	due := s.pending >= s.window/4
	s.mu.Unlock()
	if due {
		select {
		case s.creditDue <- struct{}{}:
		default: // already signalled
		}
	}
}

// creditLoop sends the credit consumed collects, until the session ends.
func (s *session) creditLoop() {
	for {
		select {
		case <-s.done:
			return
		case <-s.creditDue:
		}
		s.mu.Lock()
		grant := s.pending
		s.pending = 0
		s.mu.Unlock()
		if grant <= 0 {
			continue
		}
		if err := s.send(&Message{Type: MsgCredit, Credit: uint64(grant)}); err != nil {
			s.fail(err)
			return
		}
	}
}

func (s *session) readLoop() {
	br := bufio.NewReaderSize(s.st, 64<<10)
	var err error
	for err == nil {
		var payload []byte
		var frame *[]byte
		if payload, frame, err = readFramePooled(br, MaxFrame, s.pool); err != nil {
			if errors.Is(err, ErrProtocol) {
				err = fmt.Errorf("%w: %w", ErrMisbehaved, err)
			}
			break
		}
		m, derr := Decode(payload)
		if m.Type == MsgBlock && derr == nil {
			m.frame = frame // only blocks are ever released
		}
		if errors.Is(derr, errUnknownType) {
			continue
		}
		if derr != nil {
			err = fmt.Errorf("%w: %w", ErrMisbehaved, derr)
			break
		}
		err = s.dispatch(m)
	}
	if errors.Is(err, ErrMisbehaved) && s.onBad != nil {
		s.onBad(s.p, err)
	}
	s.fail(err)
	s.mu.Lock()
	calls := s.calls
	s.calls = map[uint64]*call{}
	s.mu.Unlock()
	for _, c := range calls {
		close(c.ch)
	}
}

func (s *session) dispatch(m Message) error {
	switch m.Type {
	case MsgBlock, MsgMissing, MsgHaveResp, MsgDone:
	default:
		return fmt.Errorf("%w: unexpected message type 0x%02x", ErrMisbehaved, m.Type)
	}
	// The call stays registered until its DONE has been checked and
	// delivered: if anything fails first, readLoop's cleanup must still
	// find it and close its channel.
	s.mu.Lock()
	c := s.calls[m.ID]
	s.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%w: response to unknown request %d", ErrMisbehaved, m.ID)
	}
	switch m.Type {
	case MsgBlock, MsgMissing:
		key := string(m.CID.Hash())
		left := c.expect[key]
		if left == 0 {
			return fmt.Errorf("%w: unrequested block %s", ErrMisbehaved, m.CID)
		}
		if left == 1 {
			delete(c.expect, key)
		} else {
			c.expect[key] = left - 1
		}
		if m.Type == MsgMissing {
			break
		}
		if !c.consumerVerifies {
			if err := block.Verify(m.CID, m.Data); err != nil {
				return fmt.Errorf("%w: %w", ErrMisbehaved, err)
			}
		}
		if c.typ == MsgDAG && m.CID.Type() == block.CodecDagPB {
			// The node is verified, so the children it names become
			// blocks the peer may send next.
			if n, err := decodeNode(m.Data); err == nil {
				for _, l := range n.Links {
					// Counted: a DAG with repeated subtrees
					// names (and a DFS sends) a node once
					// per link to it.
					c.expect[string(l.Hash())]++
				}
			}
		}
		if err := waitBytes(context.Background(), s.down, len(m.Data)); err != nil {
			return err
		}
	}
	if m.Type == MsgDone && m.Status == StatusOK && c.typ == MsgWant && len(c.expect) > 0 {
		// A want is answered block by block; ending it early would leave
		// the requester asking again forever.
		return fmt.Errorf("%w: want %d ended with %d blocks unanswered", ErrMisbehaved, m.ID, len(c.expect))
	}
	select {
	case c.ch <- m:
	case <-c.gone:
		if m.Type == MsgBlock {
			s.consumed(len(m.Data))
			s.release(&m)
		}
	}
	if m.Type == MsgDone {
		s.mu.Lock()
		delete(s.calls, m.ID)
		if len(s.calls) == 0 && s.idleTimer != nil && s.err == nil {
			s.idleTimer.Reset(s.idle)
		}
		s.mu.Unlock()
		close(c.ch)
	}
	return nil
}

// statusErr turns a Done status into an error (nil for OK).
func statusErr(st Status) error {
	switch st {
	case StatusOK:
		return nil
	case StatusNotFound:
		return fmt.Errorf("%w: %w", ErrRejected, block.ErrNotFound)
	case StatusTooMany:
		return fmt.Errorf("%w: %w", ErrRejected, errTooMany)
	}
	return fmt.Errorf("%w: %s", ErrRejected, st)
}
