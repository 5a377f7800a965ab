// Package memstore is a map-backed block store for tests.
//
// It is a real implementation of the block role interfaces (not a mock): it
// keeps what it is given and returns it, concurrently and safely. Its
// fault-injection fields let a test make a store lose blocks, return
// corrupted bytes, or run arbitrary code on each Get (delay, count, fail),
// so that callers can be tested against the failures a disk or a peer
// produces without a special fake per test.
package memstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// Store is a concurrency-safe in-memory block store. The zero value is not
// usable; call New.
//
// Blocks are keyed by multihash, like the persistent stores, so a CIDv0 and
// a CIDv1 of the same dag-pb bytes name the same entry.
type Store struct {
	mu     sync.RWMutex
	blocks map[string]entry
	faults Faults
	gets   int
	active int // Gets in progress (inside OnGet)
	peak   int // most Gets ever in progress at once
}

// Faults configures injected failures. The zero value injects nothing.
type Faults struct {
	// Missing lists blocks that Get and Has report absent even if they
	// were Put, as if lost.
	Missing []cid.Cid
	// Corrupt lists blocks whose bytes Get returns with the first byte
	// flipped (or one junk byte for an empty block), as if the disk rotted.
	Corrupt []cid.Cid
	// OnGet, if set, runs before every Get. A non-nil error is returned
	// from Get in place of the block. It may block (to simulate latency)
	// and must be safe for concurrent use.
	OnGet func(ctx context.Context, c cid.Cid) error
}

// Interface checks: Store is a real Getter/Putter/Haser.
var (
	_ block.Getter = (*Store)(nil)
	_ block.Putter = (*Store)(nil)
	_ block.Haser  = (*Store)(nil)
)

type entry struct {
	c    cid.Cid
	data []byte
}

// New returns an empty store.
func New() *Store {
	return &Store{blocks: make(map[string]entry)}
}

// SetFaults replaces the injected faults; safe to call while the store is in
// use, so a test can break a store midway through an operation.
func (s *Store) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

func key(c cid.Cid) string { return string(c.Hash()) }

func listed(list []cid.Cid, c cid.Cid) bool {
	for _, x := range list {
		if string(x.Hash()) == string(c.Hash()) {
			return true
		}
	}
	return false
}

// Get returns a copy of the block, or an error wrapping block.ErrNotFound.
func (s *Store) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.gets++
	s.active++
	s.peak = max(s.peak, s.active)
	f := s.faults
	e, ok := s.blocks[key(c)]
	s.mu.Unlock()
	var hookErr error
	if f.OnGet != nil {
		hookErr = f.OnGet(ctx, c)
	}
	s.mu.Lock()
	s.active--
	s.mu.Unlock()
	if hookErr != nil {
		return nil, fmt.Errorf("memstore get %s: %w", c, hookErr)
	}
	if !ok || listed(f.Missing, c) {
		return nil, block.NotFound(c)
	}
	out := append([]byte(nil), e.data...)
	if listed(f.Corrupt, c) {
		if len(out) == 0 {
			out = []byte{0}
		} else {
			out[0] ^= 0xff
		}
	}
	return out, nil
}

// Put stores a copy of data under c. Like the real stores it trusts its
// input: callers verify first.
func (s *Store) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(data) > block.MaxSize {
		return fmt.Errorf("memstore put %s: %w", c, block.ErrTooLarge)
	}
	cp := append([]byte(nil), data...)
	s.mu.Lock()
	s.blocks[key(c)] = entry{c: c, data: cp}
	s.mu.Unlock()
	return nil
}

// Has reports whether c is stored and not listed as Missing.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.blocks[key(c)]
	return ok && !listed(s.faults.Missing, c), nil
}

// Delete removes c. Deleting an absent block is not an error, matching the
// idempotent delete of the persistent stores.
func (s *Store) Delete(ctx context.Context, c cid.Cid) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.blocks, key(c))
	s.mu.Unlock()
	return nil
}

// Len is the number of stored blocks, for assertions.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.blocks)
}

// Gets is the number of Get calls so far, for tests asserting that a reader
// loads only the blocks it needs.
func (s *Store) Gets() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gets
}

// Keys returns the CIDs of all stored blocks (as they were Put), in no
// particular order.
func (s *Store) Keys() []cid.Cid {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]cid.Cid, 0, len(s.blocks))
	for _, e := range s.blocks {
		out = append(out, e.c)
	}
	return out
}

// PeakGets is the largest number of Get calls that were in progress at
// once. With an OnGet hook that sleeps, it shows how much concurrency a
// caller's read-ahead really produces.
func (s *Store) PeakGets() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.peak
}
