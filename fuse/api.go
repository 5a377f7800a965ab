// Package fuse shows trove content as a read-only file system, so that
// ordinary programs (ls, cat, cp, grep, media players) can use any CID
// without a download first: DIR/<cid> is the file or directory that CID
// names, fetched on demand, and `ls DIR` lists the pinned roots.
//
// The package knows nothing of the node: it reads through the small
// Content interface, which the node adapts its content API to. That keeps
// the verified, multi-peer read path in one place and lets the mount be
// served by an offline repo or by a running daemon alike.
package fuse

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/unixfs"
)

// Content is the read path a mount serves from. Every method may wait on
// the network and must give up when its context ends.
type Content interface {
	Stater
	Lister
	Looker
	Opener
	Rooter
}

// Stater reports what a CID names, from its root block.
type Stater interface {
	Stat(ctx context.Context, c cid.Cid) (unixfs.Entry, error)
}

// Lister lists a basic or HAMT directory.
type Lister interface {
	ReadDir(ctx context.Context, dir cid.Cid) ([]unixfs.DirEntry, error)
}

// Looker finds one name in a directory without listing all of it, which
// matters for HAMT directories of millions of entries.
type Looker interface {
	Lookup(ctx context.Context, dir cid.Cid, name string) (unixfs.DirEntry, error)
}

// Opener opens a file for random access. ctx bounds the file's whole
// life (its read-ahead); each read has a context of its own.
type Opener interface {
	Open(ctx context.Context, c cid.Cid) (File, error)
}

// Rooter lists what the mount's top directory shows: the pinned roots.
type Rooter interface {
	Roots(ctx context.Context) ([]cid.Cid, error)
}

// File is an open file. ReadAt returns io.EOF at the end like
// io.ReaderAt; cancelling its ctx abandons that read and its fetches.
type File interface {
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	Close() error
}

// SliceLender is a File that can lend the bytes of a range where its
// store keeps them (a value log's mmap), so that a reply is written to the
// kernel straight from there: no copy and no fresh memory in this
// process, which is most of what serving a local read costs. The slices
// are valid until release is called, which the mount does once the reply
// is written; release is never nil, even with an error.
type SliceLender interface {
	LendSlices(ctx context.Context, off int64, n int) (vec [][]byte, release func(), got int, err error)
}

// SliceReader is a File that can hand out the bytes of a range as the
// slices it caches them in, so a reply goes to the kernel without a copy
// in this process. The slices must stay unmodified.
type SliceReader interface {
	ReadSlices(ctx context.Context, off int64, n int) ([][]byte, int, error)
}

// Options qualify Mount. The zero value mounts with the defaults below and
// logs nothing.
type Options struct {
	// Timeout bounds the retrieval one file-system call waits for (a
	// lookup, a listing, one read). A call that runs out fails with EIO
	// and a log line, since a process blocked for ever on a file is
	// worse than an error it can report. Zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives timeouts, failed reads and mount events. Nil
	// discards them.
	Logger *slog.Logger
	// Debug logs every FUSE request and reply at debug level.
	Debug bool
}

// withDefaults returns o with every zero field at its documented default.
func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// DefaultTimeout is Options.Timeout's default: long enough for a DHT
// search and a first block over a slow link, short enough that a reader
// of content nobody serves gets its EIO within a minute.
const DefaultTimeout = time.Minute

// Errors a mount can fail with, besides the OS's (a missing DIR wraps
// fs.ErrNotExist).
var (
	// ErrNoFUSE means this system cannot mount FUSE file systems.
	ErrNoFUSE = errors.New("FUSE is not available")
	// ErrBusy means DIR is already a mount point or has files in it.
	ErrBusy = errors.New("mount point busy")
	// ErrStale means DIR is a dead FUSE mount left by a process that was
	// killed, and it is not one of trove's, so Mount leaves it alone.
	ErrStale = errors.New("stale FUSE mount")
)

// XattrCID is the extended attribute that holds an entry's CID, so
// scripts can go from a path back to content (getfattr -n user.trove.cid).
const XattrCID = "user.trove.cid"
