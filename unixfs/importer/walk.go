package importer

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ipfs/go-cid"
)

// Result is the outcome of ImportPath.
type Result struct {
	// Cid is the root: the file, the directory, or the wrapping directory.
	Cid cid.Cid
	// Name is the root's reported path: the base name of the imported
	// path, or "" when wrapped.
	Name string
	// Size is the number of content bytes imported; Tsize the cumulative
	// DAG size of the root.
	Size  uint64
	Tsize uint64
}

// ImportReader imports one stream (stdin, an upload) as a UnixFS file.
func ImportReader(ctx context.Context, r io.Reader, p Params, sink Putter) (FileResult, error) {
	fi, err := newFileImporter(p, sink)
	if err != nil {
		return FileResult{}, err
	}
	return fi.importFile(ctx, r)
}

// ImportFile imports the regular file at path.
func ImportFile(ctx context.Context, path string, p Params, sink Putter) (FileResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileResult{}, fmt.Errorf("importer: %w", err)
	}
	defer f.Close()
	return ImportReader(ctx, f, p, sink)
}

// ImportPath imports a file, symlink or directory tree from the local file
// system. It is a walk feeding a DirBuilder: directories are read in name
// order, symlinks are stored (not followed), hidden entries are skipped
// unless opts.Hidden, and anything else (devices, sockets, pipes) is an
// error. progress, if not nil, overrides opts.Progress; event paths start
// with the base name of path (the wrapper, if any, is reported as "").
func ImportPath(ctx context.Context, path string, p Params, opts DirOptions, sink Putter, progress func(Event)) (Result, error) {
	if progress != nil {
		opts.Progress = progress
	}
	info, err := os.Lstat(path)
	if err != nil {
		return Result{}, fmt.Errorf("importer: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Result{}, fmt.Errorf("importer: %w", err)
	}
	name := filepath.Base(abs)
	if name == string(filepath.Separator) {
		return Result{}, fmt.Errorf("importer: %w: cannot import the file system root", ErrPath)
	}
	if !opts.Wrap && info.Mode().IsRegular() {
		res, err := ImportFile(ctx, path, p, sink)
		if err != nil {
			return Result{}, err
		}
		if opts.Progress != nil {
			opts.Progress(Event{Path: name, Cid: res.Cid, Kind: KindFile, Size: res.Size, Tsize: res.Tsize})
		}
		return Result{Cid: res.Cid, Name: name, Size: res.Size, Tsize: res.Tsize}, nil
	}

	// The tree is built relative to a wrapping root; without Wrap the
	// result is the entry under name, with the wrapper discarded.
	var root *Event
	bopts := opts
	bopts.Hidden = true // the walk filters; the root's own name is never hidden
	bopts.Progress = func(ev Event) {
		if ev.Path == name {
			e := ev
			root = &e
		}
		if ev.Path == "" && !opts.Wrap {
			return
		}
		if opts.Progress != nil {
			opts.Progress(ev)
		}
	}
	b := NewDirBuilder(ctx, p, sink, bopts)
	if err := walk(ctx, b, path, name, info, opts.Hidden); err != nil {
		return Result{}, err
	}
	wrapper, err := b.FinishResult()
	if err != nil {
		return Result{}, err
	}
	if opts.Wrap {
		return Result{Cid: wrapper.Cid, Size: wrapper.Size, Tsize: wrapper.Tsize}, nil
	}
	if root == nil {
		return Result{}, fmt.Errorf("importer: %s: root not reported", path)
	}
	return Result{Cid: root.Cid, Name: name, Size: wrapper.Size, Tsize: root.Tsize}, nil
}

func walk(ctx context.Context, b *DirBuilder, path, rel string, info os.FileInfo, withHidden bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch mode := info.Mode(); {
	case mode.IsRegular():
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("importer: %w", err)
		}
		_, _, err = b.AddFile(rel, f)
		f.Close()
		return err
	case mode&os.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return fmt.Errorf("importer: %w", err)
		}
		_, err = b.AddSymlink(rel, target)
		return err
	case mode.IsDir():
		if err := b.AddDir(rel); err != nil {
			return err
		}
		ents, err := os.ReadDir(path)
		if err != nil {
			return fmt.Errorf("importer: %w", err)
		}
		for _, e := range ents {
			if !withHidden && e.Name()[0] == '.' {
				continue
			}
			info, err := e.Info()
			if err != nil {
				return fmt.Errorf("importer: %w", err)
			}
			if err := walk(ctx, b, filepath.Join(path, e.Name()), rel+"/"+e.Name(), info, withHidden); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("importer: %s: unsupported file type %s", path, info.Mode().Type())
	}
}
