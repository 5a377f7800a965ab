package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/trove-p2p/trove/unixfs"
	"golang.org/x/sync/errgroup"
)

// Cat writes the content of the file at path to w and returns the bytes
// written. Reads go through the node's getter, so --verify applies.
func (n *Node) Cat(ctx context.Context, path string, w io.Writer) (int64, error) {
	src := n.Content(Source{})
	c, err := src.Resolve(ctx, path)
	if err != nil {
		return 0, err
	}
	f, err := src.Open(ctx, c, OpenOptions{Whole: true})
	if err != nil {
		return 0, opError("cat", path, c, err)
	}
	defer f.Close()
	return f.WriteTo(w)
}

// opError prefixes err with the operation and, when it adds something,
// the path: the errors below already name the CID they failed on, so
// "cat X: X is a directory" said X twice.
func opError(op, path string, c cid.Cid, err error) error {
	if strings.TrimSuffix(strings.TrimPrefix(path, "/ipfs/"), "/") == c.String() {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}

// LsEntry is one directory entry as `trove ls` shows it.
type LsEntry struct {
	Name string `json:"Name"`
	Cid  string `json:"Cid"`
	// Type is "file", "directory" or "symlink". A single raw block is a
	// "file": that is how it reads, and users should not need to know
	// how the importer laid it out.
	Type string `json:"Type"`
	// Size is the content length of files, the target length of
	// symlinks, 0 for directories.
	Size uint64 `json:"Size"`
}

// Ls lists the directory at path in name order. Each child's root block
// is read to report its type and size, as Kubo does.
func (n *Node) Ls(ctx context.Context, path string) ([]LsEntry, error) {
	src := n.Content(Source{})
	c, err := src.Resolve(ctx, path)
	if err != nil {
		return nil, err
	}
	g := src.Getter()
	ents, err := unixfs.ReadDir(ctx, g, c)
	if errors.Is(err, unixfs.ErrNotDir) {
		// unixfs names the block layout ("is a raw"); users think in
		// files, as the Type column below does.
		if st, serr := unixfs.Stat(ctx, g, c); serr == nil {
			err = fmt.Errorf("%s is a %s: %w", c, userKind(st.Kind), unixfs.ErrNotDir)
		}
	}
	if err != nil {
		return nil, opError("ls", path, c, err)
	}
	// Each entry's type and size come from its own block, which on a
	// daemon may have to be fetched from a peer: stat them concurrently,
	// or a large remote directory costs one round trip per entry.
	out := make([]LsEntry, len(ents))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(lsParallel)
	for i, e := range ents {
		eg.Go(func() error {
			st, err := unixfs.Stat(ectx, g, e.Cid)
			if err != nil {
				return fmt.Errorf("ls %s: %s: %w", path, e.Name, err)
			}
			out[i] = LsEntry{Name: e.Name, Cid: e.Cid.String(), Type: userKind(st.Kind), Size: st.Size}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// lsParallel bounds the entries Ls stats at once.
const lsParallel = 16

// userKind is a node kind as users see it: a single raw block is a file.
func userKind(k unixfs.Kind) string {
	if k == unixfs.KindRaw {
		k = unixfs.KindFile
	}
	return k.String()
}

// GetOptions configures Get. The zero value never overwrites anything.
type GetOptions struct {
	// Force replaces existing files and writes into existing directories.
	Force bool `json:"Force,omitempty"`
	// NoCopy makes the output, which must be a single file, the only
	// copy of its raw leaves (`get --nocopy`): once it is written, the
	// repo's copies are replaced by references into it (Node.Refer).
	// The file must then not change; see docs/blockstore.md.
	NoCopy bool `json:"NoCopy,omitempty"`
	// Progress, if set, receives the running total of content bytes
	// written.
	Progress func(written int64) `json:"-"`
}

// GetResult reports what Get wrote.
type GetResult struct {
	Cid      string `json:"Cid"`
	Path     string `json:"Path"` // the local output path
	Files    int    `json:"Files"`
	Dirs     int    `json:"Dirs"`
	Symlinks int    `json:"Symlinks"`
	Bytes    int64  `json:"Bytes"`
}

// Get writes the file, symlink or tree at path to the local path out. An
// existing out fails with an error wrapping fs.ErrExist unless o.Force;
// nothing is ever written outside out, whatever names the DAG holds.
func (n *Node) Get(ctx context.Context, path, out string, o GetOptions) (GetResult, error) {
	c, err := n.Resolve(ctx, path)
	if err != nil {
		return GetResult{}, err
	}
	if o.NoCopy {
		// Everything is local here, so a DAG that cannot be referred
		// (a tree, dag-pb leaves) is refused before anything is written.
		if _, _, err := fileLeaves(ctx, n.store, c); err != nil {
			return GetResult{}, fmt.Errorf("get %s: --nocopy: %w", path, err)
		}
	}
	// Local blocks only: this is the get without a daemon, and a get
	// through one fetches in FetchTo or in the client instead.
	g := n.Content(Source{Offline: true}).Getter()
	st, err := unixfs.WriteTo(ctx, g, c, out, unixfs.WriteOptions{Force: o.Force, Progress: o.Progress})
	res := GetResult{Cid: c.String(), Path: out, Files: st.Files, Dirs: st.Dirs, Symlinks: st.Symlinks, Bytes: st.Bytes}
	if err != nil {
		return res, fmt.Errorf("get %s: %w", path, err)
	}
	if o.NoCopy {
		return res, referOutput(ctx, n.Refer, c, out)
	}
	return res, nil
}
