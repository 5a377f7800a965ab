package blockstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/crashpoint"
)

// PinKind says how much of a DAG a pin keeps alive.
type PinKind uint8

const (
	// PinRecursive keeps the block and everything reachable from it. It
	// is the zero value because it is what "pin add" means to users.
	// Missing descendants are tolerated by GC but logged: the caller
	// promised the DAG was complete.
	PinRecursive PinKind = iota
	// PinDirect keeps only the block itself.
	PinDirect
	// PinPartial keeps whatever part of a DAG is present, for downloads
	// in progress: missing descendants are expected and not logged. The
	// download re-pins as PinRecursive when complete, or unpins when
	// abandoned.
	PinPartial
	numPinKinds
)

func (k PinKind) String() string {
	switch k {
	case PinRecursive:
		return "recursive"
	case PinDirect:
		return "direct"
	case PinPartial:
		return "partial"
	}
	return fmt.Sprintf("PinKind(%d)", uint8(k))
}

// PinOptions qualifies a pin. The zero value is an unnamed recursive pin.
type PinOptions struct {
	Kind PinKind
	Name string // free-form label for the user; empty means none
}

// Pin is one stored pin.
type Pin struct {
	Cid  cid.Cid
	Kind PinKind
	Name string
}

// ErrBadPin means a stored pin record could not be decoded.
var ErrBadPin = errors.New("blockstore: malformed pin record")

const pinRecordVersion = 1

// Pins are keyed by the full CID (not the multihash) because the codec
// decides how GC walks the DAG. The value is a version byte, the kind, and
// the name.
func pinKey(c cid.Cid) []byte {
	k := append([]byte(nil), prefixPin...)
	return append(k, c.Bytes()...)
}

func encodePin(o PinOptions) []byte {
	return append([]byte{pinRecordVersion, byte(o.Kind)}, o.Name...)
}

// decodePin parses a pin key (without prefix) and value.
func decodePin(key, val []byte) (Pin, error) {
	n, c, err := cid.CidFromBytes(key)
	if err != nil || n != len(key) {
		return Pin{}, fmt.Errorf("%w: bad CID", ErrBadPin)
	}
	if len(val) < 2 || val[0] != pinRecordVersion || PinKind(val[1]) >= numPinKinds {
		return Pin{}, fmt.Errorf("%w: bad record for %s", ErrBadPin, c)
	}
	return Pin{Cid: c, Kind: PinKind(val[1]), Name: string(val[2:])}, nil
}

// Pin records a pin on c, replacing any earlier pin on the same CID. It does
// not walk the DAG: the caller guarantees it is present (or uses
// PinPartial). If c's block is in an open session (an importer pinning its
// root before ending its session), Pin never waits: the session keeps the
// DAG alive through any GC until the pin exists. Otherwise Pin waits for a
// running GC to finish, because that GC may already have judged the DAG to
// be garbage, and holds off new ones until the pin is written.
func (s *Store) Pin(ctx context.Context, c cid.Cid, o PinOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.Kind >= numPinKinds {
		return fmt.Errorf("blockstore: pin %s: unknown kind %d", c, o.Kind)
	}
	if !s.inSession(c.Hash()) {
		s.gcMu.Lock()
		defer s.gcMu.Unlock()
	}
	s.gate.RLock()
	defer s.gate.RUnlock()
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(pinKey(c), encodePin(o)) })
	if err != nil {
		return fmt.Errorf("blockstore: pin %s: %w", c, err)
	}
	crashpoint.Hit(crashpoint.PinWritten)
	return nil
}

// inSession reports whether mh was written through a session still open.
func (s *Store) inSession(mh []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		if _, ok := ss.live[string(mh)]; ok {
			return true
		}
	}
	return false
}

// Unpin removes the pin on c, or returns an error wrapping
// block.ErrNotFound.
func (s *Store) Unpin(ctx context.Context, c cid.Cid) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.gate.RLock()
	defer s.gate.RUnlock()
	err := s.db.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get(pinKey(c)); err != nil {
			return err
		}
		return txn.Delete(pinKey(c))
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("pin %s: %w", c, block.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("blockstore: unpin %s: %w", c, err)
	}
	return nil
}

// IsPinned reports whether c itself carries a pin of any kind. It does not
// answer "is c inside some pinned DAG"; that needs a walk, which GC does.
func (s *Store) IsPinned(ctx context.Context, c cid.Cid) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	err := s.db.View(func(txn *badger.Txn) error { _, err := txn.Get(pinKey(c)); return err })
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blockstore: %w", err)
	}
	return true, nil
}

// Pins lists every pin in key order.
func (s *Store) Pins(ctx context.Context) ([]Pin, error) {
	var pins []Pin
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefixPin})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			err := item.Value(func(v []byte) error {
				p, err := decodePin(item.Key()[len(prefixPin):], v)
				pins = append(pins, p)
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blockstore: pins: %w", err)
	}
	return pins, nil
}
