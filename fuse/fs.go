//go:build linux

package fuse

import (
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"
	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/unixfs"
)

// rootNode is the mount's top directory: it lists the pinned roots and
// answers a lookup of any CID.
type rootNode struct {
	gofs.Inode
	readOnly
	m *Mountpoint
}

// entryNode is one file, directory or symlink inside content. Its Entry
// comes from the lookup that made it and never changes.
type entryNode struct {
	gofs.Inode
	readOnly
	m *Mountpoint
	e unixfs.Entry
}

var (
	_ gofs.NodeLookuper    = (*rootNode)(nil)
	_ gofs.NodeReaddirer   = (*rootNode)(nil)
	_ gofs.NodeGetattrer   = (*rootNode)(nil)
	_ gofs.NodeStatfser    = (*rootNode)(nil)
	_ gofs.NodeLookuper    = (*entryNode)(nil)
	_ gofs.NodeReaddirer   = (*entryNode)(nil)
	_ gofs.NodeGetattrer   = (*entryNode)(nil)
	_ gofs.NodeOpener      = (*entryNode)(nil)
	_ gofs.NodeReadlinker  = (*entryNode)(nil)
	_ gofs.NodeGetxattrer  = (*entryNode)(nil)
	_ gofs.NodeListxattrer = (*entryNode)(nil)
	_ gofs.NodeStatfser    = (*entryNode)(nil)
	_ gofs.FileReader      = (*handle)(nil)
	_ gofs.FileReleaser    = (*handle)(nil)
)

func (r *rootNode) Lookup(ctx context.Context, name string, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	c, err := cid.Decode(name)
	if err != nil {
		// A name that is not a CID never will be one: cache the miss
		// as long as content. ENOENT, not EINVAL: shells and file
		// managers probe names like .hidden and autorun.inf.
		out.SetEntryTimeout(contentTTL)
		return nil, syscall.ENOENT
	}
	octx, done := r.m.opCtx(ctx)
	defer done()
	e, err := r.m.c.Stat(octx, c)
	if err != nil {
		if isNotFound(ctx, octx, err) {
			// Nobody has it now; someone may add it in a moment, so the
			// kernel keeps this miss only briefly (NegativeTimeout).
			return nil, syscall.ENOENT
		}
		return nil, r.m.errno(ctx, octx, "lookup", name, err)
	}
	return r.m.child(ctx, &r.Inode, e, out), 0
}

func (r *rootNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	octx, done := r.m.opCtx(ctx)
	defer done()
	roots, err := r.m.c.Roots(octx)
	if err != nil {
		return nil, r.m.errno(ctx, octx, "list pins", r.m.dir, err)
	}
	ents := make([]gofuse.DirEntry, 0, len(roots))
	seen := make(map[string]bool, len(roots))
	for _, c := range roots {
		name := c.String()
		if !seen[name] {
			seen[name] = true
			ents = append(ents, gofuse.DirEntry{Name: name})
		}
	}
	return gofs.NewListDirStream(ents), 0
}

func (r *rootNode) Getattr(ctx context.Context, _ gofs.FileHandle, out *gofuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o555
	out.Nlink = 1
	out.Uid, out.Gid = r.m.uid, r.m.gid
	t := r.m.since
	out.SetTimes(&t, &t, &t)
	// The top directory's listing changes with the pins, but its
	// attributes do not; a short timeout keeps `ls -l` honest anyway.
	out.SetTimeout(time.Second)
	return 0
}

func (r *rootNode) Statfs(ctx context.Context, out *gofuse.StatfsOut) syscall.Errno {
	statfs(out)
	return 0
}

func (n *entryNode) Lookup(ctx context.Context, name string, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if n.e.Kind != unixfs.KindDirectory {
		return nil, syscall.ENOTDIR
	}
	octx, done := n.m.opCtx(ctx)
	defer done()
	de, err := n.m.c.Lookup(octx, n.e.Cid, name)
	if err != nil {
		if errors.Is(err, unixfs.ErrNoName) && isNotFound(ctx, octx, err) {
			// The directory was read and has no such name; it never
			// will. (A shard that could not be fetched is EIO below.)
			out.SetEntryTimeout(contentTTL)
			return nil, syscall.ENOENT
		}
		return nil, n.m.errno(ctx, octx, "lookup", n.e.Cid.String()+"/"+name, err)
	}
	e, err := n.m.c.Stat(octx, de.Cid)
	if err != nil {
		// The directory names it, so a failure here is missing data,
		// not a missing name.
		return nil, n.m.errno(ctx, octx, "lookup", de.Cid.String(), err)
	}
	return n.m.child(ctx, &n.Inode, e, out), 0
}

func (n *entryNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	if n.e.Kind != unixfs.KindDirectory {
		return nil, syscall.ENOTDIR
	}
	octx, done := n.m.opCtx(ctx)
	defer done()
	des, err := n.m.c.ReadDir(octx, n.e.Cid)
	if err != nil {
		return nil, n.m.errno(ctx, octx, "readdir", n.e.Cid.String(), err)
	}
	ents := make([]gofuse.DirEntry, 0, len(des))
	for _, d := range des {
		if !posixName(d.Name) {
			// The kernel cannot represent it; listing it would only
			// produce an entry nobody can open.
			n.m.log.Debug("skipping a directory entry no POSIX name can hold", "dir", n.e.Cid.String(), "name", d.Name)
			continue
		}
		// The type stays unknown (DT_UNKNOWN): knowing it would cost
		// one block per entry, a fetch each for remote content.
		ents = append(ents, gofuse.DirEntry{Name: d.Name})
	}
	return gofs.NewListDirStream(ents), 0
}

func (n *entryNode) Getattr(ctx context.Context, _ gofs.FileHandle, out *gofuse.AttrOut) syscall.Errno {
	n.m.attr(n.e, &out.Attr)
	out.SetTimeout(contentTTL)
	return 0
}

func (n *entryNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if n.e.Kind != unixfs.KindSymlink {
		return nil, syscall.EINVAL
	}
	return []byte(n.e.Target), 0
}

func (n *entryNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EROFS
	}
	if n.e.Kind != unixfs.KindFile && n.e.Kind != unixfs.KindRaw {
		return nil, 0, syscall.EISDIR
	}
	octx, done := n.m.opCtx(ctx)
	defer done()
	// The file outlives this call: its context is the mount's, cut
	// short only if the open itself is interrupted or times out.
	fctx, fcancel := context.WithCancel(n.m.ctx)
	stop := context.AfterFunc(octx, fcancel)
	f, err := n.m.c.Open(fctx, n.e.Cid)
	if !stop() {
		if err == nil {
			f.Close()
			err = octx.Err()
		}
	}
	if err != nil {
		fcancel()
		return nil, 0, n.m.errno(ctx, octx, "open", n.e.Cid.String(), err)
	}
	// Content under a CID never changes, so pages read through one
	// open serve the next.
	return &handle{m: n.m, c: n.e.Cid, f: f, cancel: fcancel}, gofuse.FOPEN_KEEP_CACHE, 0
}

func (n *entryNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr != XattrCID {
		return 0, syscall.ENODATA
	}
	return fillBuf(dest, n.e.Cid.String())
}

func (n *entryNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return fillBuf(dest, XattrCID+"\x00")
}

func (n *entryNode) Statfs(ctx context.Context, out *gofuse.StatfsOut) syscall.Errno {
	statfs(out)
	return 0
}

// fillBuf answers the xattr calls' size protocol: an empty dest asks for
// the size, a short one gets ERANGE.
func fillBuf(dest []byte, v string) (uint32, syscall.Errno) {
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

// statfs reports a file system with no free space, which is what a
// read-only one is. Sizes would need a walk of the repo per call (df runs
// it often), and the mount reaches content beyond the repo anyway.
func statfs(out *gofuse.StatfsOut) {
	*out = gofuse.StatfsOut{}
	out.Bsize = statfsBlock
	out.Frsize = statfsBlock
	out.NameLen = 255
}

// handle is one open file.
type handle struct {
	m      *Mountpoint
	c      cid.Cid
	f      File
	cancel context.CancelFunc
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (gofuse.ReadResult, syscall.Errno) {
	octx, done := h.m.opCtx(ctx)
	defer done()
	if sl, ok := h.f.(SliceLender); ok {
		vec, release, _, err := sl.LendSlices(octx, off, len(dest))
		if err != nil && !errors.Is(err, io.EOF) {
			release()
			return nil, h.m.errno(ctx, octx, "read", h.c.String(), err)
		}
		return h.m.lend(h, vec, release), 0
	}
	if sr, ok := h.f.(SliceReader); ok {
		// go-fuse writes the slices with one writev before the next
		// request reuses anything, and the blocks never change.
		vec, _, err := sr.ReadSlices(octx, off, len(dest))
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, h.m.errno(ctx, octx, "read", h.c.String(), err)
		}
		return gofuse.ReadResultVector(vec), 0
	}
	n, err := h.f.ReadAt(octx, dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, h.m.errno(ctx, octx, "read", h.c.String(), err)
	}
	return gofuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.m.returnLoans(h)
	h.f.Close()
	h.cancel()
	return 0
}

// child makes the inode for e under parent and fills the kernel's entry.
func (m *Mountpoint) child(ctx context.Context, parent *gofs.Inode, e unixfs.Entry, out *gofuse.EntryOut) *gofs.Inode {
	m.attr(e, &out.Attr)
	out.SetEntryTimeout(contentTTL)
	out.SetAttrTimeout(contentTTL)
	// Inode numbers are handed out per lookup rather than derived from
	// the CID: the same CID under two names would otherwise be a
	// directory hard link, which the kernel refuses to splice.
	return parent.NewInode(ctx, &entryNode{m: m, e: e}, gofs.StableAttr{Mode: out.Attr.Mode & syscall.S_IFMT})
}

// attr describes e: real sizes, UnixFS mode and mtime when recorded
// (write bits dropped, since nothing here is writable), the mounting
// user as owner.
func (m *Mountpoint) attr(e unixfs.Entry, a *gofuse.Attr) {
	var typ, perm uint32
	switch e.Kind {
	case unixfs.KindDirectory:
		typ, perm = syscall.S_IFDIR, 0o555
	case unixfs.KindSymlink:
		typ, perm = syscall.S_IFLNK, 0o777
	default:
		typ, perm = syscall.S_IFREG, 0o444
	}
	if e.HasMode && e.Kind != unixfs.KindSymlink {
		perm = e.Mode & 0o555
	}
	a.Mode = typ | perm
	a.Size = e.Size
	a.Blocks = (e.Size + 511) / 512
	a.Blksize = preferredBlock
	a.Nlink = 1
	a.Uid, a.Gid = m.uid, m.gid
	t := time.Unix(0, 0)
	if !e.Mtime.IsZero() {
		t = e.Mtime
	}
	a.SetTimes(&t, &t, &t)
}

// opCtx bounds one call: by the kernel's interrupt (ctx), the retrieval
// timeout and the mount's end.
func (m *Mountpoint) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	octx, cancel := context.WithTimeout(ctx, m.timeout)
	stop := context.AfterFunc(m.ctx, cancel)
	return octx, func() { stop(); cancel() }
}

// isNotFound reports a plain "no such content": not an interrupt, a
// timeout or an unmount, which merely look like one.
func isNotFound(ctx, octx context.Context, err error) bool {
	return ctx.Err() == nil && octx.Err() == nil && errors.Is(err, block.ErrNotFound)
}

// errno maps a failed call to what the caller's process sees. ctx is the
// kernel's (done when it interrupted the call), octx the call's own.
func (m *Mountpoint) errno(ctx, octx context.Context, op, what string, err error) syscall.Errno {
	switch {
	case ctx.Err() != nil:
		// The process got a signal (Ctrl-C on a blocked cat): its call
		// and the fetch under it are abandoned.
		m.log.Debug("interrupted", "op", op, "what", what)
		return syscall.EINTR
	case m.ctx.Err() != nil:
		return syscall.EIO
	case octx.Err() != nil:
		m.log.Warn("retrieval timed out", "op", op, "what", what, "timeout", m.timeout)
		return syscall.EIO
	case errors.Is(err, unixfs.ErrNotDir):
		return syscall.ENOTDIR
	case errors.Is(err, unixfs.ErrNotFile):
		return syscall.EISDIR
	case errors.Is(err, block.ErrUnsupported):
		m.log.Info("not UnixFS content", "op", op, "what", what, "err", err)
		return syscall.ENOTSUP
	}
	m.log.Warn("read failed", "op", op, "what", what, "err", err)
	return syscall.EIO
}

// posixName reports whether name can be one directory entry here.
func posixName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// readOnly answers every request that would change the tree with EROFS.
// The mount is read-only in the kernel already; this covers a request
// that reaches the server regardless.
type readOnly struct{}

func (readOnly) Setattr(context.Context, gofs.FileHandle, *gofuse.SetAttrIn, *gofuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func (readOnly) Create(context.Context, string, uint32, uint32, *gofuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}

func (readOnly) Mkdir(context.Context, string, uint32, *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (readOnly) Mknod(context.Context, string, uint32, uint32, *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (readOnly) Link(context.Context, gofs.InodeEmbedder, string, *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (readOnly) Symlink(context.Context, string, string, *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (readOnly) Unlink(context.Context, string) syscall.Errno { return syscall.EROFS }
func (readOnly) Rmdir(context.Context, string) syscall.Errno  { return syscall.EROFS }

func (readOnly) Rename(context.Context, string, gofs.InodeEmbedder, string, uint32) syscall.Errno {
	return syscall.EROFS
}

func (readOnly) Setxattr(context.Context, string, []byte, uint32) syscall.Errno {
	return syscall.EROFS
}

func (readOnly) Removexattr(context.Context, string) syscall.Errno { return syscall.EROFS }

// lentResult is a read reply whose bytes are borrowed from the store.
// go-fuse writes a result that has Slices with one writev and calls Done
// after it, which is when the loan goes back.
type lentResult struct {
	m       *Mountpoint
	vec     [][]byte
	release func()
}

func (m *Mountpoint) lend(h *handle, vec [][]byte, release func()) *lentResult {
	r := &lentResult{m: m, vec: vec, release: release}
	m.loansMu.Lock()
	ended := m.loansEnded
	if !ended {
		m.loans[r] = h
	}
	m.loansMu.Unlock()
	if ended {
		// Nothing will write this reply: the server is gone.
		release()
	}
	return r
}

// returnLoans ends the loans of h's replies that go-fuse never wrote, or
// of every reply if h is nil (the mount is gone).
func (m *Mountpoint) returnLoans(h *handle) {
	m.loansMu.Lock()
	if h == nil {
		m.loansEnded = true
	}
	var ended []*lentResult
	for r, rh := range m.loans {
		if h == nil || rh == h {
			ended = append(ended, r)
			delete(m.loans, r)
		}
	}
	m.loansMu.Unlock()
	for _, r := range ended {
		r.release()
	}
}

// Slices is what go-fuse writes the reply from.
func (r *lentResult) Slices() ([][]byte, gofuse.Status) { return r.vec, gofuse.OK }

// Bytes completes go-fuse's ReadResult. go-fuse prefers Slices, so it
// is only for a caller that wants the reply in one buffer.
func (r *lentResult) Bytes(buf []byte) ([]byte, gofuse.Status) {
	buf = buf[:0]
	for _, v := range r.vec {
		buf = append(buf, v...)
	}
	return buf, gofuse.OK
}

func (r *lentResult) Size() int {
	n := 0
	for _, v := range r.vec {
		n += len(v)
	}
	return n
}

func (r *lentResult) Done() {
	r.m.loansMu.Lock()
	_, ok := r.m.loans[r]
	delete(r.m.loans, r)
	r.m.loansMu.Unlock()
	if ok {
		r.release()
	}
}
