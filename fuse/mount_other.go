//go:build !linux

package fuse

import "fmt"

// Mountpoint is a live mount; on this system there never is one, so its
// methods are never reached.
type Mountpoint struct{}

// Mount fails with ErrNoFUSE here: the mount is written against Linux's
// FUSE (its mount flags, /proc/mounts, fusermount3), and nothing else is
// tested. The rest of trove (add, get, the daemon, the gateway) works the
// same without it.
func Mount(dir string, c Content, o Options) (*Mountpoint, error) {
	return nil, fmt.Errorf("%w: trove's FUSE mount runs on Linux only; the gateway serves the same content over HTTP", ErrNoFUSE)
}

// Dir is where the mount is.
func (m *Mountpoint) Dir() string { return "" }

// Done is closed once the mount ended.
func (m *Mountpoint) Done() <-chan struct{} { return nil }

// Unmount ends the mount.
func (m *Mountpoint) Unmount() error { return nil }
