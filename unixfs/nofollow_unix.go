//go:build unix

package unixfs

import "syscall"

// noFollow makes opening a final path component that is a symlink fail.
const noFollow = syscall.O_NOFOLLOW
