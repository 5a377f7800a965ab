package blockstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/crashpoint"
)

// Session is a write handle whose blocks GC treats as live roots until End.
// An importer opens one, writes the DAG through it, pins the root, then ends
// it; a download does the same with a Partial pin. Without a session a
// freshly written but not yet pinned block could be swept by the next GC.
type Session struct {
	s    *Store
	live map[string]struct{} // guarded by s.mu
}

// Session opens a write session. End it when its blocks are pinned or
// abandoned; until then they survive every GC.
func (s *Store) Session() *Session {
	ss := &Session{s: s, live: make(map[string]struct{})}
	s.mu.Lock()
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	return ss
}

// End releases the session's blocks to the ordinary pin-based GC rules. It
// is idempotent.
func (ss *Session) End() {
	ss.s.mu.Lock()
	delete(ss.s.sessions, ss)
	ss.s.mu.Unlock()
}

// note records mh as live before it is written, so that a GC starting at
// any point afterwards either sees it in the session or in its own record
// of writes made while it runs.
func (ss *Session) note(mh []byte) {
	k := string(mh)
	ss.s.mu.Lock()
	ss.live[k] = struct{}{}
	if g := ss.s.gc; g != nil {
		g.seen[k] = struct{}{}
	}
	ss.s.mu.Unlock()
}

func checkSize(c cid.Cid, data []byte) error {
	if len(data) > block.MaxSize {
		return fmt.Errorf("blockstore: %s is %d bytes: %w", c, len(data), block.ErrTooLarge)
	}
	return nil
}

// Put stores a block durably enough for Badger (durable on disk only with
// Options.SyncWrites or after Store.Sync) and keeps it live for GC.
func (ss *Session) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkSize(c, data); err != nil {
		return err
	}
	if err := ss.s.room(len(data)); err != nil {
		return err
	}
	mh := c.Hash()
	ss.note(mh)
	s := ss.s
	s.gate.RLock()
	defer s.gate.RUnlock()
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(blockKey(mh), data) })
	if err != nil {
		return mapErr(c, err)
	}
	return s.wrote(len(data))
}

// PutAsync is Put without the wait: it hands the block to the store and
// returns, and done runs (on another goroutine) once the block is visible
// to Get and Has, or with the error that kept it out. A downloader hashes
// the next block meanwhile instead of idling through every commit. Blocks
// that arrive while earlier ones are being written share one Badger
// transaction (see asyncWriter). data must not be modified until done
// runs; done must not block for long.
func (ss *Session) PutAsync(ctx context.Context, c cid.Cid, data []byte, done func(error)) {
	if err := ctx.Err(); err != nil {
		done(err)
		return
	}
	if err := checkSize(c, data); err != nil {
		done(err)
		return
	}
	mh := c.Hash()
	ss.note(mh)
	ss.s.async.put(asyncPut{c: c, key: blockKey(mh), data: data, done: done})
}

// asyncWriter groups PutAsync calls into transactions. Badger's value-log
// writer allocates a buffer the size of the largest value for every
// write request, so a transaction per block turned each fetched megabyte
// into a megabyte of garbage and pushed the heap (and RSS) up; one
// transaction for whatever queued up while the last commit ran costs a
// buffer per batch instead. At most asyncInflight commits run at once;
// the commit callback starts the next batch, so the writer needs no
// goroutine of its own and a lone block is written at once.
type asyncWriter struct {
	s        *Store
	mu       sync.Mutex
	idle     sync.Cond // signalled when pending drops to zero
	queue    []asyncPut
	inflight int  // commits running
	pending  int  // puts accepted whose done has not run yet
	closed   bool // Close has begun: refuse new puts
	maxBatch int  // bytes per transaction
}

// drain refuses further puts and waits until every accepted one has been
// reported, so that no commit callback (which may sync) runs after Badger
// is closed.
func (w *asyncWriter) drain() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for w.pending > 0 {
		w.idle.Wait()
	}
}

func (w *asyncWriter) finished(n int) {
	w.mu.Lock()
	w.pending -= n
	if w.pending == 0 {
		w.idle.Broadcast()
	}
	w.mu.Unlock()
}

type asyncPut struct {
	c    cid.Cid
	key  []byte
	data []byte
	done func(error)
}

const (
	asyncInflight = 2
	// asyncBatchBytes caps one transaction, so a long queue still
	// becomes visible in steps.
	asyncBatchBytes = 8 << 20
)

func (w *asyncWriter) put(p asyncPut) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		p.done(ErrClosed)
		return
	}
	w.pending++
	w.queue = append(w.queue, p)
	if w.inflight >= asyncInflight {
		w.mu.Unlock()
		return // a commit callback will take it
	}
	w.inflight++
	batch := w.take()
	w.mu.Unlock()
	w.commit(batch)
}

// take removes up to maxBatch bytes of puts from the queue (at least one
// put). Called with w.mu held.
func (w *asyncWriter) take() []asyncPut {
	n, size := 0, 0
	for n < len(w.queue) && (n == 0 || size+len(w.queue[n].data) <= w.maxBatch) {
		size += len(w.queue[n].data)
		n++
	}
	batch := append([]asyncPut(nil), w.queue[:n]...)
	rest := copy(w.queue, w.queue[n:])
	clear(w.queue[rest:])
	w.queue = w.queue[:rest]
	return batch
}

// commit writes batch in one transaction (more if Badger finds it too
// big). When Badger is done it starts the next batch first, then reports
// to every put: a done that is slow (it may hand credit back to a peer)
// then holds up no other download's writes.
func (w *asyncWriter) commit(batch []asyncPut) {
	s := w.s
	size := 0
	for _, p := range batch {
		size += len(p.data)
	}
	if err := s.room(size); err != nil {
		w.refuse(batch, err)
		return
	}
	s.gate.RLock()
	txn := s.db.NewTransaction(true)
	kept := batch[:0]
	var failed []asyncPut
	var failErr []error
	for i, p := range batch {
		err := txn.Set(p.key, p.data)
		if errors.Is(err, badger.ErrTxnTooBig) && len(kept) > 0 {
			// Write what fits now; the rest goes back to the queue head.
			w.mu.Lock()
			w.queue = append(append([]asyncPut(nil), batch[i:]...), w.queue...)
			w.mu.Unlock()
			break
		}
		if err != nil {
			failed, failErr = append(failed, p), append(failErr, mapErr(p.c, err))
			continue
		}
		kept = append(kept, p)
	}
	batch = kept
	txn.CommitWith(func(err error) {
		s.gate.RUnlock()
		n := 0
		for _, p := range batch {
			n += len(p.data)
		}
		if err == nil && len(batch) > 0 {
			if werr := s.wrote(n); werr != nil {
				s.log.Warn("blockstore: sync after write failed", "err", werr)
			}
			crashpoint.Hit(crashpoint.FetchStored)
		}
		w.mu.Lock()
		var next []asyncPut
		if len(w.queue) > 0 {
			next = w.take()
		} else {
			w.inflight--
		}
		w.mu.Unlock()
		if next != nil {
			w.commit(next)
		}
		for _, p := range batch {
			if err != nil {
				p.done(mapErr(p.c, err))
			} else {
				p.done(nil)
			}
		}
		w.finished(len(batch))
	})
	if len(failed) > 0 {
		// Not here: this goroutine holds the gate until the commit
		// callback, and a done that blocks must not hold off GC.
		go func() {
			for i, p := range failed {
				p.done(failErr[i])
			}
			w.finished(len(failed))
		}()
	}
}

// refuse fails a whole batch without writing it, and starts the next
// one, as a commit's callback would.
func (w *asyncWriter) refuse(batch []asyncPut, err error) {
	w.mu.Lock()
	var next []asyncPut
	if len(w.queue) > 0 {
		next = w.take()
	} else {
		w.inflight--
	}
	w.mu.Unlock()
	go func() {
		// Not on the caller's goroutine: done may hand credit back to a
		// peer, and the next batch may be refused in turn.
		for _, p := range batch {
			p.done(mapErr(p.c, err))
		}
		w.finished(len(batch))
		if next != nil {
			w.commit(next)
		}
	}()
}

// Batch accumulates block writes for import. Put hands data to Badger in
// chunks of Options.BatchBytes, with at most two chunks in flight, so the
// importer hashes the next chunk while Badger writes the previous one and
// memory stays bounded. A Batch is for one goroutine.
//
// Put may retain data until Commit or Discard returns, or until it is
// passed to the OnRelease function: the caller must not modify it before.
type Batch struct {
	s       *Store
	ss      *Session
	ownSess bool
	txn     *badger.Txn
	pending int
	sem     chan struct{}
	wg      sync.WaitGroup
	errMu   sync.Mutex
	err     error
	done    bool
	// release, if set, gets back each Put's data once Badger has
	// copied it; held is the data of the open transaction.
	release func([]byte)
	held    [][]byte
}

var _ block.Putter = (*Batch)(nil)

// NewBatch returns a batch with its own session, which ends at Commit or
// Discard; the blocks are therefore live only until then, so pin the root
// before committing or use Session.NewBatch.
func (s *Store) NewBatch() *Batch {
	b := s.Session().NewBatch()
	b.ownSess = true
	return b
}

// NewBatch returns a batch whose blocks belong to this session.
func (ss *Session) NewBatch() *Batch {
	return &Batch{
		s:   ss.s,
		ss:  ss,
		txn: ss.s.db.NewTransaction(true),
		sem: make(chan struct{}, defaultBatchInflight),
	}
}

func (b *Batch) setErr(err error) {
	if err == nil {
		return
	}
	b.errMu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.errMu.Unlock()
}

func (b *Batch) getErr() error {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	return b.err
}

// OnRelease makes the batch call f with every Put's data once Badger has
// copied it into the value log or the memtable, so an importer can reuse
// its buffers instead of allocating a chunk per block (see
// importer.Releaser). f runs on Badger's callback goroutines, before
// Commit or Discard returns. Set it before the first Put.
func (b *Batch) OnRelease(f func(data []byte)) { b.release = f }

var errBatchDone = errors.New("blockstore: batch already committed or discarded")

// Put adds a block to the batch. Errors from earlier background writes are
// reported by the next Put or by Commit.
func (b *Batch) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if b.done {
		return errBatchDone
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.getErr(); err != nil {
		return err
	}
	if err := checkSize(c, data); err != nil {
		return err
	}
	mh := c.Hash()
	b.ss.note(mh)
	key := blockKey(mh)
	err := b.txn.Set(key, data)
	if errors.Is(err, badger.ErrTxnTooBig) {
		b.flush()
		err = b.txn.Set(key, data)
	}
	if err != nil {
		return mapErr(c, err)
	}
	if b.release != nil {
		b.held = append(b.held, data)
	}
	b.pending += len(data) + len(key)
	if b.pending >= b.s.opts.BatchBytes {
		b.flush()
	}
	return nil
}

// flush hands the current transaction to Badger asynchronously and starts
// a new one.
func (b *Batch) flush() {
	txn := b.txn
	n := b.pending
	held := b.held
	b.txn = b.s.db.NewTransaction(true)
	b.pending, b.held = 0, nil
	if err := b.s.room(n); err != nil {
		txn.Discard()
		for _, d := range held {
			b.release(d)
		}
		b.setErr(err)
		return
	}
	b.sem <- struct{}{}
	b.wg.Add(1)
	b.s.gate.RLock()
	txn.CommitWith(func(err error) {
		b.s.gate.RUnlock()
		// Badger has copied every value by the time the callback runs,
		// or never will (the commit failed): either way the bytes are
		// free again.
		for _, d := range held {
			b.release(d)
		}
		if err == nil {
			err = b.s.wrote(n)
			crashpoint.Hit(crashpoint.BatchFlushed)
		}
		b.setErr(err)
		<-b.sem
		b.wg.Done()
	})
}

// Commit writes everything put so far and fsyncs it before returning, so a
// crash after Commit loses nothing.
func (b *Batch) Commit() error {
	if b.done {
		return errBatchDone
	}
	b.done = true
	if b.ownSess {
		defer b.ss.End()
	}
	b.flush()
	b.wg.Wait()
	b.txn.Discard()
	if err := b.getErr(); err != nil {
		return fmt.Errorf("blockstore: batch: %w", err)
	}
	if !b.s.opts.SyncWrites {
		return b.s.Sync()
	}
	return nil
}

// Discard drops what has not been handed to Badger yet and waits for what
// has. Blocks already written stay until GC removes them. Discard after
// Commit is a no-op, so it can be deferred.
func (b *Batch) Discard() {
	if b.done {
		return
	}
	b.done = true
	b.txn.Discard()
	for _, d := range b.held {
		b.release(d)
	}
	b.held = nil
	b.wg.Wait()
	if b.ownSess {
		b.ss.End()
	}
}
