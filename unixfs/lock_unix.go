//go:build unix

package unixfs

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// lockTemp marks f as being written, for as long as this process keeps it
// open; a file system without flock(2) leaves it unmarked, and RemoveStale
// then takes it for a live one (tryLock fails the same way).
func lockTemp(f *os.File) { unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) }

// tryLock takes f's lock if no one holds it.
func tryLock(f *os.File) bool { return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil }

// localLocks reports whether the file system of directory d keeps
// flock(2) locks the way RemoveStale relies on: on this machine only, one
// per open file, dropped when its holder dies. Network file systems do
// not (Linux turns flock on NFS into per-process POSIX locks, which a
// second open in the same daemon would take and a close would drop, and a
// writer on another machine holds no lock here at all), so only the local
// file systems below qualify, and only on Linux, where statfs says which
// it is.
func localLocks(d *os.File) bool {
	if runtime.GOOS != "linux" {
		return false
	}
	var st unix.Statfs_t
	if unix.Fstatfs(int(d.Fd()), &st) != nil {
		return false
	}
	switch uint64(st.Type) {
	case 0xEF53, // ext2, ext3, ext4
		0x58465342, // xfs
		0x9123683E, // btrfs
		0x01021994, // tmpfs
		0xF2F52010, // f2fs
		0x2FC12FC1, // zfs
		0xCA451A4E, // bcachefs
		0x794C7630: // overlayfs
		return true
	}
	return false
}
