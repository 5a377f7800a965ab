//go:build unix

package p2p

import "syscall"

// fdLimit is the process's open-file limit; libp2p gives half of it to
// connections and streams.
func fdLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<20 {
		return 1 << 20
	}
	return int(l.Cur)
}
