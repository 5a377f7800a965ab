package transfer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trove-p2p/trove/block"
)

// tpeer is one provider as a transfer sees it. Only the coordinator
// goroutine touches it.
type tpeer struct {
	s        *session
	rate     float64
	inflight int64
	failures int
	until    time.Time // backing off until
	dead     bool
	recv     int64 // bytes received, for rate samples
	busy     time.Duration
	busyFrom time.Time // zero when idle
	lastRecv int64
	lastBusy time.Duration
	last     float64 // the last sample's rate, before smoothing
	runs     []*run  // live runs in request order
}

func (p *tpeer) dropRun(r *run) {
	if i := slices.Index(p.runs, r); i >= 0 {
		p.runs = slices.Delete(p.runs, i, i+1)
	}
}

func (p *tpeer) usable(now time.Time) bool {
	return !p.dead && p.s.Err() == nil && !now.Before(p.until)
}

// span is a run of consecutive missing blocks of one list, assigned as a
// unit.
type span struct {
	idx     []int // indexes into the list
	urgent  bool
	started bool // a block of it arrived
	holders map[*run]struct{}
}

// run is one want request carrying (part of) a span to one peer.
type run struct {
	p       *tpeer
	sp      *span
	bytes   int64 // requested and not yet received
	cancel  context.CancelFunc
	stopped bool // cancelled by the coordinator, not failed
}

type event struct {
	r   *run
	i   int   // block index (arrival)
	n   int64 // bytes (arrival)
	end bool
	err error
}

// list is the state of one fetchList call.
type list struct {
	refs  []blockRef
	index map[string]int // multihash -> index
	state []atomic.Bool  // true once stored
	// left counts blocks not yet stored. The goroutine that stores a
	// block decrements it, not the coordinator: a run cancelled right
	// after storing may never get its event through.
	left atomic.Int64
	// readAt is the highest index a reader asked for (-1: none yet); see
	// follows.
	readAt atomic.Int64
}

// follows reports whether a reader asking for block i reads on from
// where this list's readers were: fewer than window bytes still missing
// between the last block asked for and i. Such a block is on its way
// with the background fetch, which moves the reader's spans to the
// front; a block further ahead is a jump, which Get fetches on its own
// rather than wait for the fetch to get there. Either way i becomes the
// reader's position.
func (l *list) follows(i int, window int64) bool {
	at := l.readAt.Load()
	if int64(i) > at {
		l.readAt.Store(int64(i)) // racing readers: any of theirs will do
	}
	var gap int64
	for j := int(at) + 1; j < i; j++ {
		if !l.state[j].Load() {
			if gap += l.size(j); gap > window {
				return false
			}
		}
	}
	return true
}

// sizer is the optional store method that tells a stored block's length;
// blockstore.Store has it. Progress uses it for blocks already present,
// whose size the parent's links may not give (raw leaves of a single-level
// DAG do, but a tiny file's root has no parent at all).
type sizer interface {
	Size(ctx context.Context, c cid.Cid) (int, error)
}

// presentSize is the length of block i, known to be in the store: the
// parent's figure when it gave one, else the store's, else the estimate.
func (t *transfer) presentSize(ctx context.Context, l *list, i int) int64 {
	if l.refs[i].size > 0 {
		return l.refs[i].size
	}
	if sz, ok := t.store.(sizer); ok {
		if n, err := sz.Size(ctx, l.refs[i].c); err == nil {
			return int64(n)
		}
	}
	return l.size(i)
}

func (l *list) size(i int) int64 {
	if l.refs[i].size > 0 {
		return l.refs[i].size
	}
	return defaultBlockSize
}

// fetchList makes every block of refs present in the store. It is the
// coordinator: one goroutine that owns all scheduling state, reacts to
// events from the per-request goroutines and asks Schedule what to do
// next.
func (t *transfer) fetchList(refs []blockRef) error {
	ctx, cancelAll := context.WithCancel(t.ctx)
	defer cancelAll()
	l := newList(refs)
	t.cur.Store(l)
	present, sizes, err := t.scanPresent(ctx, l)
	if err != nil {
		return err
	}
	var spans []*span
	for _, idx := range planSpans(sizes, present, t.f.opts.SpanBytes) {
		spans = append(spans, &span{idx: idx, holders: map[*run]struct{}{}})
	}
	if l.left.Load() == 0 {
		return nil
	}

	events := make(chan event, 256)
	peers, seen := t.peersNow()
	runs := map[*run]struct{}{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	defer func() {
		for r := range runs {
			r.stop()
		}
	}()

	for {
		now := time.Now()
		spans = dropDone(l, spans)
		if l.left.Load() == 0 {
			return nil
		}
		t.reopenIdle(peers)
		loads, sl, alive := schedInput(l, peers, spans, now)
		t.npeer.Store(int32(alive))
		for _, a := range Schedule(loads, sl, t.f.opts.Sched) {
			if a.Steal {
				for r := range spans[a.Span].holders {
					r.stop()
				}
			}
			r := t.startRun(ctx, l, peers[a.Peer], spans[a.Span], events)
			if r != nil {
				runs[r] = struct{}{}
			}
		}
		if len(runs) == 0 && alive == 0 {
			select {
			case <-t.discoverDone:
				if len(t.newPeer) == 0 && t.reconnecting.Load() == 0 {
					return &MissingError{Root: t.root, Missing: l.left.Load(), Last: t.lastErr}
				}
			default:
			}
		}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case p := <-t.newPeer:
			if !seen[p.s] {
				seen[p.s] = true
				peers = append(peers, p)
			}
		case c := <-t.urgent:
			if i, ok := l.index[string(c.Hash())]; ok {
				for _, sp := range spans {
					if sp.idx[0] <= i && i <= sp.idx[len(sp.idx)-1] {
						sp.urgent = true
						requeue(sp)
					}
				}
			}
		case ev := <-events:
			var se *storeError
			if ev.end && errors.As(ev.err, &se) {
				// Our disk failed, not the peer: every other peer's
				// blocks would meet the same fate, so stop here with
				// the store's error (a full disk, say) rather than
				// blame the providers one by one.
				return se.err
			}
			t.handle(l, ev, runs)
		case <-tick.C:
			for _, p := range peers {
				p.sample(now)
				t.maybeLane(p, now)
			}
		}
	}
}

// scanPresent marks what the store already has as stored, so a resumed
// download never asks for it, and counts the rest in l.left. It returns
// which blocks were present and every block's expected size, for
// planSpans.
func (t *transfer) scanPresent(ctx context.Context, l *list) (present []bool, sizes []int64, err error) {
	present = make([]bool, len(l.refs))
	sizes = make([]int64, len(l.refs))
	for i, r := range l.refs {
		sizes[i] = l.size(i)
		ok, err := t.store.Has(ctx, r.c)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			present[i] = true
			l.state[i].Store(true)
			t.have.Add(t.presentSize(ctx, l, i))
			continue
		}
		l.left.Add(1)
	}
	return present, sizes, nil
}

// peersNow is a list's starting providers: the transfer's sessions at
// this moment. seen holds their sessions, so a peer that newPeer reports
// again later is not added twice.
func (t *transfer) peersNow() (peers []*tpeer, seen map[*session]bool) {
	t.mu.Lock()
	for _, s := range t.sessions {
		peers = append(peers, &tpeer{s: s})
	}
	t.mu.Unlock()
	seen = map[*session]bool{}
	for _, p := range peers {
		seen[p.s] = true
	}
	return peers, seen
}

// dropDone returns the spans with blocks still missing, stopping the runs
// that hold the finished ones. It reuses spans' array.
func dropDone(l *list, spans []*span) []*span {
	live := spans[:0]
	for _, sp := range spans {
		if spanLeft(l, sp) > 0 {
			live = append(live, sp)
		} else {
			for r := range sp.holders {
				r.stop()
			}
		}
	}
	return live
}

// schedInput is what Schedule decides from: each peer's load, each span's
// load and holders (as indexes into peers), and how many peers are alive,
// usable now or not.
func schedInput(l *list, peers []*tpeer, spans []*span, now time.Time) (loads []PeerLoad, sl []SpanLoad, alive int) {
	loads = make([]PeerLoad, len(peers))
	for i, p := range peers {
		loads[i] = PeerLoad{Rate: p.rate, Inflight: p.inflight, Usable: p.usable(now)}
		if !p.dead && p.s.Err() == nil {
			alive++
		}
	}
	sl = make([]SpanLoad, len(spans))
	pidx := map[*tpeer]int{}
	for i, p := range peers {
		pidx[p] = i
	}
	for i, sp := range spans {
		// A span the server may already be sending counts as started:
		// the server serves maxBulkActive requests at a time, in order,
		// so only runs queued behind those are free to move.
		started := sp.started
		for r := range sp.holders {
			started = started || slices.Index(r.p.runs, r) < maxBulkActive
		}
		sl[i] = SpanLoad{Bytes: spanBytes(l, sp), Urgent: sp.urgent, Started: started}
		for r := range sp.holders {
			sl[i].Holders = append(sl[i].Holders, pidx[r.p])
		}
	}
	return loads, sl, alive
}

// stop cancels a run the coordinator no longer wants (its span is done,
// or was stolen) and takes it off the books at once, so the scheduler
// sees the room immediately. Only the coordinator calls it.
func (r *run) stop() {
	if r.stopped {
		return
	}
	r.stopped = true
	r.cancel()
	r.p.dropRun(r)
	delete(r.sp.holders, r)
	r.p.addInflight(-r.bytes, time.Now())
	r.bytes = 0
}

// requeue moves an urgent span that waits in a server's queue to the
// front. A server serves a stream's bulk requests maxBulkActive at a
// time, in arrival order, so a reader that has jumped ahead would wait
// for every span requested before its own. The runs queued behind the
// served ones, the span's and all after it, are cancelled (a queued
// request costs nothing to cancel) and the next Schedule hands them out
// again, urgent first and then in order. A span already arriving is left
// alone.
func requeue(sp *span) {
	if sp.started {
		return
	}
	for r := range sp.holders {
		if slices.Index(r.p.runs, r) < maxBulkActive {
			continue
		}
		for _, q := range slices.Clone(r.p.runs[maxBulkActive:]) {
			if !q.sp.started {
				q.stop()
			}
		}
	}
}

// newList indexes refs by multihash. Identical blocks (a file of zeros)
// are listed, and so fetched, once.
func newList(refs []blockRef) *list {
	l := &list{index: make(map[string]int, len(refs))}
	for _, r := range refs {
		k := string(r.c.Hash())
		if _, dup := l.index[k]; dup {
			continue
		}
		l.index[k] = len(l.refs)
		l.refs = append(l.refs, r)
	}
	l.state = make([]atomic.Bool, len(l.refs))
	l.readAt.Store(-1)
	return l
}

// planSpans groups the blocks not present into spans, the units the
// scheduler assigns: runs of consecutive missing blocks of at most
// maxBytes together (a larger block gets a span of its own). A present
// block ends a span, so a resumed download never asks for what the store
// has, and the blocks of a span stay in DAG order, which is the order the
// server reads them in.
func planSpans(sizes []int64, present []bool, maxBytes int64) [][]int {
	var spans [][]int
	var cur []int
	var curBytes int64
	flush := func() {
		if cur != nil {
			spans = append(spans, cur)
		}
		cur, curBytes = nil, 0
	}
	for i, size := range sizes {
		if present[i] {
			flush()
			continue
		}
		if cur != nil && curBytes+size > maxBytes {
			flush()
		}
		cur = append(cur, i)
		curBytes += size
	}
	flush()
	return spans
}

func spanLeft(l *list, sp *span) int {
	n := 0
	for _, i := range sp.idx {
		if !l.state[i].Load() {
			n++
		}
	}
	return n
}

func spanBytes(l *list, sp *span) int64 {
	var n int64
	for _, i := range sp.idx {
		if !l.state[i].Load() {
			n += l.size(i)
		}
	}
	return n
}

// sample folds the last tick's throughput into the peer's rate. Only time
// with requests outstanding counts, so an idle peer is not judged slow.
func (p *tpeer) sample(now time.Time) {
	busy := p.busy
	if !p.busyFrom.IsZero() {
		busy += now.Sub(p.busyFrom)
	}
	db, dt := p.recv-p.lastRecv, busy-p.lastBusy
	if dt < 50*time.Millisecond {
		return
	}
	r := float64(db) / dt.Seconds()
	p.last = r
	if p.rate == 0 {
		p.rate = r
	} else {
		p.rate = 0.6*p.rate + 0.4*r
	}
	p.lastRecv, p.lastBusy = p.recv, busy
}

func (p *tpeer) addInflight(n int64, now time.Time) {
	was := p.inflight > 0
	p.inflight += n
	switch is := p.inflight > 0; {
	case is && !was:
		p.busyFrom = now
	case !is && was:
		p.busy += now.Sub(p.busyFrom)
		p.busyFrom = time.Time{}
	}
}

func (t *transfer) handle(l *list, ev event, runs map[*run]struct{}) {
	r, now := ev.r, time.Now()
	if !ev.end {
		if !r.stopped {
			sz := l.size(ev.i)
			r.bytes -= sz
			r.p.addInflight(-sz, now)
		}
		r.sp.started = true
		r.p.recv += ev.n
		return
	}
	delete(runs, r)
	if r.stopped {
		return // already off the books
	}
	r.p.dropRun(r)
	delete(r.sp.holders, r)
	r.p.addInflight(-r.bytes, now)
	r.bytes = 0
	if ev.err == nil {
		return
	}
	p := r.p
	if p.dead {
		return // its other runs already reported why
	}
	t.lastErr = ev.err
	if errors.Is(ev.err, errTooMany) && p.s.Err() == nil {
		// Busy with other requests (other downloads, a reader's): try
		// again later, but this is no mark against the peer.
		p.until = now.Add(t.f.opts.Backoff)
		return
	}
	if errors.Is(ev.err, errIdle) {
		// This node closed the session for idleness just before the
		// request (FetchOptions.SessionIdle): reopen it at once, no mark
		// against the peer.
		p.dead = true
		t.reconnecting.Add(1)
		go t.reconnect(p.s.p, 0, p.failures)
		return
	}
	p.failures++
	if errors.Is(ev.err, ErrMisbehaved) || p.failures >= t.f.opts.MaxFailures {
		p.dead = true
		t.f.log.Info("transfer: dropping provider", "peer", p.s.p, "err", ev.err)
		return
	}
	backoff := t.f.opts.Backoff << (p.failures - 1)
	if p.s.Err() != nil {
		// The stream or connection died, not necessarily the peer: dial
		// again after the backoff, carrying the failure count so that a
		// flapping peer still runs out of retries.
		p.dead = true
		t.reconnecting.Add(1)
		go t.reconnect(p.s.p, backoff, p.failures)
		return
	}
	p.until = now.Add(backoff)
	t.f.log.Debug("transfer: provider backing off", "peer", p.s.p, "err", ev.err)
}

// startRun requests the span's missing blocks from p; a goroutine stores
// what arrives and reports to the coordinator.
func (t *transfer) startRun(ctx context.Context, l *list, p *tpeer, sp *span, events chan<- event) *run {
	var cids []cid.Cid
	var idx []int
	var bytes int64
	for _, i := range sp.idx {
		if !l.state[i].Load() {
			cids = append(cids, l.refs[i].c)
			idx = append(idx, i)
			bytes += l.size(i)
		}
	}
	if len(cids) == 0 {
		return nil
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &run{p: p, sp: sp, bytes: bytes, cancel: cancel}
	sp.holders[r] = struct{}{}
	p.runs = append(p.runs, r)
	p.addInflight(bytes, time.Now())
	// The request is sent here, in the coordinator, not by the goroutine:
	// a server serves a stream's bulk requests in the order they arrive,
	// and spans go out in file order, so a streaming reader's next block
	// is never queued behind spans assigned after it.
	call, err := p.s.requestVerifying(Message{Type: MsgWant, CIDs: cids}, cids)
	go func() {
		if err == nil {
			err = t.want(rctx, l, r, call, events)
		}
		cancel()
		select {
		case events <- event{r: r, end: true, err: err}:
		case <-ctx.Done():
		}
	}()
	return r
}

// asyncPutter is the optional Store method that stores without waiting:
// done runs once the block is visible to Get and Has, or failed.
// blockstore has it. With it a run hashes the next block while the store
// writes the last one; data must stay untouched until done.
type asyncPutter interface {
	PutAsync(ctx context.Context, c cid.Cid, data []byte, done func(error))
}

// want carries out one run.
func (t *transfer) want(ctx context.Context, l *list, r *run, call *call, events chan<- event) error {
	s := r.p.s
	defer s.cancel(call)
	// Writes still in flight finish before the run reports its end, so
	// the coordinator never sees a finished run whose blocks are not yet
	// stored (it would ask someone else for them).
	var writes sync.WaitGroup
	var writeErr atomic.Pointer[error]
	defer writes.Wait()
	stored := func(m *Message, i int, n int64) func(error) {
		return func(err error) {
			if err != nil {
				err = fmt.Errorf("storing %s: %w", m.CID, err)
				if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					// A run stopped early (a steal, the endgame)
					// cancels its writes; that is no store failure.
					err = &storeError{err}
				}
				writeErr.CompareAndSwap(nil, &err)
			} else if l.state[i].CompareAndSwap(false, true) {
				// Stored before it counts as done.
				l.left.Add(-1)
				t.have.Add(n)
				t.blockStored(m.CID)
			}
			s.consumed(len(m.Data))
			s.release(m) // the store copied it (see Store)
			writes.Done()
		}
	}
	aput, async := t.store.(asyncPutter)
	timeout := t.f.opts.RequestTimeout
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		if e := writeErr.Load(); e != nil {
			return *e
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("transfer: peer %s: no progress for %v", s.p, timeout)
		case m, ok := <-call.ch:
			if !ok {
				if err := s.Err(); err != nil {
					return err
				}
				return errors.New("transfer: request ended without status")
			}
			timer.Reset(timeout)
			switch m.Type {
			case MsgMissing:
				return fmt.Errorf("peer %s: %w", s.p, statusErr(StatusNotFound))
			case MsgDone:
				if m.Status != StatusOK {
					return fmt.Errorf("peer %s: %w", s.p, statusErr(m.Status))
				}
				writes.Wait()
				if e := writeErr.Load(); e != nil {
					return *e
				}
				return nil
			case MsgBlock:
				i := l.index[string(m.CID.Hash())]
				n := int64(len(m.Data))
				// Verified here, not by the session reader, so that
				// hashing runs on as many goroutines as there are runs;
				// the reader already checked that we asked for m.CID.
				if err := block.Verify(m.CID, m.Data); err != nil {
					s.consumed(len(m.Data))
					s.release(&m)
					err = fmt.Errorf("%w: %w", ErrMisbehaved, err)
					t.f.ban(s.p, err)
					return err
				}
				t.bytes.Add(n)
				t.f.received.Add(float64(n))
				writes.Add(1)
				done := stored(&m, i, n)
				switch {
				case l.state[i].Load(): // a duplicate from the endgame
					done(nil)
				case async:
					aput.PutAsync(ctx, m.CID, m.Data, done)
				default:
					done(t.store.Put(ctx, m.CID, m.Data))
				}
				select {
				case events <- event{r: r, i: i, n: n}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
	}
}

// reopenIdle reopens the sessions that ended for idleness while no run
// of theirs was open to see it: between two lists of a walk, or during a
// backoff longer than FetchOptions.SessionIdle. Such a peer did nothing
// wrong, and without this the list would count it as gone.
func (t *transfer) reopenIdle(peers []*tpeer) {
	for _, p := range peers {
		if !p.dead && errors.Is(p.s.Err(), errIdle) {
			p.dead = true
			t.reconnecting.Add(1)
			go t.reconnect(p.s.p, 0, p.failures)
		}
	}
}

// reconnect opens a fresh session to a provider whose session died and
// offers it to the transfer again.
func (t *transfer) reconnect(id peer.ID, after time.Duration, failures int) {
	defer t.reconnecting.Add(-1)
	select {
	case <-time.After(after):
	case <-t.ctx.Done():
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.f.opts.RequestTimeout)
	defer cancel()
	s, err := t.f.session(ctx, peer.AddrInfo{ID: id})
	if err != nil {
		t.f.log.Info("transfer: provider gone", "peer", id, "err", err)
		return
	}
	t.mu.Lock()
	t.sessions = append(t.sessions, s)
	t.mu.Unlock()
	select {
	case t.newPeer <- &tpeer{s: s, failures: failures}:
	case <-t.ctx.Done():
	}
}

// storeError is a block the local store failed to write: a fault of this
// node, which ends the transfer instead of counting against the peer.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }
