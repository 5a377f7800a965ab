//go:build linux

package transfer

import (
	"context"
	"os"
	"path/filepath"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"golang.org/x/sys/unix"
)

// packStore is a measuring instrument, not a design: it appends raw
// leaves to one file with pwrite, syncs and drops them from the page cache
// every 16 MiB (as blockstore's trims do for Badger's value log), and keeps
// inner nodes and the index in memory. TROVE_BENCH_STORE=pack shows what
// the receiver's store write would cost if block bytes did not go through
// Badger's mmap'd value log (which zero-fills every new page before the
// copy), to size that option; see docs/protocol.md §11.
type packStore struct {
	mu       sync.Mutex
	f        *os.File
	off      int64
	unsynced int64
	synced   int64 // offset up to which the file is synced and dropped
	index    map[string][2]int64
	inner    map[string][]byte
}

func newPackStore(dir string) (*packStore, error) {
	f, err := os.OpenFile(filepath.Join(dir, "pack"), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &packStore{f: f, index: map[string][2]int64{}, inner: map[string][]byte{}}, nil
}

func (s *packStore) Put(_ context.Context, c cid.Cid, data []byte) error {
	k := string(c.Hash())
	if c.Type() != block.CodecRaw {
		s.mu.Lock()
		s.inner[k] = append([]byte(nil), data...)
		s.mu.Unlock()
		return nil
	}
	s.mu.Lock()
	off := s.off
	s.off += int64(len(data))
	s.mu.Unlock()
	if _, err := s.f.WriteAt(data, off); err != nil {
		return err
	}
	s.mu.Lock()
	s.index[k] = [2]int64{off, int64(len(data))}
	s.unsynced += int64(len(data))
	trim := s.unsynced >= 16<<20
	if trim {
		s.unsynced = 0
	}
	from, to := s.synced, s.off
	if trim {
		s.synced = to
	}
	s.mu.Unlock()
	if trim {
		if err := unix.Fdatasync(int(s.f.Fd())); err != nil {
			return err
		}
		unix.Fadvise(int(s.f.Fd()), from, to-from, unix.FADV_DONTNEED)
	}
	return nil
}

func (s *packStore) Has(_ context.Context, c cid.Cid) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := string(c.Hash())
	_, ok := s.index[k]
	_, ok2 := s.inner[k]
	return ok || ok2, nil
}

func (s *packStore) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := string(c.Hash())
	if d, ok := s.inner[k]; ok {
		return d, nil
	}
	if e, ok := s.index[k]; ok {
		d := make([]byte, e[1])
		_, err := s.f.ReadAt(d, e[0])
		return d, err
	}
	return nil, block.NotFound(c)
}
