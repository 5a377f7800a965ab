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

// fileOut is a plain get of one file written from the download: each raw
// leaf goes into the output file at its offset as it arrives, as with
// --nocopy, and into the repo as well (directWriter with keep). Reading
// every block back out of the repo once stored, as WriteTo does, cost a
// 1 GiB get about a CPU second and left the writer trailing the download
// (docs/performance.md).
//
// Whether the root is a file is known only once its block is, so the
// output is staged before the download: a temporary file beside the new
// name. If the root turns out to be a directory or a symlink, kind says
// so, the temporary file goes, and FetchTo writes with WriteTo as before.
type fileOut struct {
	out, base string
	force     bool
	dir       *os.Root
	f         *os.File
	tmp       string

	kind chan bool     // from d: whether the root is a file
	d    *directWriter // set by the store hook, on the download's goroutine
	got  GetResult     // set by the complete hook
	last time.Time
	emit func(FetchProgress)

	published bool
}

// stageFile prepares a's output for a download written as it arrives, or
// returns nil where WriteTo must do it: a name that exists (WriteTo's
// rules for --force into a tree), a parent that cannot be opened or
// written (WriteTo says why).
func stageFile(a FetchToArgs, emit func(FetchProgress)) *fileOut {
	out := filepath.Clean(a.Out)
	base := filepath.Base(out)
	if unixfs.CheckName(base) != nil {
		return nil
	}
	if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	dir, err := os.OpenRoot(filepath.Dir(out))
	if err != nil {
		return nil
	}
	unixfs.RemoveStale(dir) // what killed gets left here
	f, tmp, err := unixfs.CreateTemp(dir)
	if err != nil {
		dir.Close()
		return nil
	}
	return &fileOut{out: out, base: base, force: a.Force, dir: dir, f: f, tmp: tmp, kind: make(chan bool, 1), emit: emit}
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

// hooks installs the direct writer and publishes the file once the
// download is complete; a nil o installs nothing.
func (o *fileOut) hooks() fetchHooks {
	if o == nil {
		return fetchHooks{}
	}
	return fetchHooks{
		store: func(ctx context.Context, root cid.Cid, st transfer.Store) (transfer.Store, error) {
			d := newDirectWriter(st, o.f, root)
			d.keep, d.kind = true, o.kind
			o.d = d
			if err := d.seed(ctx); err != nil {
				return nil, err
			}
			return d, nil
		},
		complete: func(ctx context.Context, root cid.Cid) error {
			if o.d == nil || !o.d.isFile.Load() {
				return nil // WriteTo writes it
			}
			o.d.close()
			_, size, err := o.d.finish(ctx)
			if err != nil {
				return fmt.Errorf("get %s: %w", root, err)
			}
			if err := o.f.Sync(); err != nil {
				return fmt.Errorf("write %s: %w", o.out, err)
			}
			crashpoint.Hit(crashpoint.GetBeforeRename)
			if err := unixfs.Publish(o.dir, o.tmp, o.base, o.force); err != nil {
				return fmt.Errorf("write %s: %w", o.out, err)
			}
			o.published = true
			o.got = GetResult{Cid: root.String(), Path: o.out, Files: 1, Bytes: size}
			o.emit(FetchProgress{Cid: root.String(), Wrote: size})
			return nil
		},
	}
}

// progress reports the bytes written so far, at most every wroteTick.
func (o *fileOut) progress(c string) {
	if o == nil || o.d == nil || !o.d.isFile.Load() {
		return
	}
	if now := time.Now(); now.Sub(o.last) >= wroteTick {
		o.last = now
		o.emit(FetchProgress{Cid: c, Wrote: o.d.direct.Load()})
	}
}
