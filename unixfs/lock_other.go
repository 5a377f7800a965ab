//go:build !unix

package unixfs

import "os"

func lockTemp(*os.File)     {}
func tryLock(*os.File) bool { return false }
