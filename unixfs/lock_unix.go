//go:build unix

package unixfs

import (
	"os"

	"golang.org/x/sys/unix"
)

const canLock = true

// lockTemp marks f as being written, for as long as this process keeps it
// open; a file system without flock(2) leaves it unmarked, and RemoveStale
// then takes it for a live one (tryLock fails the same way).
func lockTemp(f *os.File) { unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) }

// tryLock takes f's lock if no one holds it.
func tryLock(f *os.File) bool { return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil }
