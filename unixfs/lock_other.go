//go:build !unix

package unixfs

import "os"

const canLock = false

func lockTemp(*os.File)     {}
func tryLock(*os.File) bool { return false }
