package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/node/repo"
)

func openNode(t *testing.T, dir string, o Options) *Node {
	t.Helper()
	n, err := Open(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func entries(es ...Entry) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for _, e := range es {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func cat(t *testing.T, n *Node, p string) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := n.Cat(context.Background(), p, &b); err != nil {
		t.Fatalf("cat %s: %v", p, err)
	}
	return b.String()
}

// TestAddFromEntryStream feeds Add the way the daemon API will: entries in
// tar order, parents implied, no local files involved.
func TestAddFromEntryStream(t *testing.T) {
	ctx := context.Background()
	n := openNode(t, t.TempDir(), Options{})
	res, err := n.Add(ctx, entries(
		Entry{Path: "site/css/a.css", Content: strings.NewReader("body{}")},
		Entry{Path: "site/index.html", Content: strings.NewReader("<p>hi</p>")},
		Entry{Path: "site/link", Kind: EntrySymlink, Target: "index.html"},
		Entry{Path: "site/empty", Kind: EntryDir},
		Entry{Path: "site/.git/HEAD", Content: strings.NewReader("ref")},
		Entry{Path: "other.txt", Content: strings.NewReader("second root")},
	), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Roots) != 2 {
		t.Fatalf("roots %v, want site and other.txt", res.Roots)
	}
	byName := map[string]AddedEntry{}
	for _, e := range res.Entries {
		byName[e.Name] = e
	}
	site := byName["site"].Cid
	if got := cat(t, n, site+"/css/a.css"); got != "body{}" {
		t.Errorf("a.css = %q", got)
	}
	if got := cat(t, n, byName["other.txt"].Cid); got != "second root" {
		t.Errorf("other.txt = %q", got)
	}
	if _, ok := byName["site/.git/HEAD"]; ok {
		t.Error("hidden entry imported without Hidden")
	}
	if byName["site/link"].Type != "symlink" || byName["site/empty"].Type != "directory" {
		t.Errorf("types: %+v %+v", byName["site/link"], byName["site/empty"])
	}
	ls, err := n.Ls(ctx, site+"/") // trailing slash, as shell completion leaves
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ls {
		names = append(names, e.Name+":"+e.Type)
	}
	if got := strings.Join(names, ","); got != "css:directory,empty:directory,index.html:file,link:symlink" {
		t.Errorf("ls = %s", got)
	}
	pins, _ := n.PinLs(ctx)
	if len(pins) != 2 {
		t.Errorf("pins %v, want both roots", pins)
	}
	// A hidden name the caller chose at the top level is kept.
	if res, err := n.Add(ctx, entries(Entry{Path: ".hidden", Content: strings.NewReader("x")}), AddOptions{}); err != nil || len(res.Roots) != 1 {
		t.Errorf("top-level hidden entry: %+v, %v", res, err)
	}
	if _, err := n.Add(ctx, entries(), AddOptions{}); err == nil {
		t.Error("an empty stream succeeded with no roots")
	}
	if _, err := n.Add(ctx, entries(Entry{Path: "../escape", Content: strings.NewReader("x")}), AddOptions{}); err == nil {
		t.Error("a path with .. was accepted")
	}
}

// gcDuringAdd runs a full GC after the first entry of the stream, while the
// import's blocks are written but not yet pinned.
func TestGCDuringAddKeepsImport(t *testing.T) {
	ctx := context.Background()
	n := openNode(t, t.TempDir(), Options{})
	// Larger than a blockstore batch chunk (16 MiB), so some blocks reach
	// Badger before the GC runs.
	big := bytes.Repeat([]byte("trove"), 4_000_000)
	var gcErr error
	stream := func(yield func(Entry, error) bool) {
		if !yield(Entry{Path: "d/big", Content: bytes.NewReader(big)}, nil) {
			return
		}
		_, gcErr = n.GC(ctx)
		yield(Entry{Path: "d/small", Content: strings.NewReader("s")}, nil)
	}
	res, err := n.Add(ctx, stream, AddOptions{})
	if err != nil || gcErr != nil {
		t.Fatalf("add: %v, gc: %v", err, gcErr)
	}
	if _, err := n.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if got := cat(t, n, res.Roots[0]+"/big"); got != string(big) {
		t.Fatal("content swept by a GC that ran during the import")
	}
}

func TestFileEntries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "t", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "t", "sub", "f"), []byte("F"), 0o644)
	os.Symlink("sub/f", filepath.Join(dir, "t", "ln"))
	n := openNode(t, t.TempDir(), Options{})

	if _, err := n.Add(ctx, FileEntries([]string{filepath.Join(dir, "t")}, false), AddOptions{}); !errors.Is(err, ErrIsDir) {
		t.Errorf("directory without recursive: %v", err)
	}
	if _, err := n.Add(ctx, FileEntries([]string{filepath.Join(dir, "nope")}, true), AddOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "u", "t"), 0o755)
	if _, err := n.Add(ctx, FileEntries([]string{filepath.Join(dir, "t"), filepath.Join(dir, "u", "t")}, true), AddOptions{}); !errors.Is(err, ErrDuplicateName) {
		t.Errorf("two paths named t: %v, want ErrDuplicateName", err)
	}
	res, err := n.Add(ctx, FileEntries([]string{filepath.Join(dir, "t")}, true), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := n.Get(ctx, res.Roots[0], out, GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if tgt, err := os.Readlink(filepath.Join(out, "ln")); err != nil || tgt != "sub/f" {
		t.Errorf("symlink came back as %q, %v", tgt, err)
	}

	sock := filepath.Join(dir, "t", "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skip("no unix sockets:", err)
	}
	defer l.Close()
	if _, err := n.Add(ctx, FileEntries([]string{filepath.Join(dir, "t")}, true), AddOptions{}); !errors.Is(err, ErrSpecialFile) {
		t.Errorf("socket in tree: %v, want ErrSpecialFile", err)
	}
}

func TestOpenOptions(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "r")
	if _, err := Open(ctx, dir, Options{NoInit: true}); !errors.Is(err, repo.ErrNotInitialized) {
		t.Errorf("NoInit on empty dir: %v", err)
	}
	n := openNode(t, dir, Options{})
	if _, err := Open(ctx, dir, Options{}); !errors.Is(err, blockstore.ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
	if n.Repo().PeerID == "" {
		t.Error("no peer ID")
	}
	for _, p := range []string{"zzz", "", "/ipns/x", "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e/../a"} {
		if _, err := n.Resolve(ctx, p); !errors.Is(err, ErrBadCID) {
			t.Errorf("Resolve(%q) = %v, want ErrBadCID", p, err)
		}
	}
	missing := "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
	if _, err := n.Cat(ctx, missing, io.Discard); !errors.Is(err, block.ErrNotFound) {
		t.Errorf("Cat missing: %v", err)
	}
	if _, err := n.PinRm(ctx, missing); !errors.Is(err, block.ErrNotFound) {
		t.Errorf("PinRm unpinned: %v", err)
	}
}

// TestVerifyOnReadDetectsCorruption stores bytes under the wrong CID
// (possible only by writing the store directly, as disk rot would) and
// checks that --verify catches what a plain read passes through.
func TestVerifyOnReadDetectsCorruption(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n := openNode(t, dir, Options{})
	// Bytes stored under the wrong CID, large enough for the value log:
	// the store's everyday check (CheckReads: Badger's CRC-32C) finds
	// them as they were written, and only Verify's re-hash catches them.
	// Nothing in trove stores such a block; smaller values are re-hashed
	// even without Verify.
	rotten := strings.Repeat("rotten!", 300)
	c, _ := block.Sum(1, block.CodecRaw, block.HashSHA256, []byte(strings.Repeat("genuine", 300)))
	if err := n.Blockstore().Put(ctx, c, []byte(rotten)); err != nil {
		t.Fatal(err)
	}
	if got := cat(t, n, c.String()); got != rotten {
		t.Fatalf("plain read = %q", got)
	}
	n.Close()
	v := openNode(t, dir, Options{Verify: true})
	if _, err := v.Cat(ctx, c.String(), io.Discard); !errors.Is(err, block.ErrCorrupt) {
		t.Errorf("verified cat: %v, want ErrCorrupt", err)
	}
	if _, err := v.BlockStat(ctx, c.String()); !errors.Is(err, block.ErrCorrupt) {
		t.Errorf("verified block stat: %v, want ErrCorrupt", err)
	}
}

// TestAddLeavesNoGarbage: without Wrap the importer's scaffolding root is
// not stored, so an add followed by GC removes nothing, and the repo holds
// exactly the DAGs that were pinned.
func TestAddLeavesNoGarbage(t *testing.T) {
	ctx := context.Background()
	n := openNode(t, t.TempDir(), Options{})
	for _, es := range [][]Entry{
		{{Path: "empty.txt", Content: strings.NewReader("")}},
		{{Path: "one.txt", Content: strings.NewReader("one")}},
		{{Path: "d/a", Content: strings.NewReader("a")}, {Path: "e", Kind: EntryDir}},
		{{Content: strings.NewReader("stdin")}},
	} {
		if _, err := n.Add(ctx, entries(es...), AddOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := n.RepoStat(ctx)
	// empty.txt, one.txt, d, d/a, e (the empty directory), stdin.
	if st.Blocks != 6 {
		t.Errorf("repo holds %d blocks, want 6", st.Blocks)
	}
	gc, err := n.GC(ctx)
	if err != nil || gc.Blocks != 0 {
		t.Errorf("gc after adds removed %d blocks (%v), want 0", gc.Blocks, err)
	}
	if got := cat(t, n, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"); got != "" {
		t.Errorf("empty file reads %q", got)
	}
}

// TestManyNodesOneProcess: nodes share no state, so several can live in
// one test process (as p2p tests will need) and work concurrently.
func TestManyNodesOneProcess(t *testing.T) {
	ctx := context.Background()
	nodes := make([]*Node, 3)
	for i := range nodes {
		nodes[i] = openNode(t, t.TempDir(), Options{})
	}
	if nodes[0].Repo().PeerID == nodes[1].Repo().PeerID {
		t.Fatal("two repos share an identity")
	}
	errs := make(chan error, len(nodes))
	for i, n := range nodes {
		go func() {
			body := strings.Repeat(string(rune('a'+i)), 100_000+i)
			res, err := n.Add(ctx, entries(Entry{Path: "f", Content: strings.NewReader(body)}), AddOptions{})
			if err == nil {
				var b bytes.Buffer
				if _, err = n.Cat(ctx, res.Roots[0], &b); err == nil && b.String() != body {
					err = errors.New("content mixed up between nodes")
				}
			}
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for i, n := range nodes {
		pins, _ := n.PinLs(ctx)
		if len(pins) != 1 {
			t.Errorf("node %d has %d pins, want its own 1", i, len(pins))
		}
	}
}

// TestLsManyEntries: Ls stats entries concurrently; the listing must still
// come back in directory order with each entry's own size, and a lost
// entry block must fail the whole listing.
func TestLsManyEntries(t *testing.T) {
	ctx := context.Background()
	n := openNode(t, t.TempDir(), Options{})
	var list []Entry
	for i := range 70 {
		list = append(list, Entry{Path: fmt.Sprintf("d/f%03d", i), Content: strings.NewReader(strings.Repeat("x", i*1000+1))})
	}
	res, err := n.Add(ctx, entries(list...), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := n.Ls(ctx, res.Roots[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 70 {
		t.Fatalf("%d entries, want 70", len(ls))
	}
	for i, e := range ls {
		if want := fmt.Sprintf("f%03d", i); e.Name != want || e.Size != uint64(i*1000+1) || e.Type != "file" {
			t.Fatalf("entry %d = %+v, want %s of %d bytes", i, e, want, i*1000+1)
		}
	}
	lost, err := cid.Decode(ls[37].Cid)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.store.Delete(ctx, lost); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Ls(ctx, res.Roots[0]); !errors.Is(err, block.ErrNotFound) || !strings.Contains(err.Error(), "f037") {
		t.Fatalf("ls with a lost entry = %v, want ErrNotFound naming f037", err)
	}
}
