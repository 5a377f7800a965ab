//go:build unix

package api

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// acquireLock holds an flock on <repo>/api.lock for the server's life. The
// kernel drops it when the process dies, which is what makes a leftover
// socket from a killed daemon safe to replace.
func (s *Server) acquireLock() error {
	f, err := os.OpenFile(filepath.Join(s.repo, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("api: open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("api: %s: %w", s.repo, ErrDaemonRunning)
		}
		return fmt.Errorf("api: lock: %w", err)
	}
	s.lock = f
	return nil
}
