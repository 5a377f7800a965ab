//go:build !unix

package blockstore

import "io/fs"

// allocated falls back to the file length where block counts are unknown.
func allocated(info fs.FileInfo) int64 { return info.Size() }

// freeSpace is unknown here; the space check is skipped.
func freeSpace(string) (int64, bool) { return 0, false }
