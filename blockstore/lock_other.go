//go:build !unix

package blockstore

// lockDir relies on Badger's own directory lock where flock is unavailable;
// Open maps Badger's lock error to ErrLocked.
func lockDir(dir string) (release func() error, err error) {
	return func() error { return nil }, nil
}
