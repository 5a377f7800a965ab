//go:build !unix

package unixfs

// noFollow is unavailable here; os.Root still refuses to follow a symlink
// out of the target directory.
const noFollow = 0
