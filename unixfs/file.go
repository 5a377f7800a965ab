package unixfs

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// fileNode is one block of a file DAG reduced to what reading needs. A
// node's content is its own data followed by its children's content in
// link order (UnixFS spec); starts and sizes come from the UnixFS
// blocksizes, so finding the child that holds an offset needs no child
// block.
type fileNode struct {
	c      cid.Cid
	data   []byte
	links  []cid.Cid
	starts []uint64 // offset of child i within this node's content
	sizes  []uint64 // content length of child i
	size   uint64   // len(data) + sum(sizes)
	// leafKids records that a child turned out to be a leaf, so the
	// prefetcher may assume its unloaded dag-pb siblings are leaves too
	// (balanced DAGs keep all leaves at one depth).
	leafKids bool
}

func decodeFileNode(n *node) (*fileNode, error) {
	switch n.kind {
	case KindRaw:
		return &fileNode{c: n.c, data: n.raw, size: uint64(len(n.raw))}, nil
	case KindFile:
	default:
		return nil, fmt.Errorf("%s is a %v: %w", n.c, n.kind, ErrNotFile)
	}
	fs := n.fs
	if len(fs.BlockSizes) != len(n.pb.Links) {
		return nil, malformed(n.c, "%d links but %d blocksizes", len(n.pb.Links), len(fs.BlockSizes))
	}
	f := &fileNode{c: n.c, data: fs.Data, size: uint64(len(fs.Data))}
	if len(n.pb.Links) > 0 {
		f.links = make([]cid.Cid, len(n.pb.Links))
		f.starts = make([]uint64, len(n.pb.Links))
		f.sizes = fs.BlockSizes
		for i, l := range n.pb.Links {
			f.links[i] = l.Cid
			f.starts[i] = f.size
			if fs.BlockSizes[i] > math.MaxInt64-f.size {
				return nil, malformed(n.c, "blocksizes overflow")
			}
			f.size += fs.BlockSizes[i]
		}
	}
	if fs.HasFileSize && fs.FileSize != f.size {
		return nil, malformed(n.c, "filesize %d but data and blocksizes add up to %d", fs.FileSize, f.size)
	}
	return f, nil
}

// child returns the index of the first child whose content ends after off
// (the one holding off), or len(links).
func (f *fileNode) child(off uint64) int {
	return sort.Search(len(f.links), func(i int) bool { return f.starts[i]+f.sizes[i] > off })
}

// FileOptions tunes a File. The zero value gives the defaults.
type FileOptions struct {
	// Prefetch is how many blocks a sequential reader fetches ahead.
	// 0 means 8, enough to hide a network round trip behind the
	// consumption of 8 MiB; negative disables read-ahead.
	Prefetch int
	// CacheNodes is how many decoded inner (non-leaf) nodes are kept. 0
	// means 64: with up to 1024 links per node, that covers the path to
	// any offset of a very large file plus recently used siblings.
	CacheNodes int
	// CacheLeaves is how many leaf blocks are kept, so small reads within
	// one leaf do not fetch it again. 0 means 4.
	CacheLeaves int
}

func (o FileOptions) withDefaults() FileOptions {
	if o.Prefetch == 0 {
		o.Prefetch = 8
	}
	if o.CacheNodes <= 0 {
		o.CacheNodes = 64
	}
	if o.CacheLeaves <= 0 {
		o.CacheLeaves = 4
	}
	return o
}

// File reads one UnixFS file (or raw block) with random access. It
// implements io.Reader, io.Seeker, io.ReaderAt, io.WriterTo and io.Closer.
//
// ReadAt is safe for concurrent use; Read, Seek and WriteTo share a cursor
// and are not. Reads use the context given to NewFile, because io.Reader
// has no room for one; cancel it (or call Close) to abandon reads and
// outstanding prefetches.
type File struct {
	ctx    context.Context
	cancel context.CancelFunc
	g      block.Getter
	opts   FileOptions
	root   *fileNode
	pos    int64

	wg       sync.WaitGroup // prefetch goroutines
	mu       sync.Mutex
	inner    lru
	leaves   lru
	inflight map[string]*pending
	lastEnd  int64 // end of the previous ReadAt, to detect sequential reading
	// announced is what was last passed to a Prefetcher getter, so each
	// block is announced once while it stays ahead of the reader.
	announced map[string]bool
	// lending is set once LendSlices is used: the prefetcher then stops
	// copying local raw leaves that the reader will borrow anyway.
	lending bool
}

// Prefetcher is implemented by getters that do better when told what will
// be asked for next than when asked concurrently: a network session can put
// the whole read-ahead window in one want list, a disk store can issue one
// batched read. When the getter implements it, File announces upcoming
// blocks through it instead of running its own concurrent Gets, and later
// fetches them with Get as usual.
//
// Prefetch must return promptly (fetching in the background) and is a
// hint: blocks announced may never be asked for (the reader seeks away),
// and errors surface from the later Get.
type Prefetcher interface {
	Prefetch(ctx context.Context, cids []cid.Cid)
}

// pending is a prefetched block; done closes once b and err are set.
// With a Lender getter b stays nil for a block that was local already:
// the prefetch only made sure it is there, and the reader borrows it.
type pending struct {
	done   chan struct{}
	b      []byte
	err    error
	cancel context.CancelFunc
}

// Lender is implemented by getters that can hand out a block in place of
// a copy (a store reading from its mmap). data is valid until release is
// called and must not be modified; release is nil when data is the
// caller's to keep (a block that had to be fetched). File lends raw leaves
// only through LendSlices, whose caller passes the bytes straight on.
type Lender interface {
	Lend(ctx context.Context, c cid.Cid) (data []byte, release func(), err error)
}

// NewFile opens the file named by c with default options. It fetches the
// root block only.
func NewFile(ctx context.Context, g block.Getter, c cid.Cid) (*File, error) {
	return NewFileOptions(ctx, g, c, FileOptions{})
}

// NewFileOptions is NewFile with tuning.
func NewFileOptions(ctx context.Context, g block.Getter, c cid.Cid, opts FileOptions) (*File, error) {
	n, err := getNode(ctx, g, c)
	if err != nil {
		return nil, err
	}
	root, err := decodeFileNode(n)
	if err != nil {
		return nil, err
	}
	return newFile(ctx, g, root, opts), nil
}

func newFile(ctx context.Context, g block.Getter, root *fileNode, opts FileOptions) *File {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	return &File{
		ctx:      ctx,
		cancel:   cancel,
		g:        g,
		opts:     opts,
		root:     root,
		inner:    lru{max: opts.CacheNodes},
		leaves:   lru{max: opts.CacheLeaves},
		inflight: make(map[string]*pending),
	}
}

// Size is the file's length in bytes.
func (f *File) Size() int64 { return int64(f.root.size) }

// Cid is the file's root CID.
func (f *File) Cid() cid.Cid { return f.root.c }

// Close stops outstanding prefetches. Reads after Close that need a block
// not already cached fail with context.Canceled.
func (f *File) Close() error {
	f.cancel()
	f.wg.Wait()
	return nil
}

// ReadAt reads len(p) bytes at off, loading only the blocks that hold
// them. It returns io.EOF when fewer bytes remain.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	return f.readAt(f.ctx, p, off)
}

// ReadAtContext is ReadAt bounded by ctx as well as by the file's own
// context: cancelling ctx abandons this read and the fetches it waits
// for, while the file stays usable. A FUSE read that the kernel
// interrupts, or an HTTP range whose client left, needs exactly that; the
// file's context cannot serve, since it spans every read of an open file.
func (f *File) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if ctx.Done() == nil {
		return f.readAt(f.ctx, p, off)
	}
	rctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	n, err := f.readAt(rctx, p, off)
	if err != nil && ctx.Err() != nil && f.ctx.Err() == nil {
		// Report the caller's cancellation, not the derived one.
		err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	return n, err
}

func (f *File) readAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("unixfs: ReadAt at negative offset %d", off)
	}
	if off >= f.Size() {
		return 0, io.EOF
	}
	want := min(int64(len(p)), f.Size()-off)
	n, err := f.readNode(ctx, f.root, uint64(off), p[:want], 0)
	if err != nil {
		return n, err
	}
	f.mu.Lock()
	sequential := off == f.lastEnd
	f.lastEnd = off + int64(n)
	f.mu.Unlock()
	if sequential && f.opts.Prefetch > 0 {
		f.prefetch(uint64(off) + uint64(n))
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// SlicesContext is ReadAtContext without the copy: it returns the bytes
// in [off, off+n) as slices of the blocks that hold them, in order, and
// how many bytes they add up to (fewer at the end of the file, with
// io.EOF). The slices alias cached blocks and must not be modified. A
// server that writes them out with one writev (a FUSE reply) saves a copy
// of every byte it serves.
func (f *File) SlicesContext(ctx context.Context, off int64, n int) ([][]byte, int, error) {
	if off < 0 || n < 0 {
		return nil, 0, fmt.Errorf("unixfs: SlicesContext at offset %d, length %d", off, n)
	}
	if off >= f.Size() {
		return nil, 0, io.EOF
	}
	rctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	want := min(int64(n), f.Size()-off)
	var out [][]byte
	got, err := f.lendNode(rctx, nil, f.root, uint64(off), uint64(want), 0, &out, nil)
	if err != nil {
		if ctx.Err() != nil && f.ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
		}
		return out, int(got), err
	}
	f.mu.Lock()
	sequential := off == f.lastEnd
	f.lastEnd = off + int64(got)
	f.mu.Unlock()
	if sequential && f.opts.Prefetch > 0 {
		f.prefetch(uint64(off) + got)
	}
	if int(got) < n {
		return out, int(got), io.EOF
	}
	return out, int(got), nil
}

// LendSlices is SlicesContext that, when the getter is a Lender, borrows
// raw leaves rather than copying them: release (never nil) returns the
// loans, after which the slices must not be used. It is meant for a reply
// written once and dropped, such as a FUSE read; the leaves it lends are
// not cached, so a reader that keeps data should use ReadAt.
func (f *File) LendSlices(ctx context.Context, off int64, n int) (out [][]byte, release func(), got int, err error) {
	var loans []func()
	release = func() {
		for _, r := range loans {
			r()
		}
	}
	if off < 0 || n < 0 {
		return nil, release, 0, fmt.Errorf("unixfs: LendSlices at offset %d, length %d", off, n)
	}
	if off >= f.Size() {
		return nil, release, 0, io.EOF
	}
	rctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	want := min(int64(n), f.Size()-off)
	l, _ := f.g.(Lender)
	if l != nil {
		f.mu.Lock()
		f.lending = true
		f.mu.Unlock()
	}
	g, err := f.lendNode(rctx, l, f.root, uint64(off), uint64(want), 0, &out, &loans)
	if err != nil {
		if ctx.Err() != nil && f.ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
		}
		return out, release, int(g), err
	}
	f.mu.Lock()
	sequential := off == f.lastEnd
	f.lastEnd = off + int64(g)
	f.mu.Unlock()
	if sequential && f.opts.Prefetch > 0 {
		f.prefetch(uint64(off) + g)
	}
	if int(g) < n {
		return out, release, int(g), io.EOF
	}
	return out, release, int(g), nil
}

// lendNode appends to out the slices of fn's content in [off, off+n),
// walking the DAG as readNode does. With a Lender l it borrows raw leaves
// that are neither cached nor already fetched by a prefetch (their
// releases go to loans); with l nil it only loads, and loans is unused.
func (f *File) lendNode(ctx context.Context, l Lender, fn *fileNode, off, n uint64, depth int, out *[][]byte, loans *[]func()) (uint64, error) {
	if depth > maxDepth {
		return 0, malformed(f.root.c, "file DAG deeper than %d", maxDepth)
	}
	var got uint64
	if off < uint64(len(fn.data)) {
		k := min(n, uint64(len(fn.data))-off)
		if k > 0 {
			*out = append(*out, fn.data[off:off+k:off+k])
		}
		got = k
	}
	for got < n {
		cur := off + got
		i := fn.child(cur)
		if i == len(fn.links) {
			return got, malformed(fn.c, "offset %d beyond children", cur)
		}
		end := min(n-got, fn.starts[i]+fn.sizes[i]-cur)
		coff := cur - fn.starts[i]
		if l != nil && fn.links[i].Type() == block.CodecRaw {
			data, release, err := f.borrow(ctx, l, fn, i)
			if err != nil {
				return got, err
			}
			if release != nil {
				*loans = append(*loans, release)
			}
			*out = append(*out, data[coff:coff+end:coff+end])
			got += end
			continue
		}
		child, err := f.load(ctx, fn, i)
		if err != nil {
			return got, err
		}
		m, err := f.lendNode(ctx, l, child, coff, end, depth+1, out, loans)
		got += m
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

// borrow returns raw leaf i of parent: from the leaf cache or a finished
// prefetch that had to fetch it (release nil), else lent by l.
func (f *File) borrow(ctx context.Context, l Lender, parent *fileNode, i int) ([]byte, func(), error) {
	c := parent.links[i]
	k := c.KeyString()
	f.mu.Lock()
	if v := f.leaves.get(k); v != nil {
		f.mu.Unlock()
		return v.data, nil, nil
	}
	p := f.inflight[k]
	if p != nil {
		delete(f.inflight, k)
	}
	f.mu.Unlock()
	if p != nil {
		select {
		case <-p.done:
		case <-ctx.Done():
			p.cancel()
			return nil, nil, ctx.Err()
		}
		p.cancel()
		if p.err != nil {
			return nil, nil, p.err
		}
		if p.b != nil {
			return f.checkLeaf(parent, i, p.b, nil)
		}
	}
	data, release, err := l.Lend(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	return f.checkLeaf(parent, i, data, release)
}

// checkLeaf holds a raw leaf to the size its parent promised, as load
// does for every child.
func (f *File) checkLeaf(parent *fileNode, i int, data []byte, release func()) ([]byte, func(), error) {
	if uint64(len(data)) != parent.sizes[i] {
		if release != nil {
			release()
		}
		return nil, nil, malformed(parent.c, "child %s holds %d bytes, blocksizes say %d", parent.links[i], len(data), parent.sizes[i])
	}
	return data, release, nil
}

// readNode fills p with fn's content starting at off; the caller keeps
// off+len(p) within fn.size.
func (f *File) readNode(ctx context.Context, fn *fileNode, off uint64, p []byte, depth int) (int, error) {
	if depth > maxDepth {
		return 0, malformed(f.root.c, "file DAG deeper than %d", maxDepth)
	}
	n := 0
	if off < uint64(len(fn.data)) {
		n = copy(p, fn.data[off:])
	}
	for n < len(p) {
		cur := off + uint64(n)
		i := fn.child(cur)
		if i == len(fn.links) {
			return n, malformed(fn.c, "offset %d beyond children", cur)
		}
		child, err := f.load(ctx, fn, i)
		if err != nil {
			return n, err
		}
		end := min(uint64(len(p)-n), fn.starts[i]+fn.sizes[i]-cur)
		m, err := f.readNode(ctx, child, cur-fn.starts[i], p[n:n+int(end)], depth+1)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// load returns child i of parent from the caches, a prefetch, or the
// getter, checking that its size is what the parent promised.
func (f *File) load(ctx context.Context, parent *fileNode, i int) (*fileNode, error) {
	c := parent.links[i]
	k := c.KeyString()
	f.mu.Lock()
	if v := f.inner.get(k); v != nil {
		f.mu.Unlock()
		return v, nil
	}
	if v := f.leaves.get(k); v != nil {
		f.mu.Unlock()
		return v, nil
	}
	p := f.inflight[k]
	delete(f.inflight, k)
	f.mu.Unlock()

	var b []byte
	var err error
	if p != nil {
		select {
		case <-p.done:
			b, err = p.b, p.err
		case <-ctx.Done():
			err = ctx.Err()
		}
		p.cancel()
	}
	if p == nil || err == nil && b == nil {
		// Not prefetched, or prefetched for a lending reader that only
		// checked it is local (see pending).
		b, err = getBlock(ctx, f.g, c)
	}
	if err != nil {
		return nil, err
	}
	n, err := decodeNode(c, b)
	if err != nil {
		return nil, err
	}
	child, err := decodeFileNode(n)
	if err != nil {
		return nil, fmt.Errorf("child of %s: %w", parent.c, err)
	}
	if child.size != parent.sizes[i] {
		return nil, malformed(parent.c, "child %s holds %d bytes, blocksizes say %d", c, child.size, parent.sizes[i])
	}
	f.mu.Lock()
	if len(child.links) > 0 {
		f.inner.put(k, child)
	} else {
		f.leaves.put(k, child)
		parent.leafKids = true
	}
	f.mu.Unlock()
	return child, nil
}

// prefetch starts fetching the blocks that a sequential reader at off
// will need next, up to the Prefetch window, and abandons prefetches that
// are no longer ahead of the reader (after a Seek). It does no I/O itself:
// it walks only nodes already decoded, so it stops at the first unloaded
// inner node, which it fetches so that the next call can see past it.
func (f *File) prefetch(off uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var targets []cid.Cid
	f.collect(f.root, off, &targets, 0)
	want := make(map[string]bool, len(targets))
	for _, c := range targets {
		want[c.KeyString()] = true
	}
	if pf, ok := f.g.(Prefetcher); ok {
		var fresh []cid.Cid
		for _, c := range targets {
			if !f.announced[c.KeyString()] {
				fresh = append(fresh, c)
			}
		}
		f.announced = want
		if len(fresh) > 0 {
			pf.Prefetch(f.ctx, fresh)
		}
		return
	}
	for k, p := range f.inflight {
		if !want[k] {
			p.cancel()
			delete(f.inflight, k)
		}
	}
	lending := f.lending
	for _, c := range targets {
		k := c.KeyString()
		if f.inflight[k] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(f.ctx)
		p := &pending{done: make(chan struct{}), cancel: cancel}
		f.inflight[k] = p
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer close(p.done)
			if l, ok := f.g.(Lender); ok && lending && c.Type() == block.CodecRaw {
				// Copying a local leaf ahead of a reader that borrows it
				// would be wasted; a fetched one is kept.
				var release func()
				p.b, release, p.err = l.Lend(ctx, c)
				if release != nil {
					release()
					p.b = nil
				}
				return
			}
			p.b, p.err = getBlock(ctx, f.g, c)
		}()
	}
}

// collect appends to targets the uncached blocks after off in reading
// order. It reports whether it had to stop early.
func (f *File) collect(fn *fileNode, off uint64, targets *[]cid.Cid, depth int) (stop bool) {
	if depth > maxDepth {
		return true
	}
	for i := fn.child(off); i < len(fn.links); i++ {
		if len(*targets) >= f.opts.Prefetch {
			return true
		}
		var childOff uint64
		if off > fn.starts[i] {
			childOff = off - fn.starts[i]
		}
		k := fn.links[i].KeyString()
		if v := f.inner.peek(k); v != nil {
			if f.collect(v, childOff, targets, depth+1) {
				return true
			}
			continue
		}
		if f.leaves.peek(k) != nil {
			continue
		}
		*targets = append(*targets, fn.links[i])
		if fn.links[i].Type() != block.CodecRaw && !fn.leafKids {
			return true // an inner node: its children are unknown until it loads
		}
	}
	return false
}

// Read reads from the cursor, fetching ahead when reads are sequential.
func (f *File) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := f.ReadAt(p, f.pos)
	f.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek moves the cursor. Seeking past the end is allowed; reads there
// return io.EOF.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = f.pos + offset
	case io.SeekEnd:
		abs = f.Size() + offset
	default:
		return f.pos, fmt.Errorf("unixfs: bad whence %d", whence)
	}
	if abs < 0 {
		return f.pos, fmt.Errorf("unixfs: seek to negative offset %d", abs)
	}
	f.pos = abs
	return abs, nil
}

// copyBufSize is the unit WriteTo moves; a leaf of the default 1 MiB
// chunker fits in one step.
const copyBufSize = 1 << 20

// WriteTo copies from the cursor to the end into w, so io.Copy streams a
// file with read-ahead and one buffer.
//
// With a Lender getter each local leaf is copied once, from where the
// store keeps it straight into the buffer, instead of into a fresh block
// and then the buffer: gateway and cat of a local file spent a third of
// their CPU on that extra copy. The loan ends before the buffer is
// written, so a slow writer (a pipe into a pager, a slow HTTP client)
// never holds the store.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, min(copyBufSize, max(f.Size()-f.pos, 1)))
	read := f.Read
	if _, ok := f.g.(Lender); ok {
		read = f.readLent
	}
	var total int64
	for {
		n, err := read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF { // the end itself, as io.Reader says; never a wrapped one
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// readLent is Read through LendSlices: it copies borrowed leaves into p
// and returns the loans at once.
func (f *File) readLent(p []byte) (int, error) {
	vec, release, got, err := f.LendSlices(f.ctx, f.pos, len(p))
	n := 0
	for _, s := range vec {
		n += copy(p[n:], s)
	}
	release()
	if n != got && err == nil {
		err = fmt.Errorf("unixfs: lent %d bytes, counted %d", n, got)
	}
	f.pos += int64(n)
	if err == io.EOF && n > 0 {
		// Read's contract: the bytes now, EOF on the next call.
		err = nil
	}
	return n, err
}

// lru is a small least-recently-used cache of decoded nodes. Capacities
// are tens of entries, so eviction scans instead of keeping a list.
type lru struct {
	max   int
	tick  uint64
	items map[string]*lruItem
}

type lruItem struct {
	v    *fileNode
	used uint64
}

func (l *lru) get(k string) *fileNode {
	it := l.items[k]
	if it == nil {
		return nil
	}
	l.tick++
	it.used = l.tick
	return it.v
}

// peek looks without refreshing, so the prefetcher does not keep nodes
// alive that the reader no longer uses.
func (l *lru) peek(k string) *fileNode {
	if it := l.items[k]; it != nil {
		return it.v
	}
	return nil
}

func (l *lru) put(k string, v *fileNode) {
	if l.items == nil {
		l.items = make(map[string]*lruItem)
	}
	l.tick++
	if it := l.items[k]; it != nil {
		it.v, it.used = v, l.tick
		return
	}
	if len(l.items) >= l.max {
		var oldK string
		var oldT uint64 = math.MaxUint64
		for k, it := range l.items {
			if it.used < oldT {
				oldK, oldT = k, it.used
			}
		}
		delete(l.items, oldK)
	}
	l.items[k] = &lruItem{v: v, used: l.tick}
}
