//go:build !unix

package p2p

// fdLimit is a conservative guess where the limit cannot be queried.
func fdLimit() int { return 1024 }
