package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/unixfs/importer"
)

// Write-once (--nocopy): raw leaves are kept as references into the
// user's file instead of copies in the repo. The store follows and checks
// the references (blockstore/filestore.go); this file makes them, for
// add (while importing) and for get (once the output file is complete).

// ErrNoRawLeaves means --nocopy met a file whose bytes are not in raw
// leaves, so no block is a plain byte range of the file.
var ErrNoRawLeaves = errors.New("--nocopy needs raw leaves (the unixfs-v1-2025 profile); this layout keeps file bytes inside dag-pb leaves")

// noCopyFile opens the file an add --nocopy names. The path must be
// absolute: the daemon and the client have different working
// directories, and the reference must name the same file for both.
func noCopyFile(path string) (*os.File, blockstore.FileID, error) {
	if !filepath.IsAbs(path) {
		return nil, blockstore.FileID{}, fmt.Errorf("--nocopy: %q is not an absolute path", path)
	}
	path = filepath.Clean(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, blockstore.FileID{}, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("--nocopy: %s is not a regular file", path)
	}
	var id blockstore.FileID
	if err == nil {
		id, err = blockstore.StatFile(path)
	}
	if err != nil {
		f.Close()
		return nil, blockstore.FileID{}, err
	}
	return f, id, nil
}

// refPutter is the part of a Batch refSink writes to.
type refPutter interface {
	importer.Putter
	PutRef(ctx context.Context, c cid.Cid, r blockstore.Ref) error
	OnRelease(f func([]byte))
}

// refSink stores dag-pb nodes as they are and raw leaves as references
// into the file being imported. The importer writes leaves in file order
// (its Putter contract: post-order, one goroutine), so each raw leaf is
// the next len(data) bytes of the file.
type refSink struct {
	p       refPutter
	path    string
	id      blockstore.FileID
	off     int64
	release func([]byte)
}

func (r *refSink) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if c.Prefix().Codec != block.CodecRaw {
		return r.p.Put(ctx, c, data)
	}
	err := r.p.PutRef(ctx, c, blockstore.Ref{Path: r.path, Offset: r.off, Length: len(data), File: r.id})
	r.off += int64(len(data))
	if r.release != nil {
		r.release(data) // the reference does not keep the bytes
	}
	return err
}

// OnRelease takes the importer's release function for the leaves, which
// this sink never keeps, and passes it on for the nodes, which it does.
func (r *refSink) OnRelease(f func([]byte)) {
	r.release = f
	r.p.OnRelease(f)
}

// finish checks that the import covered the file exactly and that the
// file did not change meanwhile: a reference made from bytes that were
// being rewritten would name the wrong ones.
func (r *refSink) finish() error {
	id, err := blockstore.StatFile(r.path)
	if err != nil {
		return fmt.Errorf("--nocopy: %w", err)
	}
	if id != r.id {
		return fmt.Errorf("--nocopy: %s changed while it was being added", r.path)
	}
	if r.off != r.id.Size {
		return fmt.Errorf("--nocopy: leaves cover %d of the %d bytes of %s", r.off, r.id.Size, r.path)
	}
	return nil
}

// ReferArgs name a file DAG in the repo and a local file holding the
// same bytes, for Node.Refer.
type ReferArgs struct {
	// Path is the CID (path) of the file DAG.
	Path string `json:"Path"`
	// File is the absolute path of the local copy; the daemon refuses a
	// relative one.
	File string `json:"File"`
}

// ReferResult reports what Refer changed.
type ReferResult struct {
	Refs  int   `json:"Refs"`  // raw leaves now kept as references
	Bytes int64 `json:"Bytes"` // their bytes, no longer stored in the repo
}

// Refer is the second half of a get --nocopy that wrote its output from
// the repo (offline, or a client the daemon does not write for): the
// output file is complete, so every raw leaf of the DAG is checked
// against its range of the file and its stored copy replaced by a
// reference there. The bytes were on disk twice until then, and the
// copies' value-log space comes back at the next gc. A get the daemon
// writes itself never stores the leaves (nocopyget.go).
func (n *Node) Refer(ctx context.Context, a ReferArgs) (ReferResult, error) {
	if !filepath.IsAbs(a.File) {
		return ReferResult{}, fmt.Errorf("--nocopy: %q is not an absolute path", a.File)
	}
	file := filepath.Clean(a.File)
	c, err := n.Resolve(ctx, a.Path)
	if err != nil {
		return ReferResult{}, err
	}
	// Make the file durable before the repo stops holding its bytes.
	f, err := os.Open(file)
	if err != nil {
		return ReferResult{}, fmt.Errorf("--nocopy: %w", err)
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return ReferResult{}, fmt.Errorf("--nocopy: sync %s: %w", file, err)
	}
	id, err := blockstore.StatFile(file)
	if err != nil {
		return ReferResult{}, fmt.Errorf("--nocopy: %w", err)
	}
	leaves, size, err := fileLeaves(ctx, n.store, c)
	if err != nil {
		return ReferResult{}, fmt.Errorf("--nocopy: %s: %w", c, err)
	}
	if size != id.Size {
		return ReferResult{}, fmt.Errorf("--nocopy: %s holds %d bytes, the file %s has %d", file, id.Size, c, size)
	}
	ss := n.store.Session()
	defer ss.End()
	var res ReferResult
	for _, l := range leaves {
		if err := ss.Adopt(ctx, l.c, blockstore.Ref{Path: file, Offset: l.off, Length: l.n, File: id}); err != nil {
			return res, fmt.Errorf("--nocopy: %w", err)
		}
		res.Refs++
		res.Bytes += int64(l.n)
	}
	if err := n.store.Sync(); err != nil {
		return res, err
	}
	return res, nil
}

// leafRange is a raw leaf and where its bytes sit in the file.
type leafRange struct {
	c   cid.Cid
	off int64
	n   int
}

// leafStore is what fileLeaves reads.
type leafStore interface {
	block.Getter
	Size(ctx context.Context, c cid.Cid) (int, error)
}

// fileLeaves lists the raw leaves of a UnixFS file DAG in file order with
// their offsets, and returns the file's length. A leaf or node that
// carries file bytes inside dag-pb is ErrNoRawLeaves; a directory or
// symlink is refused, as --nocopy is for single files.
func fileLeaves(ctx context.Context, st leafStore, root cid.Cid) ([]leafRange, int64, error) {
	var out []leafRange
	var off int64
	var walk func(c cid.Cid) error
	walk = func(c cid.Cid) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch c.Prefix().Codec {
		case block.CodecRaw:
			n, err := st.Size(ctx, c)
			if err != nil {
				return err
			}
			out = append(out, leafRange{c, off, n})
			off += int64(n)
			return nil
		case block.CodecDagPB:
		default:
			return fmt.Errorf("not a UnixFS file (codec 0x%x)", c.Prefix().Codec)
		}
		data, err := st.Get(ctx, c)
		if err != nil {
			return err
		}
		nd, fs, err := fileNode(c, data)
		if err != nil {
			return err
		}
		if len(fs.Data) > 0 {
			return ErrNoRawLeaves
		}
		for _, l := range nd.Links {
			if err := walk(l.Cid); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return nil, 0, err
	}
	return out, off, nil
}

// referOutput is the last step of every get --nocopy, offline or through
// the daemon: out is made absolute here, in the process whose working
// directory it is relative to.
func referOutput(ctx context.Context, refer func(context.Context, ReferArgs) (ReferResult, error), c cid.Cid, out string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("--nocopy: %w", err)
	}
	if _, err := refer(ctx, ReferArgs{Path: c.String(), File: abs}); err != nil {
		return fmt.Errorf("get %s: wrote %s but kept the repo's copy: %w", c, out, err)
	}
	return nil
}

// Refer makes the daemon keep the raw leaves of a file DAG as references
// into File (see Node.Refer).
func (r *Remote) Refer(ctx context.Context, a ReferArgs) (ReferResult, error) {
	return epRefer.Call(ctx, r.c, a)
}
