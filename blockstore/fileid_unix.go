//go:build unix

package blockstore

import (
	"os"
	"syscall"
)

// fileIDOf reads a FileID from a stat result.
func fileIDOf(fi os.FileInfo) FileID {
	id := FileID{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Dev, id.Ino = uint64(st.Dev), uint64(st.Ino)
	}
	return id
}
