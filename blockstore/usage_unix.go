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
