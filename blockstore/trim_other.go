//go:build !linux

package blockstore

// releaseMappedPages is Linux-specific; elsewhere the kernel's own page
// reclaim is all there is.
func releaseMappedPages(dir string) {}

// unmapRead is Linux-specific, like releaseMappedPages.
func unmapRead(v []byte) {}
