package unixfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/crashpoint"
	"github.com/trove-p2p/trove/internal/directio"
)

// WriteOptions controls WriteTo. The zero value refuses to touch anything
// that exists and reports no progress.
type WriteOptions struct {
	// Force lets WriteTo replace existing files and symlinks and write
	// into existing directories. It never replaces a directory with a
	// file, never removes anything else, and never follows a symlink.
	Force bool
	// Progress, if set, is called from the writing goroutine with the
	// total bytes of file content written so far.
	Progress func(written int64)
}

// Stats counts what WriteTo created.
type Stats struct {
	Files, Dirs, Symlinks int
	Bytes                 int64 // file content bytes
}

// WriteTo writes the file, symlink or directory tree named by c to the
// local path out.
//
// It is meant for trees from untrusted peers, so:
//   - nothing is created outside out: all directory operations go through
//     os.Root handles, which the kernel confines to their directory and
//     which never follow a symlink out of it;
//   - every entry name passes CheckName and names in one directory must be
//     unique, checked before anything in that directory is written;
//   - symlinks are created as symlinks, with their target verbatim, and
//     never followed while writing (files are opened O_EXCL|O_NOFOLLOW,
//     directories made with Mkdir and entered only if they are real
//     directories);
//   - without Force, an existing out (or any existing name under it) is an
//     error, and file names are published with link(2), which fails rather
//     than replacing;
//   - file contents stream through a temporary name in the target directory
//     and are renamed into place when complete, so an interrupted write
//     leaves no partial file under the final name.
//
// On error, what was completed stays; the error names the local path.
// Modes and mtimes recorded in the DAG are not applied.
func WriteTo(ctx context.Context, g block.Getter, c cid.Cid, out string, opts WriteOptions) (Stats, error) {
	w := &writer{ctx: ctx, g: g, opts: opts}
	out = filepath.Clean(out) // "dir/" must mean dir, not an entry named "" in it
	n, err := getNode(ctx, g, c)
	if err != nil {
		return w.stats, err
	}
	fi, err := os.Lstat(out)
	switch {
	case err == nil && !opts.Force:
		return w.stats, fmt.Errorf("write %s: %w", out, fs.ErrExist)
	case err == nil && n.kind == KindDirectory:
		if !fi.IsDir() {
			return w.stats, fmt.Errorf("write %s: exists and is not a directory: %w", out, fs.ErrExist)
		}
		r, err := os.OpenRoot(out)
		if err != nil {
			return w.stats, err
		}
		defer r.Close()
		RemoveStale(r)
		w.stats.Dirs++
		return w.stats, w.contents(r, out, n, 0)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return w.stats, err
	}
	base := filepath.Base(out)
	if err := CheckName(base); err != nil {
		return w.stats, fmt.Errorf("write %s: %w", out, err)
	}
	parent, err := os.OpenRoot(filepath.Dir(out))
	if err != nil {
		return w.stats, err
	}
	defer parent.Close()
	RemoveStale(parent) // what killed gets left here (stale.go)
	return w.stats, w.entry(parent, filepath.Dir(out), base, n, 0)
}

type writer struct {
	ctx   context.Context
	g     block.Getter
	opts  WriteOptions
	stats Stats
}

// entry writes n as name inside r; at is r's local path, for messages.
func (w *writer) entry(r *os.Root, at, name string, n *node, depth int) error {
	local := filepath.Join(at, name)
	switch n.kind {
	case KindFile, KindRaw:
		return w.file(r, local, name, n)
	case KindSymlink:
		return w.symlink(r, local, name, string(n.fs.Data))
	case KindDirectory:
		if depth >= maxDepth {
			return fmt.Errorf("write %s: %w", local, malformed(n.c, "directories nested deeper than %d", maxDepth))
		}
		err := r.Mkdir(name, 0o755)
		if errors.Is(err, fs.ErrExist) && w.opts.Force {
			fi, lerr := r.Lstat(name)
			if lerr != nil {
				return lerr
			}
			if !fi.IsDir() {
				return fmt.Errorf("write %s: exists and is not a directory: %w", local, fs.ErrExist)
			}
		} else if err != nil {
			return fmt.Errorf("write %s: %w", local, err)
		}
		sub, err := r.OpenRoot(name)
		if err != nil {
			return err
		}
		defer sub.Close()
		w.stats.Dirs++
		return w.contents(sub, local, n, depth)
	}
	return fmt.Errorf("write %s: %s is a %v: %w", local, n.c, n.kind, block.ErrUnsupported)
}

// contents writes a directory's entries into r, after checking all names.
func (w *writer) contents(r *os.Root, at string, n *node, depth int) error {
	ents, err := readDir(w.ctx, w.g, n)
	if err != nil {
		return fmt.Errorf("write %s: %w", at, err)
	}
	seen := make(map[string]bool, len(ents))
	for _, e := range ents {
		if err := CheckName(e.Name); err != nil {
			return fmt.Errorf("write %s: directory %s: %w", at, n.c, err)
		}
		if seen[e.Name] {
			return fmt.Errorf("write %s: directory %s: %w: duplicate name %q", at, n.c, ErrBadPath, e.Name)
		}
		seen[e.Name] = true
	}
	// Fetch the next entries' root blocks while writing this one: over the
	// network a directory of small files is otherwise one round trip per
	// file. Writing stays sequential, in listing order.
	ctx, cancel := context.WithCancel(w.ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	type fetched struct {
		n   *node
		err error
	}
	ahead := make([]chan fetched, len(ents))
	next := 0
	for i, e := range ents {
		for ; next < len(ents) && next <= i+dirReadAhead; next++ {
			ch := make(chan fetched, 1)
			ahead[next] = ch
			c := ents[next].Cid
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := getNode(ctx, w.g, c)
				ch <- fetched{n, err}
			}()
		}
		got := <-ahead[i]
		ahead[i] = nil
		if got.err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(at, e.Name), got.err)
		}
		if err := w.entry(r, at, e.Name, got.n, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// dirReadAhead is how many directory entries WriteTo fetches ahead of the
// one it writes. A root block is at most 2 MiB, so this bounds read-ahead
// memory per directory level at 16 MiB; nested levels each add their own
// window, but only along the current path.
const dirReadAhead = 8

// CreateTemp creates an empty file under a temporary name in r, the way
// WriteTo stages a file before Publish gives it its name: O_EXCL, never
// following a symlink, and locked while open so that RemoveStale leaves it
// alone. The daemon's gets written from the download stage through it too.
func CreateTemp(r *os.Root) (f *os.File, name string, err error) {
	name = tempName()
	f, err = r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|noFollow, 0o644)
	if err == nil {
		lockTemp(f)
	}
	return f, name, err
}

func tempName() string {
	var b [8]byte
	rand.Read(b[:])
	return ".trove-" + hex.EncodeToString(b[:]) + ".tmp"
}

func (w *writer) file(r *os.Root, local, name string, n *node) error {
	fn, err := decodeFileNode(n)
	if err != nil {
		return fmt.Errorf("write %s: %w", local, err)
	}
	f := newFile(w.ctx, w.g, fn, FileOptions{})
	defer f.Close()
	out, tmp, err := CreateTemp(r)
	if err != nil {
		return fmt.Errorf("write %s: %w", local, err)
	}
	var dst io.Writer = out
	var seq *directio.Seq
	if f.Size() >= directio.MinSize {
		// A large file goes around the page cache (internal/directio):
		// a get never reads its output back.
		dw := directio.Open(out)
		defer dw.Close()
		seq = directio.NewSeq(dw)
		dst = seq
	}
	_, err = io.Copy(&progressWriter{w: dst, wr: w}, f)
	if seq != nil {
		if serr := seq.Close(); err == nil {
			err = serr
		}
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		crashpoint.Hit(crashpoint.GetBeforeRename)
		err = Publish(r, tmp, name, w.opts.Force)
	}
	if err != nil {
		r.Remove(tmp)
		return fmt.Errorf("write %s: %w", local, err)
	}
	w.stats.Files++
	return nil
}

func (w *writer) symlink(r *os.Root, local, name, target string) error {
	if target == "" || strings.ContainsRune(target, 0) {
		return fmt.Errorf("write %s: %w: symlink target %q", local, ErrBadPath, target)
	}
	if !w.opts.Force {
		// symlink(2) never replaces: an existing name is EEXIST.
		if err := r.Symlink(target, name); err != nil {
			return fmt.Errorf("write %s: %w", local, err)
		}
	} else {
		if err := notDir(r, name); err != nil {
			return fmt.Errorf("write %s: %w", local, err)
		}
		tmp := tempName()
		if err := r.Symlink(target, tmp); err != nil {
			return fmt.Errorf("write %s: %w", local, err)
		}
		if err := r.Rename(tmp, name); err != nil {
			r.Remove(tmp)
			return fmt.Errorf("write %s: %w", local, err)
		}
	}
	w.stats.Symlinks++
	return nil
}

// Publish moves a finished temp file in r to its final name. Without
// force it uses link(2), which fails if the name exists (even as a
// dangling symlink) instead of replacing it; on filesystems without hard
// links it falls back to check-then-rename. With force it replaces a file
// or symlink, never a directory.
func Publish(r *os.Root, tmp, name string, force bool) error {
	if force {
		if err := notDir(r, name); err != nil {
			return err
		}
		return r.Rename(tmp, name)
	}
	err := r.Link(tmp, name)
	if err == nil {
		return r.Remove(tmp)
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, lerr := r.Lstat(name); lerr == nil {
		return fmt.Errorf("%s: %w", name, fs.ErrExist)
	}
	return r.Rename(tmp, name)
}

// notDir refuses to replace a directory with a file or symlink, which
// Force never does, before rename(2) would refuse it in words naming our
// temporary file.
func notDir(r *os.Root, name string) error {
	if fi, err := r.Lstat(name); err == nil && fi.IsDir() {
		return fmt.Errorf("exists and is a directory: %w", fs.ErrExist)
	}
	return nil
}

// progressWriter counts file bytes into the writer's stats.
type progressWriter struct {
	w  io.Writer
	wr *writer
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.wr.stats.Bytes += int64(n)
	if p.wr.opts.Progress != nil && n > 0 {
		p.wr.opts.Progress(p.wr.stats.Bytes)
	}
	return n, err
}
