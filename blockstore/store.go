package blockstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/trove-p2p/trove/block"
)

// ErrLocked means another Store (in this process or another) has the
// repository open. Badger cannot share a directory, so the CLI tells the user
// to talk to the daemon instead.
var ErrLocked = errors.New("repo is in use by another trove process (is a daemon running?)")

// ErrClosed is returned by calls on a Store after Close.
var ErrClosed = errors.New("blockstore: closed")

// ErrNoSpace means a write was refused because the repo's filesystem is
// (nearly) full; see Options.MinFreeSpace. It matches syscall.ENOSPC too.
var ErrNoSpace = fmt.Errorf("no space left on the repo's disk (free some, or move the repo): %w", syscall.ENOSPC)

// Key prefixes. One byte plus a slash keeps the three key spaces apart and
// lets each be scanned on its own; block keys are the bare multihash after
// the prefix so that CID versions and codecs collapse onto one entry.
var (
	prefixBlock = []byte("b/")
	prefixPin   = []byte("p/")
	prefixMeta  = []byte("m/")
	// prefixFlush holds a throwaway key that GC writes and drops so that
	// Badger flushes its memtable (DropPrefix is the only public way) and
	// the compaction that follows sees the tombstones it must count.
	prefixFlush = []byte("f/")
)

// Default tuning, chosen from the measurements in docs/blockstore.md.
const (
	defaultValueThreshold   = 1 << 10
	defaultMemTableSize     = 16 << 20
	defaultNumMemtables     = 2
	defaultValueLogFileSize = 256 << 20
	defaultBlockCacheSize   = 16 << 20
	defaultBatchBytes       = 4 << 20
	defaultBatchInflight    = 2
	defaultMinFreeSpace     = 64 << 20
	// trimEvery is how many written bytes trigger a sync plus release of
	// mapped value-log pages (see releaseMappedPages). 16 MiB rather
	// than 32 keeps the value log's share of a 1 GiB add's RSS near
	// 30 MB at no measurable cost in throughput.
	trimEvery = 16 << 20
	// trimLimit is how far writers may run ahead of a trim in progress
	// before they wait for it. Dirty pages cannot be paged out, so
	// without the wait Badger outruns the fsync, and a 1 GiB import
	// had 160 MB of value log resident at once.
	trimLimit = 2 * trimEvery
)

// Options configures Open. The zero value is a sensible, quiet,
// non-verifying store tuned for import throughput.
type Options struct {
	// Verify re-hashes every block on Get and Lend with block.Verify. Off by default
	// because the bytes were verified when they entered the store and
	// hashing costs about a millisecond per MiB; turn it on to detect disk
	// rot (trove's "repo verify" does it once, explicitly).
	Verify bool
	// CheckReads makes every read fail with an error wrapping
	// block.ErrCorrupt rather than return bytes that changed on disk
	// since they were stored, for a fraction of Verify's cost: a block
	// in the value log (1 KiB or more) is checked against the CRC-32C
	// Badger stored with it (VerifyValueChecksum, ~0.05 CPU s per GiB
	// against ~0.75 for SHA-256; a failure reaches us as an empty value,
	// see readable), a smaller one is re-hashed. That
	// catches rot, which is what a seeder must not pass on; only Verify
	// also catches a block stored under the wrong CID, which nothing in
	// trove stores (every write path hashes or verifies first).
	CheckReads bool
	// SyncWrites makes every Put and every batch flush durable on its own
	// (Badger SyncWrites). Off by default: Batch.Commit and Sync fsync
	// explicitly, which is what import needs and is much faster.
	SyncWrites bool
	// Logger receives Badger's messages: errors and warnings at Warn, the
	// rest at Debug. Nil drops them, so a CLI run prints nothing.
	Logger *slog.Logger
	// ValueLogFileSize is the size of one value-log file, which is also the
	// unit value-log GC reclaims (the file being written is never
	// collected). Zero means 256 MiB.
	ValueLogFileSize int64
	// MemTableSize bounds one memtable. With block bytes in the value log a
	// memtable holds only keys and pointers, so small is fine. Zero means
	// 16 MiB.
	MemTableSize int64
	// BatchBytes is how many block bytes a Batch accumulates before it
	// hands them to Badger; at most two such chunks are in flight, which
	// bounds import memory. Zero means 4 MiB: against 16 MiB it is
	// within noise for throughput and takes ~15 MB off the peak RSS of a
	// 1 GiB `trove add` (docs/performance.md).
	BatchBytes int
	// MinFreeSpace is how many bytes block writes leave free on the
	// store's filesystem: a write that would leave less fails with
	// ErrNoSpace before Badger sees it. Badger writes through memory
	// maps, and a store on a full disk does not get an error from it: the
	// process dies of SIGBUS. The reserve also covers Badger's own
	// memtable flushes and the small writes (pins, deletes) that are not
	// checked. Zero means 64 MiB; negative turns the check off.
	MinFreeSpace int64
	// Tune, if set, is applied to the Badger options last. It exists for
	// benchmarks and experiments; the defaults above are the supported
	// configuration.
	Tune func(*badger.Options)
}

// Store is a Badger-backed block store with pins and GC. It is safe for
// concurrent use. Every Store owns its directory exclusively.
type Store struct {
	db     *badger.DB
	opts   Options
	log    *slog.Logger
	unlock func() error
	async  asyncWriter

	// vlogMin is the length from which Get may unmap what it read (see
	// unmapRead); MaxInt disables it.
	vlogMin int
	// rehashBelow is the length under which a read value is re-hashed
	// (see rehash), decided once at Open.
	rehashBelow int

	// gate is held shared by every write and exclusively by GC for the
	// moment it forces a memtable flush: Badger's DropPrefix refuses
	// concurrent writes with an error, so we make them wait instead.
	gate sync.RWMutex

	// mu guards sessions and gc.
	mu       sync.Mutex
	sessions map[*Session]struct{}
	gc       *gcState

	gcMu sync.Mutex // one GC at a time

	// unsynced counts bytes written since the last trim; trimming is
	// a sync followed by releaseMappedPages, and keeps RSS flat during
	// long imports. trimMu makes sure one writer does it at a time.
	unsynced atomic.Int64
	trimMu   sync.Mutex
	trims    sync.WaitGroup // background trims, waited for by Close
	closing  bool           // guarded by trimMu: Close has begun, start no trim

	closeOnce sync.Once
	closeErr  error
}

var (
	_ block.Getter = (*Store)(nil)
	_ block.Putter = (*Store)(nil)
	_ block.Haser  = (*Store)(nil)
)

// Open opens (creating if needed) the store in dir. If another Store holds
// dir, the error wraps ErrLocked.
func Open(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("blockstore: %w", err)
	}
	opts = opts.withDefaults()
	release, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	dropEmptyVlogs(dir, opts.Logger)
	bo := badger.DefaultOptions(dir)
	bo.Logger = badgerLogger{opts.Logger}
	bo.SyncWrites = opts.SyncWrites
	bo.ValueThreshold = defaultValueThreshold
	bo.MemTableSize = opts.MemTableSize
	bo.NumMemtables = defaultNumMemtables
	bo.ValueLogFileSize = opts.ValueLogFileSize
	bo.BlockCacheSize = defaultBlockCacheSize
	bo.Compression = options.None // block bytes are mostly incompressible
	bo.NumCompactors = 2
	bo.MetricsEnabled = false // expvar metrics are process-global
	bo.DetectConflicts = true // GC's sweep relies on it
	bo.VerifyValueChecksum = opts.CheckReads
	if opts.Tune != nil {
		opts.Tune(&bo)
	}
	db, err := badger.Open(bo)
	if err != nil {
		release()
		if strings.Contains(err.Error(), "Another process is using this Badger database") {
			return nil, fmt.Errorf("blockstore: %s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("blockstore: open %s: %w", dir, err)
	}
	st := &Store{db: db, opts: opts, log: opts.Logger, unlock: release, sessions: make(map[*Session]struct{})}
	st.async.s = st
	st.async.idle.L = &st.async.mu
	// One transaction must fit the value-log file's mapping with room to
	// spare: Badger grows (and may move) the mapping without its lock
	// when a single write would overflow it.
	st.async.maxBatch = int(min(asyncBatchBytes, bo.ValueLogFileSize/2))
	// Values at least ValueThreshold long are stored in the value log;
	// with encryption, or a threshold that moves (VLogPercentile), a value
	// may instead be a heap copy, and Get leaves its pages alone.
	st.vlogMin = math.MaxInt
	if bo.VLogPercentile == 0 && len(bo.EncryptionKey) == 0 && !bo.InMemory {
		st.vlogMin = int(max(bo.ValueThreshold, 1))
	}
	switch {
	case opts.Verify, opts.CheckReads && !bo.VerifyValueChecksum:
		st.rehashBelow = math.MaxInt // every value
	case opts.CheckReads:
		st.rehashBelow = st.vlogMin // what Badger's CRC does not cover
	}
	return st, nil
}

// room returns ErrNoSpace if writing n more bytes would leave less than
// Options.MinFreeSpace free. Writers running at once may each see room
// for themselves; the reserve is sized to absorb that (a few batches).
func (s *Store) room(n int) error {
	if s.opts.MinFreeSpace < 0 {
		return nil
	}
	free, ok := freeSpace(s.db.Opts().ValueDir)
	if !ok {
		return nil
	}
	if free-int64(n) < s.opts.MinFreeSpace {
		return fmt.Errorf("blockstore: %d bytes free, %d reserved: %w", free, s.opts.MinFreeSpace, ErrNoSpace)
	}
	return nil
}

// dropEmptyVlogs removes value-log files of length zero. A process killed
// while Badger creates one (between creating the file and sizing it)
// leaves it so, without even its header, and Badger then refuses to open
// the store ("Open existing file ... Create a new file"). Such a file
// holds no entries, so nothing can refer to it.
func dropEmptyVlogs(dir string, log *slog.Logger) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() && st.Size() == 0 {
			if err := os.Remove(f); err == nil && log != nil {
				log.Warn("blockstore: removed an empty value-log file left by a crash", "file", f)
			}
		}
	}
}

// withDefaults returns o with every zero field at its documented default.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MemTableSize <= 0 {
		o.MemTableSize = defaultMemTableSize
	}
	if o.ValueLogFileSize <= 0 {
		o.ValueLogFileSize = defaultValueLogFileSize
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = defaultBatchBytes
	}
	if o.MinFreeSpace == 0 {
		o.MinFreeSpace = defaultMinFreeSpace
	}
	return o
}

// Close flushes and closes the database and releases the directory lock.
// Open batches and sessions must be finished first.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.async.drain()
		s.trimMu.Lock() // no trim may start from here on
		s.closing = true
		s.trimMu.Unlock()
		s.trims.Wait()
		s.closeErr = s.db.Close()
		if err := s.unlock(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

// Sync makes every write that has returned durable, and lets the kernel
// drop the now-clean value-log pages from this process's memory.
func (s *Store) Sync() error {
	s.unsynced.Store(0)
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("blockstore: sync: %w", err)
	}
	releaseMappedPages(s.db.Opts().ValueDir)
	return nil
}

// wrote accounts n written bytes and, every trimEvery bytes, syncs and
// releases mapped pages. Without it RSS grows by every byte imported;
// with it, by at most about trimLimit. The trim runs on its own goroutine
// so that the writer (often a Badger commit callback on whose heels a
// peer's credit goes back) does not sit through an fsync; only a writer
// that gets trimLimit ahead of the trim in progress waits for it, and
// gets its error. A background trim's failure is logged: the writes it
// covered had already succeeded, and the next Sync (Batch.Commit, an
// add's or a fetch's last step) meets the same disk and reports it.
func (s *Store) wrote(n int) error {
	u := s.unsynced.Add(int64(n))
	switch {
	case u < trimEvery:
		return nil
	case u < trimLimit:
		if !s.trimMu.TryLock() {
			return nil // the trim in progress will do
		}
		if s.closing {
			s.trimMu.Unlock()
			return nil
		}
		s.trims.Add(1)
		go func() {
			defer s.trims.Done()
			defer s.trimMu.Unlock()
			if err := s.Sync(); err != nil {
				s.log.Warn("blockstore: background sync failed", "err", err)
			}
		}()
		return nil
	default:
		s.trimMu.Lock()
		defer s.trimMu.Unlock()
		if s.closing || s.unsynced.Load() < trimEvery {
			return nil // closing, or the trim we waited for did it
		}
		return s.Sync()
	}
}

func blockKey(mh []byte) []byte {
	k := make([]byte, 0, len(prefixBlock)+len(mh))
	return append(append(k, prefixBlock...), mh...)
}

func mapErr(c cid.Cid, err error) error {
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return block.NotFound(c)
	case errors.Is(err, badger.ErrDBClosed):
		return ErrClosed
	case errors.Is(err, syscall.ENOSPC) && !errors.Is(err, ErrNoSpace):
		return fmt.Errorf("blockstore: %s: %w (%v)", c, ErrNoSpace, err)
	}
	return fmt.Errorf("blockstore: %s: %w", c, err)
}

// readable reports a value Badger could not read back. Badger v4 does
// not return that error: it logs it ("Unable to read") and hands the
// callback an empty value. With VerifyValueChecksum that is how a
// value-log entry whose CRC-32C fails arrives (CheckReads); an I/O error
// looks the same. Every block in the value log is at least the value
// threshold long, so an empty one there is never a real block.
func readable(item *badger.Item, v []byte) error {
	if len(v) == 0 && item.ValueSize() > 0 {
		return fmt.Errorf("%w: Badger could not read its value-log entry (a checksum or I/O error; see its log)", block.ErrCorrupt)
	}
	return nil
}

// rehash says whether a read of an n-byte value (not a reference) must
// be re-hashed: always with Verify; with CheckReads only where Badger has
// not checked it, in its tables below the value threshold.
func (s *Store) rehash(n int) bool { return n < s.rehashBelow }

// ChecksReads reports whether every read is checked (Verify or
// CheckReads): a damaged block comes back as an error wrapping
// block.ErrCorrupt, never as bytes. The transfer server then need not
// re-hash what it serves.
func (s *Store) ChecksReads() bool { return s.opts.Verify || s.opts.CheckReads }

// Get returns a copy of the block's bytes, or an error wrapping
// block.ErrNotFound. With Options.Verify it re-hashes them first; bytes
// read through a reference are re-hashed always (filestore.go).
func (s *Store) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return s.AppendBlock(ctx, c, nil)
}

// AppendBlock is Get appending to buf, so that a caller streaming many
// blocks (the transfer server) can reuse one buffer.
func (s *Store) AppendBlock(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	l, err := s.lookup(ctx, c, buf, wantData)
	switch {
	case err != nil:
		return nil, err
	case !l.found:
		return nil, block.NotFound(c)
	case l.rec != nil:
		return s.followRef(c, l.rec, buf)
	}
	if s.rehash(len(l.data) - len(buf)) {
		if err := block.Verify(c, l.data[len(buf):]); err != nil {
			return nil, fmt.Errorf("blockstore: %w", err)
		}
	}
	return l.data, nil
}

// Lend is Get without the copy, for a caller that only passes the bytes
// on (a FUSE reply written straight from them): data is the block where
// the store keeps it, usually the value log's mmap, valid until release is
// called and never to be modified. Copying a 1 MiB block costs more than
// the rest of serving it, since every copy lands in memory that must first
// be faulted in. A loan keeps one goroutine and the value-log file it
// reads from held, and Close waits for it, so call release promptly.
func (s *Store) Lend(ctx context.Context, c cid.Cid) (data []byte, release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	type loan struct {
		v   []byte
		err error
	}
	got := make(chan loan, 1)
	back := make(chan struct{})
	go func() {
		err := s.db.View(func(txn *badger.Txn) error {
			item, err := txn.Get(blockKey(c.Hash()))
			if err != nil {
				return err
			}
			// Badger's bytes stay valid only inside this callback, so
			// the loan is this callback waiting for its release.
			return item.Value(func(v []byte) error {
				if err := readable(item, v); err != nil {
					got <- loan{err: fmt.Errorf("blockstore: %s: %w", c, err)}
					return nil
				}
				if s.rehash(len(v)) {
					if err := block.Verify(c, v); err != nil {
						got <- loan{err: fmt.Errorf("blockstore: %w", err)}
						return nil
					}
				}
				got <- loan{v: v}
				<-back
				if len(v) >= s.vlogMin {
					unmapRead(v) // see AppendBlock
				}
				return nil
			})
		})
		if err != nil {
			got <- loan{err: mapErr(c, err)}
		}
	}()
	l := <-got
	if errors.Is(l.err, block.ErrNotFound) {
		// Not in Badger: a reference into a user's file (--nocopy) is
		// read, checked and copied by Get; there is nothing to lend.
		data, err := s.Get(ctx, c)
		if err != nil {
			return nil, nil, err
		}
		return data, func() {}, nil
	}
	if l.err != nil {
		return nil, nil, l.err
	}
	var once sync.Once
	return l.v, func() { once.Do(func() { close(back) }) }, nil
}

// Has reports whether a block with c's multihash is stored, or referenced
// in a file that has not changed since (one stat; see refIntact).
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	l, err := s.lookup(ctx, c, nil, wantPresence)
	if err != nil || !l.found {
		return false, err
	}
	if l.rec != nil {
		_, ok := refIntact(l.rec)
		return ok, nil
	}
	return true, nil
}

// Size returns the block's length in bytes without copying it.
func (s *Store) Size(ctx context.Context, c cid.Cid) (int, error) {
	l, err := s.lookup(ctx, c, nil, wantSize)
	switch {
	case err != nil:
		return 0, err
	case !l.found:
		return 0, block.NotFound(c)
	case l.rec != nil:
		r, ok := refIntact(l.rec)
		if !ok {
			return 0, stale(c, r, errChanged)
		}
		return r.Length, nil
	}
	return l.n, nil
}

// Put stores a block. Stores trust their input: callers verify bytes from
// outside with block.Verify first. Put always writes, even if the block is
// present; see docs/blockstore.md for why GC safety needs that.
func (s *Store) Put(ctx context.Context, c cid.Cid, data []byte) error {
	ss := s.Session()
	defer ss.End()
	return ss.Put(ctx, c, data)
}

// PutAsync is Session.PutAsync in a session of its own, which ends once
// the block is written.
func (s *Store) PutAsync(ctx context.Context, c cid.Cid, data []byte, done func(error)) {
	ss := s.Session()
	ss.PutAsync(ctx, c, data, func(err error) {
		ss.End()
		done(err)
	})
}

// Delete removes a block, stored or referenced. Deleting a missing block is not an error.
func (s *Store) Delete(ctx context.Context, c cid.Cid) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.gate.RLock()
	defer s.gate.RUnlock()
	err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(blockKey(c.Hash())); err != nil {
			return err
		}
		return txn.Delete(refKey(c.Hash()))
	})
	if err != nil {
		return mapErr(c, err)
	}
	return nil
}

// AllKeys yields the multihash of every stored block, in key order, then
// of every referenced one that is not also stored. The
// iteration reads a consistent snapshot; it stops at the first error (which
// it yields) or when ctx is done.
func (s *Store) AllKeys(ctx context.Context) iter.Seq2[multihash.Multihash, error] {
	return func(yield func(multihash.Multihash, error) bool) {
		stop := false
		err := s.scanBlocks(ctx, func(mh []byte, _ *badger.Item) bool {
			stop = !yield(multihash.Multihash(append([]byte(nil), mh...)), nil)
			return !stop
		})
		if err == nil && !stop {
			err = s.db.View(func(txn *badger.Txn) error {
				return scanPrefix(ctx, txn, prefixRef, func(mh []byte, _ *badger.Item) bool {
					if _, err := txn.Get(blockKey(mh)); err == nil {
						return true // yielded above
					}
					return yield(multihash.Multihash(append([]byte(nil), mh...)), nil)
				})
			})
		}
		if err != nil {
			yield(nil, err)
		}
	}
}

// scanBlocks calls fn with each block key's multihash (valid only during the
// call) until fn returns false.
func (s *Store) scanBlocks(ctx context.Context, fn func(mh []byte, item *badger.Item) bool) error {
	return s.db.View(func(txn *badger.Txn) error { return scanPrefix(ctx, txn, prefixBlock, fn) })
}

// scanPrefix calls fn with the rest of each key under prefix (valid only
// during the call) until fn returns false.
func scanPrefix(ctx context.Context, txn *badger.Txn, prefix []byte, fn func(rest []byte, item *badger.Item) bool) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		item := it.Item()
		if !fn(item.Key()[len(prefix):], item) {
			return nil
		}
	}
	return nil
}

// RepoStat summarises the store for "trove repo stat".
type RepoStat struct {
	Blocks int64 // number of stored blocks
	Bytes  int64 // sum of block lengths (exact)
	Pins   int64 // number of pins of all kinds
	// Refs and RefBytes count blocks kept as references into users'
	// files (--nocopy) and the bytes they stand for, which the repo
	// does not hold. A block both stored and referenced counts in both.
	Refs, RefBytes int64
	// DiskLSM and DiskVlog are the bytes the LSM tables (*.sst) and the
	// value log (*.vlog) occupy on disk, counted in allocated blocks: the
	// value log is a preallocated sparse file, so its length would overstate
	// it, and Badger's own estimate lags by up to a minute (a fresh repo
	// showed 0).
	DiskLSM, DiskVlog int64
}

// Stat counts blocks and bytes by a key-only scan. Sizes come from each
// value's header (no block bytes are copied), so it costs O(blocks) index
// reads rather than keeping counters that every Put would have to maintain
// with a read-modify-write.
func (s *Store) Stat(ctx context.Context) (RepoStat, error) {
	var st RepoStat
	var verr error
	err := s.scanBlocks(ctx, func(_ []byte, item *badger.Item) bool {
		st.Blocks++
		verr = item.Value(func(v []byte) error { st.Bytes += int64(len(v)); return nil })
		return verr == nil
	})
	if err == nil {
		err = verr
	}
	if err == nil {
		err = s.db.View(func(txn *badger.Txn) error {
			return scanPrefix(ctx, txn, prefixRef, func(_ []byte, item *badger.Item) bool {
				verr = item.Value(func(v []byte) error {
					// A bad record stands for no bytes; verify reports it.
					r, _ := decodeRef(v)
					st.Refs++
					st.RefBytes += int64(r.Length)
					return nil
				})
				return verr == nil
			})
		})
	}
	if err == nil {
		err = verr
	}
	if err != nil {
		return RepoStat{}, fmt.Errorf("blockstore: stat: %w", err)
	}
	pins, err := s.Pins(ctx)
	if err != nil {
		return RepoStat{}, err
	}
	st.Pins = int64(len(pins))
	st.DiskLSM, st.DiskVlog = diskUsage(s.db.Opts().Dir)
	return st, nil
}

// diskUsage sums the allocated size of Badger's table and value-log files.
// Errors (a file removed by compaction mid-walk) only make the figure a
// little low, which is acceptable for a statistic.
func diskUsage(dir string) (lsm, vlog int64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		n := allocated(info)
		switch filepath.Ext(e.Name()) {
		case ".sst":
			lsm += n
		case ".vlog":
			vlog += n
		}
	}
	return lsm, vlog
}

// badgerLogger routes Badger's printf-style logging to slog, or drops it.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) logf(lvl slog.Level, f string, a ...any) {
	if b.l == nil || !b.l.Enabled(context.Background(), lvl) {
		return
	}
	b.l.Log(context.Background(), lvl, "badger: "+strings.TrimSpace(fmt.Sprintf(f, a...)))
}

func (b badgerLogger) Errorf(f string, a ...any)   { b.logf(slog.LevelWarn, f, a...) }
func (b badgerLogger) Warningf(f string, a ...any) { b.logf(slog.LevelWarn, f, a...) }
func (b badgerLogger) Infof(f string, a ...any)    { b.logf(slog.LevelDebug, f, a...) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.logf(slog.LevelDebug, f, a...) }
