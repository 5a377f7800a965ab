package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/spaolacci/murmur3"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// Kind is what an Event reports on.
type Kind int

// Entry kinds.
const (
	KindFile Kind = iota
	KindDir
	KindSymlink
)

// Event reports one imported entry, so a CLI can print `added <cid> <path>`.
type Event struct {
	// Path is slash-separated and relative to the import root; the root
	// itself is reported with the name ImportPath gave it ("" from a bare
	// DirBuilder).
	Path string
	Cid  cid.Cid
	Kind Kind
	// Size is the content length of a file (0 for directories and
	// symlinks).
	Size uint64
	// Tsize is the cumulative size of the entry's DAG.
	Tsize uint64
}

// DirOptions tune directory import. The zero value skips hidden entries and
// reports nothing.
type DirOptions struct {
	// Hidden keeps entries whose name starts with '.'; by default they are
	// skipped, as `ipfs add` does without --hidden.
	Hidden bool
	// Wrap (ImportPath only) puts the imported file or directory inside a
	// new directory under its own name, as `ipfs add -w`.
	Wrap bool
	// Progress, when set, is called once per entry: files as they finish,
	// directories (children first) when Finish runs.
	Progress func(Event)
}

// ErrPath is wrapped when a relative path is not acceptable.
var ErrPath = errors.New("invalid path")

// ErrConflict is wrapped when an entry is added where the tree already has
// one of another kind (a file where a directory is, or below a file).
var ErrConflict = errors.New("path conflicts with an existing entry")

// hamtHashType is the multicodec of murmur3-x64-64, the HAMT hash Kubo uses.
const hamtHashType = 0x22

type dirEntry struct {
	kind Kind
	l    link      // files and symlinks: the finished entry
	dir  *dirState // directories
}

// dirState is one directory under construction: only names and finished
// links are held, never content.
type dirState struct {
	entries map[string]*dirEntry
}

func newDirState() *dirState { return &dirState{entries: map[string]*dirEntry{}} }

// DirBuilder imports a directory tree whose entries arrive one by one in any
// order (a walk, a tar stream). File contents stream through; what stays in
// memory is each directory's names, CIDs and sizes. Nothing about a
// directory is encoded before Finish, since a later entry may still change
// it. A DirBuilder is not safe for concurrent use.
type DirBuilder struct {
	ctx      context.Context
	fi       *fileImporter
	opts     DirOptions
	root     *dirState
	finished bool
	err      error
}

// NewDirBuilder starts a directory import. sink may be nil (only-hash).
// An invalid p is reported by the first Add call and by Finish.
func NewDirBuilder(ctx context.Context, p Params, sink Putter, opts DirOptions) *DirBuilder {
	fi, err := newFileImporter(p, sink)
	return &DirBuilder{ctx: ctx, fi: fi, opts: opts, root: newDirState(), err: err}
}

// splitPath validates a slash-separated relative path. A leading "./" and
// a trailing "/" (both common in tar streams) are tolerated; empty, "." and
// ".." components and NUL bytes are not.
func splitPath(rel string) ([]string, error) {
	p := strings.TrimPrefix(rel, "./")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return nil, fmt.Errorf("%w: %q is empty", ErrPath, rel)
	}
	parts := strings.Split(p, "/")
	for _, c := range parts {
		if c == "" || c == "." || c == ".." || strings.IndexByte(c, 0) >= 0 {
			return nil, fmt.Errorf("%w: %q has component %q", ErrPath, rel, c)
		}
	}
	return parts, nil
}

// hidden reports whether any component of the path is hidden.
func hidden(parts []string) bool {
	for _, c := range parts {
		if strings.HasPrefix(c, ".") {
			return true
		}
	}
	return false
}

// parent returns the directory that will hold parts' last component,
// creating missing intermediate directories (tar streams may omit them).
func (b *DirBuilder) parent(parts []string) (*dirState, error) {
	d := b.root
	for i, c := range parts[:len(parts)-1] {
		e := d.entries[c]
		if e == nil {
			e = &dirEntry{kind: KindDir, dir: newDirState()}
			d.entries[c] = e
		}
		if e.kind != KindDir {
			return nil, fmt.Errorf("%w: %s is not a directory", ErrConflict, strings.Join(parts[:i+1], "/"))
		}
		d = e.dir
	}
	return d, nil
}

func (b *DirBuilder) check(rel string) ([]string, bool, error) {
	if b.err != nil {
		return nil, false, b.err
	}
	if b.finished {
		return nil, false, errors.New("importer: DirBuilder used after Finish")
	}
	parts, err := splitPath(rel)
	if err != nil {
		return nil, false, err
	}
	return parts, !b.opts.Hidden && hidden(parts), nil
}

// setLeaf records a file or symlink. A later entry for the same path
// replaces an earlier one, as extracting a tar stream would.
func (b *DirBuilder) setLeaf(parts []string, kind Kind, l link) error {
	d, err := b.parent(parts)
	if err != nil {
		return err
	}
	name := parts[len(parts)-1]
	if e := d.entries[name]; e != nil && e.kind == KindDir {
		return fmt.Errorf("%w: %s is a directory", ErrConflict, strings.Join(parts, "/"))
	}
	d.entries[name] = &dirEntry{kind: kind, l: l}
	return nil
}

func (b *DirBuilder) report(ev Event) {
	if b.opts.Progress != nil {
		b.opts.Progress(ev)
	}
}

// AddFile imports r as the file at relPath and returns its CID and content
// size. A hidden path (when DirOptions.Hidden is false) is skipped without
// reading r and yields cid.Undef.
func (b *DirBuilder) AddFile(relPath string, r io.Reader) (cid.Cid, uint64, error) {
	parts, skip, err := b.check(relPath)
	if err != nil || skip {
		return cid.Undef, 0, err
	}
	if _, err := b.parent(parts); err != nil {
		return cid.Undef, 0, err
	}
	res, err := b.fi.importFile(b.ctx, r)
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("importer: %s: %w", relPath, err)
	}
	l := link{cid: res.Cid, tsize: res.Tsize, size: res.Size}
	if err := b.setLeaf(parts, KindFile, l); err != nil {
		return cid.Undef, 0, err
	}
	b.report(Event{Path: strings.Join(parts, "/"), Cid: res.Cid, Kind: KindFile, Size: res.Size, Tsize: res.Tsize})
	return res.Cid, res.Size, nil
}

// Rename moves the file or symlink at from to the new name to, within the
// same directory. It exists for an unnamed stream (stdin) that must appear in
// a wrapping directory under a name known only after import: its own CID,
// as Kubo names it.
func (b *DirBuilder) Rename(from, to string) error {
	fp, _, err := b.check(from)
	if err != nil {
		return err
	}
	tp, _, err := b.check(to)
	if err != nil {
		return err
	}
	if strings.Join(fp[:len(fp)-1], "/") != strings.Join(tp[:len(tp)-1], "/") {
		return fmt.Errorf("%w: rename %s to %s crosses directories", ErrConflict, from, to)
	}
	d, err := b.parent(fp)
	if err != nil {
		return err
	}
	oldName, newName := fp[len(fp)-1], tp[len(tp)-1]
	e := d.entries[oldName]
	if e == nil || e.kind == KindDir {
		return fmt.Errorf("%w: rename %s: no such file", ErrConflict, from)
	}
	if d.entries[newName] != nil {
		return fmt.Errorf("%w: rename %s: %s exists", ErrConflict, from, to)
	}
	delete(d.entries, oldName)
	d.entries[newName] = e
	return nil
}

// AddSymlink stores a UnixFS Symlink node at relPath. The target is kept
// verbatim and never followed.
func (b *DirBuilder) AddSymlink(relPath, target string) (cid.Cid, error) {
	parts, skip, err := b.check(relPath)
	if err != nil || skip {
		return cid.Undef, err
	}
	l, err := b.fi.symlink(b.ctx, target)
	if err != nil {
		return cid.Undef, err
	}
	if err := b.setLeaf(parts, KindSymlink, l); err != nil {
		return cid.Undef, err
	}
	b.report(Event{Path: strings.Join(parts, "/"), Cid: l.cid, Kind: KindSymlink, Tsize: l.tsize})
	return l.cid, nil
}

// AddDir makes sure a (possibly empty) directory exists at relPath. The
// root itself ("", ".", "./", as tar streams name it) always exists, so
// adding it is a no-op.
func (b *DirBuilder) AddDir(relPath string) error {
	if relPath == "" || relPath == "." || relPath == "./" {
		_, _, err := b.check(".")
		if errors.Is(err, ErrPath) {
			err = nil
		}
		return err
	}
	parts, skip, err := b.check(relPath)
	if err != nil || skip {
		return err
	}
	d, err := b.parent(parts)
	if err != nil {
		return err
	}
	name := parts[len(parts)-1]
	switch e := d.entries[name]; {
	case e == nil:
		d.entries[name] = &dirEntry{kind: KindDir, dir: newDirState()}
	case e.kind != KindDir:
		return fmt.Errorf("%w: %s is not a directory", ErrConflict, relPath)
	}
	return nil
}

// Finish encodes every directory, children first, and returns the root's
// CID. The root's own name is not part of it.
func (b *DirBuilder) Finish() (cid.Cid, error) {
	res, err := b.FinishResult()
	return res.Cid, err
}

// FinishResult is Finish that also returns the root's sizes.
func (b *DirBuilder) FinishResult() (FileResult, error) {
	if b.err != nil {
		return FileResult{}, b.err
	}
	if b.finished {
		return FileResult{}, errors.New("importer: Finish called twice")
	}
	b.finished = true
	l, err := b.buildDir(b.root, "")
	if err != nil {
		return FileResult{}, err
	}
	return FileResult{Cid: l.cid, Size: l.size, Tsize: l.tsize}, nil
}

func (fi *fileImporter) symlink(ctx context.Context, target string) (link, error) {
	fs := pb.FSNode{Type: pb.TSymlink, Data: []byte(target)}
	return fi.node(ctx, &pb.Node{Data: fs.Marshal(), HasData: true}, 0)
}

func (b *DirBuilder) buildDir(d *dirState, path string) (link, error) {
	if err := b.ctx.Err(); err != nil {
		return link{}, err
	}
	names := make([]string, 0, len(d.entries))
	for name := range d.entries {
		names = append(names, name)
	}
	// Byte-wise order, as boxo sorts links (strings.Compare).
	slices.Sort(names)
	links := make([]pb.Link, len(names))
	var tsize, size uint64
	for i, name := range names {
		e := d.entries[name]
		if e.kind == KindDir {
			sub := name
			if path != "" {
				sub = path + "/" + name
			}
			l, err := b.buildDir(e.dir, sub)
			if err != nil {
				return link{}, err
			}
			e.l = l
			e.dir = nil // free the subtree's names as soon as it is encoded
		}
		links[i] = pb.Link{Cid: e.l.cid, Name: name, HasName: true, Tsize: e.l.tsize, HasTsize: true}
		tsize += e.l.tsize
		size += e.l.size
	}
	n := pb.Node{Links: links, Data: (&pb.FSNode{Type: pb.TDirectory}).Marshal(), HasData: true}
	var l link
	var err error
	if b.shouldShard(&n) {
		l, err = b.fi.shard(b.ctx, links, 0)
	} else {
		l, err = b.fi.node(b.ctx, &n, tsize)
	}
	if err != nil {
		return link{}, fmt.Errorf("importer: directory %q: %w", path, err)
	}
	l.size = size
	b.report(Event{Path: path, Cid: l.cid, Kind: KindDir, Tsize: l.tsize})
	return l, nil
}

// shouldShard applies the profile's HAMT rule to the basic directory n:
// strictly larger than the threshold switches, equal stays basic.
func (b *DirBuilder) shouldShard(n *pb.Node) bool {
	r := &b.fi.r
	if r.shardAt < 0 {
		return false
	}
	size := 0
	if r.shardByLinks {
		for _, l := range n.Links {
			size += len(l.Name) + l.Cid.ByteLen()
		}
	} else {
		size = n.EncodedSize()
	}
	return size > r.shardAt
}

// shard builds a HAMT level over links (already named by entry) at the
// given depth. With fanout 256 each level consumes one byte of the
// big-endian murmur3-x64-64 hash of the name. A slot with one entry holds
// it directly, named hex(slot)+name; a slot shared by several holds a
// sub-shard named hex(slot). Since nothing is ever removed, this canonical
// shape is exactly what boxo's insert-one-at-a-time HAMT ends up with.
func (fi *fileImporter) shard(ctx context.Context, links []pb.Link, depth int) (link, error) {
	if depth >= 8 {
		return link{}, fmt.Errorf("HAMT: %d names share a 64-bit hash", len(links))
	}
	shift := 56 - 8*uint(depth)
	type slotted struct {
		slot int
		l    pb.Link
	}
	ss := make([]slotted, len(links))
	for i, l := range links {
		ss[i] = slotted{int(murmur3.Sum64([]byte(l.Name)) >> shift & 0xff), l}
	}
	slices.SortStableFunc(ss, func(a, b slotted) int { return a.slot - b.slot })

	var bitfield [HAMTFanout / 8]byte
	var out []pb.Link
	var tsize uint64
	for i := 0; i < len(ss); {
		j := i + 1
		for j < len(ss) && ss[j].slot == ss[i].slot {
			j++
		}
		slot := ss[i].slot
		bitfield[len(bitfield)-1-slot/8] |= 1 << (slot % 8)
		prefix := fmt.Sprintf("%02X", slot)
		if j-i == 1 {
			l := ss[i].l
			l.Name = prefix + l.Name
			out = append(out, l)
			tsize += l.Tsize
		} else {
			group := make([]pb.Link, 0, j-i)
			for _, s := range ss[i:j] {
				group = append(group, s.l)
			}
			child, err := fi.shard(ctx, group, depth+1)
			if err != nil {
				return link{}, err
			}
			out = append(out, pb.Link{Cid: child.cid, Name: prefix, HasName: true, Tsize: child.tsize, HasTsize: true})
			tsize += child.tsize
		}
		i = j
	}
	// The bitfield is written big-endian without leading zero bytes, as
	// go-bitfield's Bytes does.
	bf := bitfield[:]
	for len(bf) > 0 && bf[0] == 0 {
		bf = bf[1:]
	}
	fs := pb.FSNode{Type: pb.THAMTShard, HashType: hamtHashType, HasHashType: true, Fanout: HAMTFanout, HasFanout: true}
	if len(bf) > 0 {
		fs.Data = bf
	}
	return fi.node(ctx, &pb.Node{Links: out, Data: fs.Marshal(), HasData: true}, tsize)
}
