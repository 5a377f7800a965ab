package blockstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/crashpoint"
	"github.com/trove-p2p/trove/ipld"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// LinksFunc returns the CIDs a block links to. GC uses it to walk pinned
// DAGs.
type LinksFunc func(c cid.Cid, data []byte) ([]cid.Cid, error)

// DefaultLinks understands the two codecs trove writes: raw blocks are
// leaves and dag-pb links are decoded with unixfs/pb. Any other codec is an
// error, so GC stops rather than sweeping a DAG it cannot see into.
func DefaultLinks(c cid.Cid, data []byte) ([]cid.Cid, error) {
	switch c.Prefix().Codec {
	case block.CodecRaw:
		return nil, nil
	case block.CodecDagPB:
		return pb.AppendLinks(nil, data)
	}
	if ipld.Known(c.Prefix().Codec) {
		return ipld.Links(c, data)
	}
	return nil, fmt.Errorf("%w: codec 0x%x of %s", block.ErrUnsupported, c.Prefix().Codec, c)
}

// GCOptions configures GC. The zero value walks with DefaultLinks and
// reclaims value-log space.
type GCOptions struct {
	// Links walks recursive and partial pins. Nil means DefaultLinks.
	Links LinksFunc
	// SkipReclaim leaves the value log alone: blocks are deleted logically
	// but disk space comes back only at a later GC. Useful in tests and
	// when GC runs often.
	SkipReclaim bool
}

// GCResult reports what a GC did.
type GCResult struct {
	Blocks int   // blocks deleted
	Bytes  int64 // their total length
	// Refs counts references (--nocopy) deleted; the bytes they stood
	// for are in users' files and not in Bytes.
	Refs int
	// Missing counts blocks referenced from recursive or partial pins but
	// not present (expected for partial pins, a problem for recursive ones).
	Missing int
	// Reclaimed is how many bytes of value-log files were removed from
	// disk (can be negative if live data was rewritten into a new file
	// that had not existed before).
	Reclaimed int64
}

// gcState is what the writers must tell a running GC. Guarded by Store.mu.
type gcState struct {
	roots map[string]struct{} // session blocks when the GC began
	seen  map[string]struct{} // blocks written since it began
}

func (g *gcState) protects(k string) bool {
	_, a := g.roots[k]
	_, b := g.seen[k]
	return a || b
}

// sweepChunk bounds one deletion transaction.
const sweepChunk = 512

// GC deletes every block not reachable from a pin, not in an open session
// and not written since GC began, then (unless SkipReclaim) reclaims the
// value-log space they held. Reads are never blocked; writes wait only for
// the moment Badger flushes its memtable. Only one GC runs at a time.
func (s *Store) GC(ctx context.Context, o GCOptions) (GCResult, error) {
	links := o.Links
	if links == nil {
		links = DefaultLinks
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()

	g := &gcState{roots: make(map[string]struct{}), seen: make(map[string]struct{})}
	s.mu.Lock()
	for ss := range s.sessions {
		for k := range ss.live {
			g.roots[k] = struct{}{}
		}
	}
	s.gc = g
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.gc = nil
		s.mu.Unlock()
	}()

	var res GCResult
	marked, err := s.mark(ctx, g, links, &res)
	if err != nil {
		return res, err
	}
	crashpoint.Hit(crashpoint.GCMarked)
	if err := s.sweep(ctx, g, marked, &res); err != nil {
		return res, err
	}
	if o.SkipReclaim {
		return res, nil
	}
	freed, err := s.reclaim(ctx)
	res.Reclaimed = freed
	return res, err
}

// mark returns the multihashes reachable from the pins and the GC's roots.
func (s *Store) mark(ctx context.Context, g *gcState, links LinksFunc, res *GCResult) (map[string]struct{}, error) {
	pins, err := s.Pins(ctx)
	if err != nil {
		return nil, err
	}
	marked := make(map[string]struct{}, len(g.roots))
	for k := range g.roots {
		marked[k] = struct{}{}
	}
	var stack []cid.Cid
	for _, p := range pins {
		if p.Kind == PinDirect {
			marked[string(p.Cid.Hash())] = struct{}{}
			continue
		}
		// Walked blocks are marked by multihash; a block reached twice
		// under different CIDs is walked once, which is enough because
		// its links do not depend on how it was named.
		stack = append(stack[:0], p.Cid)
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			k := string(c.Hash())
			if _, ok := marked[k]; ok {
				continue
			}
			marked[k] = struct{}{}
			var data []byte
			var err error
			if c.Prefix().Codec == block.CodecRaw {
				// Leaves need not be read, only counted if absent.
				var ok bool
				if ok, err = s.Has(ctx, c); err == nil && !ok {
					err = block.NotFound(c)
				}
			} else {
				data, err = s.Get(ctx, c)
			}
			if errors.Is(err, block.ErrNotFound) {
				res.Missing++
				if p.Kind == PinRecursive {
					s.log.Warn("blockstore: gc: block of a recursive pin is missing", "pin", p.Cid, "block", c)
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			if data == nil && c.Prefix().Codec == block.CodecRaw {
				continue
			}
			kids, err := links(c, data)
			if err != nil {
				return nil, fmt.Errorf("blockstore: gc: links of %s (pin %s): %w", c, p.Cid, err)
			}
			stack = append(stack, kids...)
		}
	}
	return marked, nil
}

// sweep deletes unmarked blocks and references in chunks. Each chunk is
// one transaction that reads every key before deleting it, so Badger's
// conflict detection aborts the chunk if any of those keys was written
// after the read; the chunk is then retried and the new writes, recorded
// in g.seen, are kept.
func (s *Store) sweep(ctx context.Context, g *gcState, marked map[string]struct{}, res *GCResult) error {
	var cand [][]byte // whole keys: prefix and multihash
	err := s.db.View(func(txn *badger.Txn) error {
		for _, prefix := range [][]byte{prefixBlock, prefixRef} {
			err := scanPrefix(ctx, txn, prefix, func(mh []byte, _ *badger.Item) bool {
				if _, ok := marked[string(mh)]; !ok {
					cand = append(cand, append(append([]byte(nil), prefix...), mh...))
				}
				return true
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("blockstore: gc: scan: %w", err)
	}
	for len(cand) > 0 {
		n := min(sweepChunk, len(cand))
		if err := s.sweepChunk(ctx, g, cand[:n], res); err != nil {
			return err
		}
		cand = cand[n:]
	}
	return nil
}

func (s *Store) sweepChunk(ctx context.Context, g *gcState, chunk [][]byte, res *GCResult) error {
	const attempts = 8
	for range attempts {
		if err := ctx.Err(); err != nil {
			return err
		}
		txn := s.db.NewTransaction(true)
		type cand struct {
			key  []byte
			size int64
		}
		var del []cand
		for _, key := range chunk {
			item, err := txn.Get(key)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			var size int64
			if err == nil {
				err = item.Value(func(v []byte) error { size = int64(len(v)); return nil })
			}
			if err != nil {
				txn.Discard()
				return fmt.Errorf("blockstore: gc: %w", err)
			}
			del = append(del, cand{key, size})
		}
		// Check the writers' record only after the reads above: a write
		// noted later commits later, and then conflicts with them.
		s.mu.Lock()
		keep := del[:0]
		for _, d := range del {
			if !g.protects(string(d.key[len(prefixBlock):])) {
				keep = append(keep, d)
			}
		}
		s.mu.Unlock()
		var blocks, refs int
		var n int64
		for _, d := range keep {
			if err := txn.Delete(d.key); err != nil {
				txn.Discard()
				return fmt.Errorf("blockstore: gc: %w", err)
			}
			if bytes.HasPrefix(d.key, prefixRef) {
				refs++
			} else {
				blocks++
				n += d.size
			}
		}
		s.gate.RLock()
		err := txn.Commit()
		s.gate.RUnlock()
		if errors.Is(err, badger.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("blockstore: gc: delete: %w", err)
		}
		res.Blocks += blocks
		res.Refs += refs
		res.Bytes += n
		crashpoint.Hit(crashpoint.GCSwept)
		return nil
	}
	// Writers kept touching these keys; leaving them is always safe.
	s.log.Debug("blockstore: gc: chunk left for next time after repeated conflicts", "keys", len(chunk))
	return nil
}

// reclaim gives value-log space back to the file system. Badger learns
// which value-log bytes are dead only when compaction drops the deleted
// keys, so we flush the memtable (by dropping a marker prefix, the only
// public way), flatten the LSM tree, then rewrite value-log files until
// Badger finds nothing worth rewriting.
func (s *Store) reclaim(ctx context.Context) (int64, error) {
	before := s.vlogBytes()
	s.gate.Lock()
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(append(prefixFlush, 'x'), nil) })
	if err == nil {
		err = s.db.DropPrefix(prefixFlush)
	}
	s.gate.Unlock()
	if err != nil {
		return 0, fmt.Errorf("blockstore: gc: flush: %w", err)
	}
	if err := s.db.Flatten(2); err != nil {
		return 0, fmt.Errorf("blockstore: gc: flatten: %w", err)
	}
	for ctx.Err() == nil {
		err := s.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			break
		}
		if err != nil {
			return before - s.vlogBytes(), fmt.Errorf("blockstore: gc: value log: %w", err)
		}
	}
	return before - s.vlogBytes(), ctx.Err()
}

// vlogBytes sums the value-log files on disk; Badger's own Size() is only
// refreshed once a minute.
func (s *Store) vlogBytes() int64 {
	dir := s.db.Opts().ValueDir
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".vlog") {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil {
			n += fi.Size()
		}
	}
	return n
}
