//go:build !unix

package unixfs

import "os"

func lockTemp(*os.File)     {}
func tryLock(*os.File) bool { return false }

// localLocks is false without flock(2): RemoveStale cannot tell a live
// get's temporary file from a dead one's, so it leaves them all.
func localLocks(*os.File) bool { return false }
