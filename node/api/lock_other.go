//go:build !unix

package api

import (
	"errors"
	"fmt"
)

// acquireLock fails on platforms without flock: without a lock that the
// kernel releases when a daemon dies, a stale socket could not be told from a
// live one, so serving would risk two daemons on one repo.
func (s *Server) acquireLock() error {
	return fmt.Errorf("api: daemon lock: %w", errors.ErrUnsupported)
}
