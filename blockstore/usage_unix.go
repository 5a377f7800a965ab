//go:build unix

package blockstore

import (
	"io/fs"
	"syscall"
)

// allocated is the space a file takes on disk, not its length.
func allocated(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return info.Size()
}

// freeSpace is the bytes an unprivileged writer may still use on dir's
// filesystem.
func freeSpace(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}
