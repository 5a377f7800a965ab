//go:build !unix

package blockstore

import "os"

// fileIDOf reads a FileID from a stat result. Without a portable inode
// number, size and mtime alone identify the file here.
func fileIDOf(fi os.FileInfo) FileID {
	return FileID{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
}
