package blockstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/trove-p2p/trove/block"
)

// VerifyOptions configures Verify. The zero value checks without changing
// anything, walks pins with DefaultLinks and reports no progress.
type VerifyOptions struct {
	// Repair deletes every corrupt block it finds, so that the next fetch
	// of its content downloads a good copy instead of tripping over it.
	// Pins are left as they are: a pin records what the user wants kept,
	// and a hole in it is what a later get fills.
	Repair bool
	// Links walks pinned DAGs. Nil means DefaultLinks.
	Links LinksFunc
	// Progress, if set, is called after each block with the totals so
	// far. It runs on the verifying goroutine, so it must be quick.
	Progress func(blocks, bytes int64)
	// MaxListed caps how many corrupt blocks and dangling pins are listed
	// in the result (all are counted). Zero means 1000.
	MaxListed int
}

// withDefaults returns o with every zero field at its documented default.
func (o VerifyOptions) withDefaults() VerifyOptions {
	if o.Links == nil {
		o.Links = DefaultLinks
	}
	if o.MaxListed <= 0 {
		o.MaxListed = 1000
	}
	return o
}

// BadBlock is a stored block that failed verification.
type BadBlock struct {
	Hash multihash.Multihash
	Err  error // why: block.ErrCorrupt, or the read error
}

// DanglingPin is a recursive or direct pin whose DAG is not all in the
// store. Partial pins are downloads in progress and never dangle.
type DanglingPin struct {
	Pin     Pin
	Missing int     // blocks of the DAG that are absent
	Corrupt int     // blocks of the DAG that failed verification
	First   cid.Cid // the first absent or corrupt block met in the walk
}

// StaleRef is a reference (--nocopy) whose file has changed, moved or
// vanished, or whose bytes no longer hash to the block.
type StaleRef struct {
	Hash multihash.Multihash
	Path string // the referenced file ("" if the record itself is damaged)
	Err  error  // why; it wraps block.ErrNotFound
}

// VerifyResult reports what Verify found.
type VerifyResult struct {
	Blocks, Bytes int64 // blocks hashed and their total length
	Corrupt       int   // blocks that failed (all of them; Bad lists the first MaxListed)
	Bad           []BadBlock
	Removed       int // corrupt blocks deleted by Repair
	DanglingPins  int // pins with an incomplete DAG (all; Dangling lists the first MaxListed)
	Dangling      []DanglingPin
	// Refs and RefBytes count the references checked and the bytes read
	// through them; StaleRefs those that failed (Stale lists the first
	// MaxListed), RefsDropped those Repair deleted.
	Refs, RefBytes int64
	StaleRefs      int
	Stale          []StaleRef
	RefsDropped    int
	Elapsed        time.Duration
}

// Verify re-hashes every stored block against its multihash, then walks
// every recursive and direct pin and reports those whose DAG has absent or
// corrupt blocks. It reads a consistent snapshot for the hash pass, so it
// can run while the daemon serves and imports; blocks written meanwhile
// were verified on their way in. Cancelling ctx stops it with ctx's error
// and whatever it found so far.
//
// Verification needs only the multihash: the codec does not change the
// digest, which is why blocks are keyed without it.
func (s *Store) Verify(ctx context.Context, o VerifyOptions) (VerifyResult, error) {
	start := time.Now()
	o = o.withDefaults()
	var res VerifyResult
	bad := make(map[string]struct{})
	err := s.scanBlocks(ctx, func(mh []byte, item *badger.Item) bool {
		var n int
		verr := item.Value(func(v []byte) error {
			n = len(v)
			return verifyHash(mh, v)
		})
		res.Blocks++
		res.Bytes += int64(n)
		if verr != nil {
			res.Corrupt++
			bad[string(mh)] = struct{}{}
			if len(res.Bad) < o.MaxListed {
				res.Bad = append(res.Bad, BadBlock{Hash: multihash.Multihash(append([]byte(nil), mh...)), Err: verr})
			}
			s.log.Warn("blockstore: verify: corrupt block", "multihash", multihash.Multihash(mh).B58String(), "err", verr)
		}
		if o.Progress != nil {
			o.Progress(res.Blocks, res.Bytes)
		}
		return true
	})
	if err != nil {
		res.Elapsed = time.Since(start)
		return res, fmt.Errorf("blockstore: verify: %w", err)
	}
	if o.Repair {
		for k := range bad {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			// Delete by a CID carrying the multihash: the codec is not
			// part of the key.
			if err := s.Delete(ctx, cid.NewCidV1(block.CodecRaw, multihash.Multihash(k))); err != nil {
				return res, fmt.Errorf("blockstore: verify: repair: %w", err)
			}
			res.Removed++
		}
	}
	stale, err := s.verifyRefs(ctx, o, &res)
	if err != nil {
		res.Elapsed = time.Since(start)
		return res, err
	}
	if err := s.verifyPins(ctx, o, bad, stale, &res); err != nil {
		res.Elapsed = time.Since(start)
		return res, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// verifyRefs follows every reference as Get would (identity check, read,
// hash) and, with Repair, drops the stale ones: their blocks then count as
// missing in the pin walk that follows, and a later get fetches them
// into the store. A record is dropped only if it is still the one that
// was checked, so a fresh add --nocopy of the same bytes meanwhile wins.
//
// It returns the multihashes of the stale references: the pin walk counts
// them as missing even where the cheap Has (a stat) cannot tell, as for a
// file rewritten in place with its size and mtime kept.
func (s *Store) verifyRefs(ctx context.Context, o VerifyOptions, res *VerifyResult) (map[string]struct{}, error) {
	type entry struct{ mh, rec []byte }
	var all []entry
	err := s.db.View(func(txn *badger.Txn) error {
		return scanPrefix(ctx, txn, prefixRef, func(mh []byte, item *badger.Item) bool {
			rec, err := item.ValueCopy(nil)
			if err == nil {
				all = append(all, entry{bytes.Clone(mh), rec})
			}
			return err == nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("blockstore: verify: references: %w", err)
	}
	stale := make(map[string]struct{})
	var buf []byte
	for _, e := range all {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := cid.NewCidV1(block.CodecRaw, multihash.Multihash(e.mh))
		r, _ := decodeRef(e.rec)
		var rerr error
		buf, rerr = s.followRef(c, e.rec, buf[:0])
		res.Refs++
		if rerr == nil {
			res.RefBytes += int64(r.Length)
			if o.Progress != nil {
				o.Progress(res.Blocks, res.Bytes+res.RefBytes)
			}
			continue
		}
		res.StaleRefs++
		stale[string(e.mh)] = struct{}{}
		if len(res.Stale) < o.MaxListed {
			res.Stale = append(res.Stale, StaleRef{Hash: multihash.Multihash(e.mh), Path: r.Path, Err: rerr})
		}
		s.log.Warn("blockstore: verify: stale reference", "multihash", multihash.Multihash(e.mh).B58String(), "err", rerr)
		if !o.Repair {
			continue
		}
		dropped := false
		s.gate.RLock()
		err := s.db.Update(func(txn *badger.Txn) error {
			item, err := txn.Get(refKey(e.mh))
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			same := false
			if err := item.Value(func(v []byte) error { same = bytes.Equal(v, e.rec); return nil }); err != nil || !same {
				return err
			}
			dropped = true
			return txn.Delete(refKey(e.mh))
		})
		s.gate.RUnlock()
		if err != nil {
			return nil, fmt.Errorf("blockstore: verify: repair: %w", err)
		}
		if dropped {
			res.RefsDropped++
		}
	}
	return stale, nil
}

// verifyHash checks v against the multihash mh. A key that is not a
// multihash trove can compute is reported as corrupt too: nothing trove
// stores has one, so it can only be damage.
func verifyHash(mh, v []byte) error {
	if _, err := multihash.Decode(mh); err != nil {
		return fmt.Errorf("%w: bad key: %v", block.ErrCorrupt, err)
	}
	return block.Verify(cid.NewCidV1(block.CodecRaw, multihash.Multihash(mh)), v)
}

// verifyPins walks each recursive and direct pin. Each pin gets its own
// walk so that a hole shared by two pins is reported for both.
func (s *Store) verifyPins(ctx context.Context, o VerifyOptions, bad, stale map[string]struct{}, res *VerifyResult) error {
	pins, err := s.Pins(ctx)
	if err != nil {
		return err
	}
	for _, p := range pins {
		if p.Kind == PinPartial {
			continue
		}
		d := DanglingPin{Pin: p}
		note := func(c cid.Cid, corrupt bool) {
			if !d.First.Defined() {
				d.First = c
			}
			if corrupt {
				d.Corrupt++
			} else {
				d.Missing++
			}
		}
		seen := make(map[string]struct{})
		stack := []cid.Cid{p.Cid}
		for len(stack) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			k := string(c.Hash())
			if _, ok := seen[k]; ok {
				continue
			}
			seen[k] = struct{}{}
			if _, ok := bad[k]; ok && !o.Repair {
				note(c, true) // still stored, but its links cannot be trusted
				continue
			}
			if _, ok := stale[k]; ok {
				if has, err := s.hasStored(ctx, c); err != nil {
					return err
				} else if !has {
					note(c, false) // only a stale reference stood for it
					continue
				}
			}
			if p.Kind == PinDirect || c.Prefix().Codec == block.CodecRaw {
				ok, err := s.Has(ctx, c)
				if err != nil {
					return err
				}
				if !ok {
					note(c, false)
				}
				continue // a direct pin covers this block alone
			}
			data, err := s.Get(ctx, c)
			if errors.Is(err, block.ErrNotFound) {
				note(c, false)
				continue
			}
			if err != nil {
				return err
			}
			kids, err := o.Links(c, data)
			if err != nil {
				// A block that hashes right but does not decode was
				// stored that way; it is not rot, but the DAG below it
				// cannot be checked.
				return fmt.Errorf("blockstore: verify: links of %s (pin %s): %w", c, p.Cid, err)
			}
			stack = append(stack, kids...)
		}
		if d.Missing+d.Corrupt > 0 {
			res.DanglingPins++
			if len(res.Dangling) < o.MaxListed {
				res.Dangling = append(res.Dangling, d)
			}
		}
	}
	return nil
}
