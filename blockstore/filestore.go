package blockstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// This file is the one place that follows references (see Ref): the rest
// of the store calls lookup, and pins, GC, stat, serving and fetching see
// a referenced block as an ordinary one, or as missing once its file has
// changed.

// prefixRef keys references by multihash, like prefixBlock keys bytes.
var prefixRef = []byte("r/")

func refKey(mh []byte) []byte {
	k := make([]byte, 0, len(prefixRef)+len(mh))
	return append(append(k, prefixRef...), mh...)
}

// ErrNotRaw is returned for a reference to a block that is not a raw
// leaf: only raw blocks are byte ranges of a file.
var ErrNotRaw = errors.New("blockstore: only raw blocks can be stored by reference")

// StatFile returns the identity the file at path has now, for a Ref.
func StatFile(path string) (FileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileID{}, err
	}
	if !fi.Mode().IsRegular() {
		return FileID{}, fmt.Errorf("%s is not a regular file", path)
	}
	return fileIDOf(fi), nil
}

// PutRef records that c's bytes are r's byte range instead of storing
// them. It does not read the file: the caller has just hashed those bytes
// (an import) or checked them (Session.Adopt). Like Put it keeps c live
// for GC until the session ends.
func (ss *Session) PutRef(ctx context.Context, c cid.Cid, r Ref) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rec, err := refRecord(c, r)
	if err != nil {
		return err
	}
	mh := c.Hash()
	ss.note(mh)
	s := ss.s
	s.gate.RLock()
	defer s.gate.RUnlock()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(refKey(mh), rec) }); err != nil {
		return mapErr(c, err)
	}
	return nil
}

// PutRef adds a reference to the batch (see Session.PutRef). The file's
// bytes are not retained, so there is nothing for OnRelease to return.
func (b *Batch) PutRef(ctx context.Context, c cid.Cid, r Ref) error {
	if b.done {
		return errBatchDone
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.getErr(); err != nil {
		return err
	}
	rec, err := refRecord(c, r)
	if err != nil {
		return err
	}
	mh := c.Hash()
	b.ss.note(mh)
	key := refKey(mh)
	err = b.txn.Set(key, rec)
	if errors.Is(err, badger.ErrTxnTooBig) {
		b.flush()
		err = b.txn.Set(key, rec)
	}
	if err != nil {
		return mapErr(c, err)
	}
	b.pending += len(rec) + len(key)
	if b.pending >= b.s.opts.BatchBytes {
		b.flush()
	}
	return nil
}

func refRecord(c cid.Cid, r Ref) ([]byte, error) {
	if c.Prefix().Codec != block.CodecRaw {
		return nil, fmt.Errorf("%w: %s", ErrNotRaw, c)
	}
	return encodeRef(r)
}

// Adopt replaces the stored copy of the raw block c by a reference to r,
// after checking that r's bytes hash to c; the copy's value-log space
// comes back at the next GC. A get --nocopy uses it once its output file
// is complete. A range that does not match leaves the store unchanged.
func (ss *Session) Adopt(ctx context.Context, c cid.Cid, r Ref) error {
	if _, err := ss.s.readRef(c, r, nil); err != nil {
		return err
	}
	if err := ss.PutRef(ctx, c, r); err != nil {
		return err
	}
	s := ss.s
	s.gate.RLock()
	defer s.gate.RUnlock()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(blockKey(c.Hash())) }); err != nil {
		return mapErr(c, err)
	}
	return nil
}

// lookup reads c's stored bytes (appended to buf) or, failing that, its
// reference record; found is false if it has neither. want says how much
// of the value the caller needs: the bytes, only their length (n), or
// nothing (presence: the value is not read at all, which with CheckReads
// would check the checksum of every byte of it).
type lookup struct {
	data  []byte // stored bytes, appended to buf
	n     int    // stored length
	rec   []byte // reference record (a copy), if the bytes are not stored
	found bool
}

// What lookup reads of a stored value.
type want int

const (
	wantPresence want = iota
	wantSize
	wantData
)

func (s *Store) lookup(ctx context.Context, c cid.Cid, buf []byte, w want) (lookup, error) {
	if err := ctx.Err(); err != nil {
		return lookup{}, err
	}
	l := lookup{data: buf}
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(blockKey(c.Hash()))
		if errors.Is(err, badger.ErrKeyNotFound) {
			item, err = txn.Get(refKey(c.Hash()))
			if err != nil {
				return err
			}
			l.rec, err = item.ValueCopy(nil)
			l.found = err == nil
			return err
		}
		if err != nil {
			return err
		}
		l.found = true
		if w == wantPresence {
			return nil
		}
		return item.Value(func(v []byte) error {
			if err := readable(item, v); err != nil {
				return err
			}
			l.n = len(v)
			if w != wantData {
				return nil
			}
			if l.data == nil {
				l.data = bytes.Clone(v) // exact size, and no clearing first
			} else {
				l.data = append(l.data, v...)
			}
			if len(v) >= s.vlogMin {
				// Values this large are written to the value log, so v is
				// its mmap, held by Badger until we return: safe to unmap.
				// (One stored inline under an older, larger threshold
				// comes as a heap copy; dropping the pages wholly inside
				// that dead buffer, after the copy above, harms nothing.)
				unmapRead(v)
			}
			return nil
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return lookup{}, nil
	}
	if err != nil {
		return lookup{}, mapErr(c, err)
	}
	return l, nil
}

// stale is the error of a reference that can no longer be followed: the
// block counts as missing, with the reason attached for logs and verify.
func stale(c cid.Cid, r Ref, why error) error {
	return fmt.Errorf("%w (its reference into %s is stale: %v)", block.NotFound(c), r.Path, why)
}

var (
	errChanged = errors.New("file changed since the reference was made")
	errShort   = errors.New("file too short")
)

// followRef is readRef from an encoded record.
func (s *Store) followRef(c cid.Cid, rec, buf []byte) ([]byte, error) {
	r, err := decodeRef(rec)
	if err != nil {
		return nil, stale(c, Ref{}, err)
	}
	return s.readRef(c, r, buf)
}

// readRef appends r's bytes to buf after checking the file's identity,
// and hashes them against c every time: a reference is only as good as
// a file the store does not control, and nothing corrupt may leave the
// store. Any failure means missing, never an I/O error, so that a
// fetch or a get treats the block as one to download again.
func (s *Store) readRef(c cid.Cid, r Ref, buf []byte) ([]byte, error) {
	f, err := os.Open(r.Path)
	if err != nil {
		return nil, stale(c, r, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, stale(c, r, err)
	}
	if fileIDOf(fi) != r.File {
		return nil, stale(c, r, errChanged)
	}
	start := len(buf)
	data := buf
	if data == nil {
		data = make([]byte, r.Length)
	} else {
		data = append(data, make([]byte, r.Length)...)
	}
	n, err := f.ReadAt(data[start:], r.Offset)
	if n < r.Length {
		if err == nil || errors.Is(err, io.EOF) {
			err = errShort
		}
		return nil, stale(c, r, err)
	}
	if err := block.Verify(c, data[start:]); err != nil {
		return nil, stale(c, r, err)
	}
	return data, nil
}

// refIntact is Has for a reference: one stat, no read. A file edited
// in place without changing size or mtime passes; Get's hash catches it.
func refIntact(rec []byte) (Ref, bool) {
	r, err := decodeRef(rec)
	if err != nil {
		return Ref{}, false
	}
	id, err := StatFile(r.Path)
	return r, err == nil && id == r.File
}

// hasStored reports whether c's bytes are in the store itself, not
// through a reference.
func (s *Store) hasStored(ctx context.Context, c cid.Cid) (bool, error) {
	l, err := s.lookup(ctx, c, nil, wantPresence)
	return l.found && l.rec == nil, err
}
