package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/internal/crashpoint"
	"github.com/trove-p2p/trove/transfer"
	"github.com/trove-p2p/trove/unixfs"
)

// fileOut is one output file written from its download: each raw leaf
// goes into the file at its offset as it arrives (directWriter), instead
// of being read back out of the repo once stored, which cost a 1 GiB get
// about a CPU second and left the writer trailing the download
// (docs/performance.md). Both a plain get of one file (keep: the repo
// stores every block too) and get --nocopy (the file is the repo's copy
// of the leaves, nocopyget.go) write through it.
//
// Whether the root is a file is known only once its block is, so the
// output is staged before the download: a temporary file beside the name,
// published once the download is complete. With keep, a root that turns
// out to be a directory or a symlink is no error: kind says so, and
// FetchTo writes it with WriteTo instead.
type fileOut struct {
	path      string // as the caller gave it, for GetResult
	out, base string
	force     bool
	keep      bool
	dir       *os.Root
	f         *os.File
	tmp       string

	kind chan bool     // keep: from d, whether the root is a file
	d    *directWriter // set by wrap, on the download's goroutine
	got  GetResult     // set by publish
	last time.Time
	emit func(FetchProgress)

	published bool
}

// stageOut creates a's output under a temporary name in its directory,
// removing first what killed gets left there.
func stageOut(a FetchToArgs, keep bool, emit func(FetchProgress)) (*fileOut, error) {
	out := filepath.Clean(a.Out)
	base := filepath.Base(out)
	if err := unixfs.CheckName(base); err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	dir, err := os.OpenRoot(filepath.Dir(out))
	if err != nil {
		return nil, err
	}
	unixfs.RemoveStale(dir)
	f, tmp, err := unixfs.CreateTemp(dir)
	if err != nil {
		dir.Close()
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	return &fileOut{
		path: a.Out, out: out, base: base, force: a.Force, keep: keep,
		dir: dir, f: f, tmp: tmp, kind: make(chan bool, 1), emit: emit,
	}, nil
}

// stageFile stages a plain get's output to be written from the download,
// or returns nil where WriteTo must write it: a name that exists
// (WriteTo's rules for --force into a tree), a parent that cannot be
// opened or written (WriteTo says why).
func stageFile(a FetchToArgs, emit func(FetchProgress)) *fileOut {
	if _, err := os.Lstat(filepath.Clean(a.Out)); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	o, err := stageOut(a, true, emit)
	if err != nil {
		return nil
	}
	return o
}

// cleanup ends the direct writes and removes the staged file unless it
// was published.
func (o *fileOut) cleanup() {
	if o.d != nil {
		o.d.close() // the writes in flight end before the file goes
	}
	o.f.Close()
	if !o.published {
		o.dir.Remove(o.tmp)
	}
	o.dir.Close()
}

// wrap is the download's store hook: st behind a directWriter.
func (o *fileOut) wrap(ctx context.Context, root cid.Cid, st transfer.Store) (transfer.Store, error) {
	d := newDirectWriter(st, o.f, root)
	if o.keep {
		d.keep, d.kind = true, o.kind
	}
	o.d = d
	if err := d.seed(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// isFile reports whether the download writes a file here: always without
// keep (a root of another kind fails the download), with keep once its
// root was seen to be one.
func (o *fileOut) isFile() bool {
	return o != nil && o.d != nil && (!o.keep || o.d.isFile.Load())
}

// complete ends the direct writes once the download is complete,
// completes and checks the file (directWriter.finish) and syncs it;
// publish gives it its name.
func (o *fileOut) complete(ctx context.Context) (leaves []leafRange, size int64, err error) {
	o.d.close()
	if leaves, size, err = o.d.finish(ctx); err != nil {
		return nil, 0, err
	}
	if err := o.f.Sync(); err != nil {
		return nil, 0, fmt.Errorf("write %s: %w", o.out, err)
	}
	return leaves, size, nil
}

// publish gives the completed file its name.
func (o *fileOut) publish(root cid.Cid, size int64) error {
	crashpoint.Hit(crashpoint.GetBeforeRename)
	if err := unixfs.Publish(o.dir, o.tmp, o.base, o.force); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	o.published = true
	o.got = GetResult{Cid: root.String(), Path: o.path, Files: 1, Bytes: size}
	o.emit(FetchProgress{Cid: root.String(), Wrote: size})
	return nil
}

// progress reports the bytes written so far, at most every wroteTick.
func (o *fileOut) progress(c string) {
	if !o.isFile() {
		return
	}
	if now := time.Now(); now.Sub(o.last) >= wroteTick {
		o.last = now
		o.emit(FetchProgress{Cid: c, Wrote: o.d.direct.Load()})
	}
}

// result is the bytes written from the network and err, or the error a
// direct write met if err is nil.
func (o *fileOut) result(err error) (direct int64, _ error) {
	if o.d == nil {
		return 0, err
	}
	o.d.mu.Lock()
	defer o.d.mu.Unlock()
	return o.d.direct.Load(), firstErr(err, o.d.failed)
}

// hooks installs the direct writer for a plain get and publishes the
// file once the download is complete; a nil o installs nothing.
func (o *fileOut) hooks() fetchHooks {
	if o == nil {
		return fetchHooks{}
	}
	return fetchHooks{
		store: o.wrap,
		complete: func(ctx context.Context, root cid.Cid) error {
			if !o.isFile() {
				return nil // WriteTo writes it
			}
			_, size, err := o.complete(ctx)
			if err != nil {
				return fmt.Errorf("get %s: %w", root, err)
			}
			return o.publish(root, size)
		},
	}
}
