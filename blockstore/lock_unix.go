//go:build unix

package blockstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive, non-blocking flock on dir/trove.lock. flock
// belongs to the open file description, so a second Open in the same process
// fails just like one in another process, and the kernel drops the lock if
// the process dies, so a crash never leaves a stale lock behind.
func lockDir(dir string) (release func() error, err error) {
	f, err := os.OpenFile(filepath.Join(dir, "trove.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("blockstore: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("blockstore: %s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("blockstore: lock %s: %w", dir, err)
	}
	return f.Close, nil
}
