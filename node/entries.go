package node

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
)

// ErrIsDir means a directory was named for a non-recursive add.
var ErrIsDir = errors.New("is a directory (use -r to add it)")

// ErrDuplicateName means two paths given to one add share a base name.
var ErrDuplicateName = errors.New("duplicate top-level name")

// ErrSpecialFile means a walk met a device, socket or FIFO, which UnixFS
// cannot represent.
var ErrSpecialFile = errors.New("unsupported file type")

// FileEntries walks local paths into an add stream. Each path becomes a
// top-level entry under its base name; directories need recursive.
// Symlinks are stored as symlinks, never followed, so a tree cannot pull in
// files from outside itself. Each file is opened only when the consumer
// reaches it and closed before the next entry, so a huge tree costs one
// open descriptor. The walk is what a remote CLI would run on its side of
// the daemon API.
func FileEntries(paths []string, recursive bool) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		seen := map[string]string{}
		for _, p := range paths {
			// Two arguments with one base name would merge into (or
			// replace) one entry of the import tree.
			abs, err := filepath.Abs(p)
			if err == nil {
				base := filepath.Base(abs)
				if prev, dup := seen[base]; dup {
					yield(Entry{}, fmt.Errorf("%w: %s and %s are both named %q", ErrDuplicateName, prev, p, base))
					return
				}
				seen[base] = p
			}
			if !walkOne(p, recursive, yield) {
				return
			}
		}
	}
}

func walkOne(p string, recursive bool, yield func(Entry, error) bool) bool {
	abs, err := filepath.Abs(p)
	if err != nil {
		return yield(Entry{}, err)
	}
	base := filepath.Base(abs)
	if base == string(filepath.Separator) {
		return yield(Entry{}, fmt.Errorf("add %s: cannot add the filesystem root by name", p))
	}
	st, err := os.Lstat(abs)
	if err != nil {
		return yield(Entry{}, err)
	}
	if st.IsDir() && !recursive {
		return yield(Entry{}, fmt.Errorf("%s: %w", p, ErrIsDir))
	}
	if !st.IsDir() {
		return emit(abs, base, st.Mode(), yield)
	}
	err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(abs, path)
		if err != nil {
			return err
		}
		name := base
		if rel != "." {
			name = base + "/" + filepath.ToSlash(rel)
		}
		if d.IsDir() {
			if !yield(Entry{Path: name, Kind: EntryDir}, nil) {
				return errStop
			}
			return nil
		}
		if !emit(path, name, d.Type(), yield) {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return false
	}
	if err != nil {
		return yield(Entry{}, err)
	}
	return true
}

// errStop unwinds WalkDir when the consumer stops early.
var errStop = errors.New("stop")

func emit(path, name string, mode fs.FileMode, yield func(Entry, error) bool) bool {
	switch {
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return yield(Entry{}, err)
		}
		return yield(Entry{Path: name, Kind: EntrySymlink, Target: target}, nil)
	case mode.IsRegular():
		f, err := os.Open(path)
		if err != nil {
			return yield(Entry{}, err)
		}
		defer f.Close()
		return yield(Entry{Path: name, Kind: EntryFile, Content: f}, nil)
	default:
		return yield(Entry{}, fmt.Errorf("%s: %w (%v)", path, ErrSpecialFile, mode.Type()))
	}
}

// ReaderEntry is an add stream of one unnamed file, e.g. stdin.
func ReaderEntry(r io.Reader) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		yield(Entry{Kind: EntryFile, Content: r}, nil)
	}
}
