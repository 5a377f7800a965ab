package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/internal/crashpoint"
	"github.com/trove-p2p/trove/unixfs/importer"
)

// EntryKind says what an add Entry is.
type EntryKind int

// Entry kinds an add stream carries.
const (
	EntryFile EntryKind = iota
	EntryDir
	EntrySymlink
)

// Entry is one item of an add stream: a local walk, stdin, or (through the
// daemon API) a tar stream from a remote client. Entries may arrive in any
// order; missing parent directories are implied.
type Entry struct {
	// Path is slash-separated and relative ("photos/2024/a.jpg"); its first
	// component is the top-level name the entry belongs to. An empty Path
	// is an unnamed stream (stdin), reported under its own CID as Kubo
	// does.
	Path string
	Kind EntryKind
	// Content is a file's bytes; it is read once, to EOF.
	Content io.Reader
	// Target is a symlink's target, stored verbatim.
	Target string
}

// AddOptions configures Add. The zero value imports with the config's
// profile, stores the blocks and pins each top-level entry recursively.
type AddOptions struct {
	// Profile is an importer profile name; empty means the repo config's
	// Import.Profile, and if that is empty the importer's default.
	Profile string `json:"Profile,omitempty"`
	// CidVersion, RawLeaves, MaxLinks: nil keeps the profile's value.
	CidVersion *int  `json:"CidVersion,omitempty"`
	RawLeaves  *bool `json:"RawLeaves,omitempty"`
	MaxLinks   *int  `json:"MaxLinks,omitempty"`
	// Chunker is Kubo's "size-N"; empty keeps the profile's chunk size.
	Chunker string `json:"Chunker,omitempty"`
	// Hash is "sha2-256" or "blake3"; empty keeps the profile's.
	Hash string `json:"Hash,omitempty"`
	// OnlyHash computes CIDs without storing or pinning anything.
	OnlyHash bool `json:"OnlyHash,omitempty"`
	// NoPin stores without pinning, leaving the content to the next GC.
	NoPin bool `json:"NoPin,omitempty"`
	// Wrap puts every top-level entry in one new directory, which becomes
	// the single root (`ipfs add -w`).
	Wrap bool `json:"Wrap,omitempty"`
	// Hidden keeps entries whose name starts with '.' below the top
	// level; top-level entries are always kept, since someone named them.
	Hidden bool `json:"Hidden,omitempty"`
	// NoCopy, if set, is the absolute path of one regular file to import
	// write-once (`trove add --nocopy`): its raw leaves are kept as
	// references into it instead of copies in the repo, so the file must
	// not change afterwards (docs/blockstore.md, "References"). The node
	// opens the file itself and does not read the entries, so a client
	// of the daemon sends none; the daemon must be able to read the path.
	// It needs a layout with raw leaves and cannot go with OnlyHash.
	NoCopy string `json:"NoCopy,omitempty"`
	// LocalFiles lets a client of the daemon on its unix socket, of the
	// daemon's own user, name local files by path instead of sending
	// their bytes: the daemon opens them itself, so an add through it
	// reads each file once, as offline, instead of copying it through
	// the socket. Another caller is refused with ErrReadRefused (its
	// paths need not name the daemon's files) and sends the bytes. A node
	// adding in process ignores it.
	LocalFiles bool `json:"LocalFiles,omitempty"`
	// Progress, if set, is called from the importing goroutine with the
	// running total of content bytes read. It is for display only.
	Progress func(bytes int64) `json:"-"`
}

// AddedEntry reports one imported entry.
type AddedEntry struct {
	// Name is the entry's path as given (the CID for an unnamed stream,
	// "" for the wrapping directory).
	Name string `json:"Name"`
	Cid  string `json:"Cid"`
	Type string `json:"Type"` // "file", "directory" or "symlink"
	// Size is a file's content length (0 for others).
	Size uint64 `json:"Size"`
}

// AddResult lists every entry in the order Kubo prints them (files as they
// finish, directories after their children) and the pinned roots.
type AddResult struct {
	Entries []AddedEntry `json:"Entries"`
	// Roots are the top-level CIDs: one per top-level entry, or just the
	// wrapper with Wrap.
	Roots []string `json:"Roots"`
}

// stdinName stands in for an unnamed stream inside the import tree; it is
// never shown, because unnamed entries are reported by CID.
const stdinName = "stdin"

// Add imports a stream of entries. When it returns without error every
// block is durable (fsynced) and the roots are pinned, so a caller may print
// the result knowing a crash cannot lose it. On error or cancellation the
// blocks written so far stay unpinned and go at the next GC: the repo is
// never left with a pin over an incomplete DAG. Cancelling ctx stops the
// import between reads; a Content reader blocked in the kernel (a pipe, a
// terminal) is the caller's to unblock, since io.Reader has no context.
//
// On a daemon the pinned roots are then announced, and the add counted in
// its metrics, whoever called: the CLI through the API or a front door in
// the same process.
func (n *Node) Add(ctx context.Context, entries iter.Seq2[Entry, error], o AddOptions) (AddResult, error) {
	res, err := n.add(ctx, entries, o)
	if err != nil {
		return res, err
	}
	n.metrics.added(res)
	if !o.OnlyHash && !o.NoPin {
		n.announce(res.Roots)
	}
	return res, nil
}

func (n *Node) add(ctx context.Context, entries iter.Seq2[Entry, error], o AddOptions) (AddResult, error) {
	params, err := n.addParams(o)
	if err != nil {
		return AddResult{}, err
	}
	var (
		sink  importer.Putter
		ses   *blockstore.Session
		batch *blockstore.Batch
		refs  *refSink
	)
	if o.NoCopy != "" {
		if o.OnlyHash {
			return AddResult{}, errors.New("--nocopy stores references; it cannot go with --only-hash")
		}
		if params.DagPBLeaves {
			return AddResult{}, ErrNoRawLeaves
		}
		f, id, err := noCopyFile(o.NoCopy)
		if err != nil {
			return AddResult{}, err
		}
		defer f.Close()
		refs = &refSink{path: filepath.Clean(o.NoCopy), id: id}
		entries = func(yield func(Entry, error) bool) {
			yield(Entry{Path: filepath.Base(refs.path), Kind: EntryFile, Content: f}, nil)
		}
	}
	if !o.OnlyHash {
		ses = n.store.Session()
		defer ses.End()
		batch = ses.NewBatch()
		defer batch.Discard()
		// The importer calls Put from one goroutine at a time, which is
		// what a Batch needs, so it is the sink as it is.
		sink = batch
		if refs != nil {
			refs.p = batch
			sink = refs
		}
	}
	var held *holdLast
	if sink != nil && !o.Wrap {
		// Without Wrap the builder's root directory is scaffolding; hold
		// back the last block so it can be dropped instead of becoming
		// garbage for the next GC.
		held = &holdLast{p: sink}
		sink = held
	}
	var events []importer.Event
	// Hidden filtering happens here rather than in the builder so that a
	// top-level name the user typed (`trove add .config`) is always
	// imported, as in Kubo; only names found below it are filtered.
	b := importer.NewDirBuilder(ctx, params, sink, importer.DirOptions{
		Hidden:   true,
		Progress: func(ev importer.Event) { events = append(events, ev) },
	})
	var read atomic.Int64
	unnamed, added := false, 0
	for e, err := range entries {
		if err != nil {
			return AddResult{}, err
		}
		if err := ctx.Err(); err != nil {
			return AddResult{}, err
		}
		p := e.Path
		if p == "" {
			if unnamed {
				return AddResult{}, fmt.Errorf("add: more than one unnamed stream")
			}
			unnamed, p = true, stdinName
		}
		if !o.Hidden && hiddenBelowTop(p) {
			continue
		}
		added++
		switch e.Kind {
		case EntryFile:
			r := e.Content
			if r == nil {
				r = strings.NewReader("")
			}
			if o.Progress != nil {
				r = &countingReader{r: r, n: &read, f: o.Progress}
			}
			var fc cid.Cid
			fc, _, err = b.AddFile(p, r)
			if err == nil && o.Wrap && p == stdinName && unnamed && fc.Defined() {
				// Kubo names an unnamed stream inside a wrapper by its
				// CID, which is also the name add prints for it.
				err = b.Rename(stdinName, fc.String())
			}
		case EntryDir:
			err = b.AddDir(p)
		case EntrySymlink:
			_, err = b.AddSymlink(p, e.Target)
		default:
			err = fmt.Errorf("add: %s: unknown entry kind %d", p, e.Kind)
		}
		if err != nil {
			return AddResult{}, err
		}
	}
	if added == 0 {
		return AddResult{}, errNoEntries
	}
	root, err := b.FinishResult()
	if err != nil {
		return AddResult{}, err
	}
	if refs != nil {
		if err := refs.finish(); err != nil {
			return AddResult{}, err
		}
	}
	if held != nil {
		if err := held.flushUnless(ctx, root.Cid); err != nil {
			return AddResult{}, err
		}
	}
	res := AddResult{Entries: make([]AddedEntry, 0, len(events))}
	var roots []cid.Cid
	for _, ev := range events {
		name := ev.Path
		top := !strings.Contains(name, "/")
		switch {
		case name == "":
			// The builder's own root: the wrapper, shown only when asked
			// for (Kubo prints it with an empty name).
			if !o.Wrap {
				continue
			}
			roots = append(roots, ev.Cid)
		case unnamed && name == stdinName:
			name = ev.Cid.String()
			if !o.Wrap {
				roots = append(roots, ev.Cid)
			}
		case top && !o.Wrap:
			roots = append(roots, ev.Cid)
		}
		res.Entries = append(res.Entries, AddedEntry{Name: name, Cid: ev.Cid.String(), Type: kindName(ev.Kind), Size: ev.Size})
	}
	if len(roots) == 0 {
		return AddResult{}, fmt.Errorf("add: importer reported no root for %d entries", added)
	}
	for _, c := range roots {
		res.Roots = append(res.Roots, c.String())
	}
	if o.OnlyHash {
		return res, nil
	}
	if err := batch.Commit(); err != nil {
		return AddResult{}, fmt.Errorf("add: commit: %w", err)
	}
	crashpoint.Hit(crashpoint.AddCommitted)
	if !o.NoPin {
		for _, c := range roots {
			if err := n.store.Pin(ctx, c, blockstore.PinOptions{}); err != nil {
				return AddResult{}, fmt.Errorf("add: pin %s: %w", c, err)
			}
		}
		// Pins are Badger writes; make them as durable as the blocks
		// before the caller reports success.
		if err := n.store.Sync(); err != nil {
			return AddResult{}, fmt.Errorf("add: sync: %w", err)
		}
	}
	return res, nil
}

func (n *Node) addParams(o AddOptions) (importer.Params, error) {
	profile := o.Profile
	if profile == "" {
		profile = n.repo.Config.Import.Profile
	}
	ov := importer.Overrides{CidVersion: o.CidVersion, RawLeaves: o.RawLeaves, MaxLinks: o.MaxLinks, Hash: o.Hash}
	if o.Chunker != "" {
		size, err := importer.ParseChunker(o.Chunker)
		if err != nil {
			return importer.Params{}, err
		}
		if size != 0 {
			ov.ChunkSize = &size
		}
	}
	return importer.ParamsFor(profile, ov)
}

// hiddenBelowTop reports whether a component after the first starts with
// a dot.
func hiddenBelowTop(p string) bool {
	_, rest, _ := strings.Cut(strings.TrimPrefix(p, "./"), "/")
	for _, c := range strings.Split(rest, "/") {
		if strings.HasPrefix(c, ".") && c != "." && c != ".." {
			return true
		}
	}
	return false
}

func kindName(k importer.Kind) string {
	switch k {
	case importer.KindDir:
		return "directory"
	case importer.KindSymlink:
		return "symlink"
	}
	return "file"
}

func forwardRelease(p importer.Putter, f func([]byte)) {
	if r, ok := p.(importer.Releaser); ok {
		r.OnRelease(f)
	}
}

// holdLast delays every Put by one so the final block, which the
// DirBuilder writes last when it encodes its root, can be dropped. Like the
// importer's sink contract, it is used from one goroutine at a time.
type holdLast struct {
	p    importer.Putter
	has  bool
	c    cid.Cid
	data []byte
}

func (h *holdLast) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if h.has {
		if err := h.p.Put(ctx, h.c, h.data); err != nil {
			return err
		}
	}
	h.has, h.c, h.data = true, c, data
	return nil
}

// OnRelease forwards to the wrapped sink: a held block is released only
// after it has been passed on and written, so holding changes nothing.
func (h *holdLast) OnRelease(f func([]byte)) { forwardRelease(h.p, f) }

// flushUnless writes the held block unless it is skip.
func (h *holdLast) flushUnless(ctx context.Context, skip cid.Cid) error {
	if !h.has || h.c.Equals(skip) {
		return nil
	}
	return h.p.Put(ctx, h.c, h.data)
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
	f func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	m, err := c.r.Read(p)
	if m > 0 {
		c.f(c.n.Add(int64(m)))
	}
	return m, err
}

// errNoEntries means the stream was empty.
var errNoEntries = errors.New("nothing to add")
