//go:build !linux

package api

import "net"

// peerUID is not implemented here: every caller is treated as another
// user, and operations that need the caller's own user fall back.
func peerUID(*net.UnixConn) (int, bool) { return 0, false }
