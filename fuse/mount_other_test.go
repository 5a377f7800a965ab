//go:build !linux

package fuse

import (
	"errors"
	"testing"
)

// TestMountUnsupported: off Linux a mount fails with ErrNoFUSE, which
// the CLI reports, instead of the build failing for everyone.
func TestMountUnsupported(t *testing.T) {
	m, err := Mount(t.TempDir(), nil, Options{})
	if m != nil || !errors.Is(err, ErrNoFUSE) {
		t.Fatalf("Mount = %v, %v; want nil and ErrNoFUSE", m, err)
	}
}
