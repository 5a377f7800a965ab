package unixfs

import (
	"encoding/hex"

	"os"
	"strings"
	"time"
)

// A get writes each file under a temporary name in its target directory
// and names it only once it is complete (Publish). A get that is killed in
// between (kill -9, a crash, a power cut) cannot remove its temporary
// file, and with --nocopy that file is as large as the whole output. So
// the writer holds an exclusive flock(2) on it while it writes, which the
// kernel drops when the writer dies, and the next get into the same
// directory removes the temporary files nobody holds (RemoveStale).

// staleAge is how long a temporary file must have been left unchanged
// before RemoveStale may take it: the writer locks its file just after
// creating it, and this covers that instant by a wide margin.
const staleAge = time.Minute

// isTempName reports whether name is one that tempName makes.
func isTempName(name string) bool {
	const prefix, suffix = ".trove-", ".tmp"
	if len(name) != len(prefix)+16+len(suffix) || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return false
	}
	_, err := hex.DecodeString(name[len(prefix) : len(prefix)+16])
	return err == nil
}

// RemoveStale removes from r the temporary files of gets that are gone:
// regular files named as tempName names them, unchanged for staleAge and
// locked by no one. It returns how many it removed. Where locks cannot be
// trusted to tell a live writer from a dead one (no flock(2), a network
// file system: localLocks) it removes nothing.
func RemoveStale(r *os.Root) int {
	d, err := r.Open(".")
	if err != nil {
		return 0
	}
	if !localLocks(d) {
		d.Close()
		return 0
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if !e.Type().IsRegular() || !isTempName(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < staleAge {
			continue
		}
		f, err := r.OpenFile(e.Name(), os.O_RDONLY|noFollow, 0)
		if err != nil {
			continue
		}
		// Held while removing, so a writer cannot take it in between.
		if tryLock(f) && sameFile(r, e.Name(), f) && r.Remove(e.Name()) == nil {
			n++
		}
		f.Close()
	}
	return n
}

// sameFile reports whether name in r is still the file f has open.
func sameFile(r *os.Root, name string, f *os.File) bool {
	a, err := r.Lstat(name)
	if err != nil {
		return false
	}
	b, err := f.Stat()
	return err == nil && os.SameFile(a, b)
}
