package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/unixfs"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// noCopyFixture writes data to a file in a temp dir and returns its
// absolute path.
func noCopyFixture(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// vlogHolds counts how many of the samples occur in the repo's value-log
// files, read as they are on disk.
func vlogHolds(t *testing.T, repoDir string, samples [][]byte) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoDir, "*", "*.vlog"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no value-log files under %s (%v)", repoDir, err)
	}
	found := make([]bool, len(samples))
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReaderSize(f, 1<<20)
		var prev []byte
		buf := make([]byte, 1<<20)
		for {
			n, err := io.ReadFull(r, buf)
			// Search prev's tail plus this chunk, so a sample across
			// the boundary is found too.
			win := append(prev, buf[:n]...)
			for i, s := range samples {
				if !found[i] && bytes.Contains(win, s) {
					found[i] = true
				}
			}
			prev = append(prev[:0], win[max(0, len(win)-256):]...)
			if err != nil {
				break
			}
		}
		f.Close()
	}
	n := 0
	for _, ok := range found {
		if ok {
			n++
		}
	}
	return n
}

// leafSamples takes 128 bytes from the middle of each whole 1 MiB chunk
// (a short last one may be small enough to stay inline in the LSM tree,
// where this search does not look).
func leafSamples(data []byte) [][]byte {
	var out [][]byte
	for off := 0; off+1<<20 <= len(data); off += 1 << 20 {
		out = append(out, data[off+1<<19:off+1<<19+128])
	}
	return out
}

func TestAddNoCopy(t *testing.T) {
	ctx := context.Background()
	data := randomData(5<<20+123, 11)
	path := noCopyFixture(t, data)
	samples := leafSamples(data)

	// The control: a plain add puts every leaf into the value log, which
	// shows that the search below finds bytes where they are.
	plainDir := t.TempDir()
	plain := openNode(t, plainDir, Options{})
	want, err := plain.Add(ctx, FileEntries([]string{path}, false), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := vlogHolds(t, plainDir, samples); got != len(samples) {
		t.Fatalf("control: the value log of a plain add holds %d of %d samples", got, len(samples))
	}

	dir := t.TempDir()
	n := openNode(t, dir, Options{})
	res, err := n.Add(ctx, nil, AddOptions{NoCopy: path})
	if err != nil {
		t.Fatal(err)
	}
	root := res.Roots[0]
	if root != want.Roots[0] || res.Entries[0].Name != "big.bin" {
		t.Fatalf("--nocopy root %s (%+v), plain add %s", root, res.Entries, want.Roots[0])
	}
	if !bytes.Equal(catBytes(t, n, root), data) {
		t.Fatal("cat gives other bytes")
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := n.Get(ctx, root, out, GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("get gives other bytes")
	}
	st, err := n.RepoStat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Refs != 6 || st.RefBytes != int64(len(data)) || st.Bytes > 4096 {
		t.Fatalf("repo stat %+v: want 6 references for %d bytes and only the root stored", st, len(data))
	}
	if got := vlogHolds(t, dir, samples); got != 0 {
		t.Fatalf("the value log holds %d of %d samples of the file", got, len(samples))
	}
	if pinKind(t, n, root) != "recursive" {
		t.Fatal("root not pinned")
	}
	// dag export reads through the references like any reader, and the
	// CAR is the one a plain repo exports.
	var car, plainCar bytes.Buffer
	if err := n.DagExport(ctx, root, &car); err != nil {
		t.Fatal(err)
	}
	if err := plain.DagExport(ctx, root, &plainCar); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(car.Bytes(), plainCar.Bytes()) {
		t.Fatal("dag export differs from a plain repo's")
	}
	// get --nocopy of something that is not a single file is refused
	// before anything is written.
	dirRes, err := n.Add(ctx, entries(Entry{Path: "d/a.txt", Kind: EntryFile, Content: bytes.NewReader([]byte("a"))}), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dirOut := filepath.Join(t.TempDir(), "d")
	if _, err := n.Get(ctx, dirRes.Roots[0], dirOut, GetOptions{NoCopy: true}); err == nil {
		t.Fatal("get --nocopy of a directory succeeded")
	}
	if _, err := os.Lstat(dirOut); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("get --nocopy of a directory wrote %s (%v)", dirOut, err)
	}
}

func TestAddNoCopyRefuses(t *testing.T) {
	ctx := context.Background()
	n := openNode(t, t.TempDir(), Options{})
	path := noCopyFixture(t, []byte("some bytes"))
	tests := []struct {
		name string
		o    AddOptions
		want error
	}{
		{"relative path", AddOptions{NoCopy: "big.bin"}, nil},
		{"directory", AddOptions{NoCopy: filepath.Dir(path)}, nil},
		{"dag-pb leaves", AddOptions{NoCopy: path, Profile: "unixfs-v0-2015"}, ErrNoRawLeaves},
		{"only hash", AddOptions{NoCopy: path, OnlyHash: true}, nil},
	}
	for _, tt := range tests {
		_, err := n.Add(ctx, nil, tt.o)
		if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: Add = %v, want an error (%v)", tt.name, err, tt.want)
		}
	}
	if st, _ := n.RepoStat(ctx); st.Refs != 0 || st.Blocks != 0 {
		t.Fatalf("refused adds left %+v", st)
	}
}

// TestNoCopyChangedFile: whatever happens to the file, cat either gives
// the right bytes or stops with not found; repo verify reports the
// references and --repair drops them; GC after unpin removes the rest.
func TestNoCopyChangedFile(t *testing.T) {
	data := randomData(3<<20+7, 12)
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
	}{
		{"byte changed", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte{^data[(1<<20)+99]}, (1<<20)+99)
			f.Close()
		}},
		{"byte changed, mtime put back", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte{^data[(1<<20)+99]}, (1<<20)+99)
			f.Close()
			os.Chtimes(path, fi.ModTime(), fi.ModTime())
		}},
		{"mtime touched", func(t *testing.T, path string) {
			later := time.Now().Add(time.Minute)
			os.Chtimes(path, later, later)
		}},
		{"deleted", func(t *testing.T, path string) { os.Remove(path) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			n := openNode(t, t.TempDir(), Options{})
			path := noCopyFixture(t, data)
			res, err := n.Add(ctx, nil, AddOptions{NoCopy: path})
			if err != nil {
				t.Fatal(err)
			}
			root := res.Roots[0]
			tt.change(t, path)

			var out bytes.Buffer
			_, err = n.Cat(ctx, root, &out)
			if !errors.Is(err, block.ErrNotFound) {
				t.Fatalf("cat after the change: %v", err)
			}
			if !bytes.HasPrefix(data, out.Bytes()) {
				t.Fatal("cat wrote bytes the file never held")
			}
			if out.Len() >= 2<<20 {
				t.Fatalf("cat wrote %d bytes, past the changed block", out.Len())
			}

			v, err := n.RepoVerify(ctx, RepoVerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if v.Refs != 4 || v.StaleRefs == 0 || v.DanglingPins != 1 || v.Clean() {
				t.Fatalf("verify: %+v", v)
			}
			v, err = n.RepoVerify(ctx, RepoVerifyOptions{Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			if v.RefsDropped != v.StaleRefs {
				t.Fatalf("repair dropped %d of %d stale references", v.RefsDropped, v.StaleRefs)
			}
			st, _ := n.RepoStat(ctx)
			if st.Refs != int64(4-v.RefsDropped) {
				t.Fatalf("after repair: %+v", st)
			}

			if _, err := n.PinRm(ctx, root); err != nil {
				t.Fatal(err)
			}
			gc, err := n.GC(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if gc.Refs != int(st.Refs) {
				t.Fatalf("gc removed %d references, want %d", gc.Refs, st.Refs)
			}
			if st, _ := n.RepoStat(ctx); st.Refs != 0 || st.Blocks != 0 {
				t.Fatalf("after gc: %+v", st)
			}
		})
	}
}

// TestNoCopyServesPeersAndGetNoCopy: a daemon serves content added with
// --nocopy; another fetches it and, with get --nocopy through its API,
// keeps it as references into the output file; once the seeder's file
// changes, the seeder serves none of it.
func TestNoCopyServesPeersAndGetNoCopy(t *testing.T) {
	ctx := context.Background()
	data := randomData(4<<20+11, 13)
	path := noCopyFixture(t, data)
	a := startDaemon(t, t.TempDir(), DaemonOptions{})
	res, err := a.Node().Add(ctx, nil, AddOptions{NoCopy: path})
	if err != nil {
		t.Fatal(err)
	}
	root := res.Roots[0]

	bdir := t.TempDir()
	b := startDaemon(t, bdir, DaemonOptions{})
	if _, err := b.Node().Fetch(ctx, FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, nil); err != nil {
		t.Fatal(err)
	}
	r := dialRemote(t, bdir)
	if _, err := r.Refer(ctx, ReferArgs{Path: root, File: "relative/out"}); err == nil {
		t.Fatal("the daemon accepted a relative path")
	}
	out := filepath.Join(t.TempDir(), "out.bin")
	if _, err := r.Get(ctx, root, out, GetOptions{NoCopy: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("get --nocopy wrote other bytes")
	}
	st, err := b.Node().RepoStat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Refs != 5 || st.RefBytes != int64(len(data)) || st.Bytes > 4096 {
		t.Fatalf("after get --nocopy: %+v", st)
	}
	if !bytes.Equal(catBytes(t, b.Node(), root), data) {
		t.Fatal("cat through the new references differs")
	}

	// The output file changes: its blocks are missing again, and a
	// fetch downloads them back into the store.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(out, later, later); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Node().RepoVerify(ctx, RepoVerifyOptions{}); err != nil || v.StaleRefs != 5 {
		t.Fatalf("verify after the output changed: %d stale references, %v", v.StaleRefs, err)
	}
	if res, err := b.Node().Fetch(ctx, FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, nil); err != nil || res.Received < int64(len(data)) {
		t.Fatalf("refetch received %d of %d bytes: %v", res.Received, len(data), err)
	}
	if !bytes.Equal(catBytes(t, b.Node(), root), data) {
		t.Fatal("cat after the refetch differs")
	}

	// The seeder's file changes: a third node gets nothing from it. b
	// goes first: it now holds the whole file and announced it, and a
	// third node that learnt that through a's DHT would fetch from b.
	b.Close()
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	before := served(a)
	c := startDaemon(t, t.TempDir(), DaemonOptions{})
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := c.Node().Fetch(fctx, FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, nil); err == nil {
		t.Fatal("fetched from a seeder whose file changed")
	}
	if got := served(a) - before; got > 4096 {
		t.Fatalf("the seeder served %d bytes after its file changed (only the root is stored)", got)
	}
}

// TestNoCopyGateway: the gateway reads a file added with --nocopy, whole
// and by range, through the references.
func TestNoCopyGateway(t *testing.T) {
	ctx := context.Background()
	data := randomData(3<<20+5, 14)
	path := noCopyFixture(t, data)
	d := startDaemon(t, t.TempDir(), DaemonOptions{Gateway: "127.0.0.1:0"})
	res, err := d.Node().Add(ctx, nil, AddOptions{NoCopy: path})
	if err != nil {
		t.Fatal(err)
	}
	u := d.GatewayURL() + "/ipfs/" + res.Roots[0]
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Range", "bytes=2000000-2000099")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, data[2000000:2000100]) {
		t.Fatalf("range: %d %v, %d bytes", resp.StatusCode, err, len(got))
	}
	resp, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("whole file: %d %v, %d bytes", resp.StatusCode, err, len(got))
	}
}

// TestFetchToNoCopyWritesOnce: get --nocopy through the daemon writes the
// downloaded raw leaves only into the output file: the fetching repo's
// value log never holds their bytes, yet it ends with references to every
// leaf, the DAG pinned and readable. A leaf repeated in the file is
// fetched once and written at both offsets.
func TestFetchToNoCopyWritesOnce(t *testing.T) {
	ctx := context.Background()
	chunk := randomData(1<<20, 21)
	data := append(append(append([]byte{}, chunk...), randomData(2<<20, 22)...), chunk...)
	data = append(data, randomData(12345, 23)...)
	a := startDaemon(t, t.TempDir(), DaemonOptions{})
	res, err := a.Node().Add(ctx, entries(Entry{Path: "f", Kind: EntryFile, Content: bytes.NewReader(data)}), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	root := res.Roots[0]

	bdir := t.TempDir()
	b := startDaemon(t, bdir, DaemonOptions{})
	out := filepath.Join(t.TempDir(), "out.bin")
	var wrote int64
	fr, err := b.Node().FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, Out: out, NoCopy: true}, func(p FetchProgress) {
		wrote = max(wrote, p.Wrote)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("get --nocopy wrote other bytes")
	}
	unique := int64(len(data) - len(chunk))
	if fr.Direct != unique || fr.Get.Bytes != int64(len(data)) || wrote != int64(len(data)) || fr.Fetch.Pin != "recursive" {
		t.Fatalf("result %+v, last Wrote %d; want Direct %d, Bytes %d, pinned", fr, wrote, unique, len(data))
	}
	if n := vlogHolds(t, bdir, leafSamples(data)); n != 0 {
		t.Fatalf("%d leaves reached the repo's value log", n)
	}
	st, err := b.Node().RepoStat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Refs != 4 || st.RefBytes != unique || st.Bytes > 4096 {
		t.Fatalf("repo after get --nocopy: %+v", st)
	}
	if !bytes.Equal(catBytes(t, b.Node(), root), data) {
		t.Fatal("cat through the references differs")
	}
	if pinKind(t, b.Node(), root) != "recursive" {
		t.Fatal("root not pinned")
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 1 {
		t.Fatalf("output directory holds %d entries, want only the output", len(ents))
	}

	// Again over the existing file: refused without Force.
	if _, err := b.Node().FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root}, Out: out, NoCopy: true}, nil); !errors.Is(err, os.ErrExist) {
		t.Fatalf("get --nocopy over an existing file: %v", err)
	}

	// A repo that already stored the file (a plain fetch before): the
	// leaves are copied out of it and their stored copies dropped.
	cdir := t.TempDir()
	c := startDaemon(t, cdir, DaemonOptions{})
	if _, err := c.Node().Fetch(ctx, FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, nil); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(t.TempDir(), "out2.bin")
	fr, err = c.Node().FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root}, Out: out2, NoCopy: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out2); !bytes.Equal(got, data) || fr.Direct != 0 {
		t.Fatalf("get --nocopy of a stored file: Direct %d, same bytes %v", fr.Direct, bytes.Equal(got, data))
	}
	if st, err := c.Node().RepoStat(ctx); err != nil || st.Refs != 4 || st.Bytes > 4096 {
		t.Fatalf("repo after get --nocopy of stored content: %+v, %v", st, err)
	}
}

// TestFetchToNoCopyRefuses: get --nocopy of a directory fails without
// leaving anything in the output directory, and of a file whose bytes sit
// in dag-pb leaves writes the file but says the repo keeps its copy.
func TestFetchToNoCopyRefuses(t *testing.T) {
	ctx := context.Background()
	a := startDaemon(t, t.TempDir(), DaemonOptions{})
	dirRes, err := a.Node().Add(ctx, entries(Entry{Path: "d/a.txt", Kind: EntryFile, Content: bytes.NewReader([]byte("a"))}), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := randomData(3<<20, 24)
	v0, err := a.Node().Add(ctx, entries(Entry{Path: "f", Kind: EntryFile, Content: bytes.NewReader(data)}), AddOptions{Profile: "unixfs-v0-2015"})
	if err != nil {
		t.Fatal(err)
	}
	b := startDaemon(t, t.TempDir(), DaemonOptions{})
	outDir := t.TempDir()
	dirOut := filepath.Join(outDir, "d")
	if _, err := b.Node().FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: dirRes.Roots[0], Peers: []string{peerAddr(a)}}, Out: dirOut, NoCopy: true}, nil); err == nil {
		t.Fatal("get --nocopy of a directory succeeded")
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
		t.Fatalf("get --nocopy of a directory left %d entries (%s...)", len(ents), ents[0].Name())
	}
	out := filepath.Join(outDir, "v0.bin")
	_, err = b.Node().FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: v0.Roots[0], Peers: []string{peerAddr(a)}}, Out: out, NoCopy: true}, nil)
	if !errors.Is(err, ErrNoRawLeaves) {
		t.Fatalf("get --nocopy of dag-pb leaves: %v", err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("get --nocopy of dag-pb leaves did not write the file")
	}
	if pinKind(t, b.Node(), v0.Roots[0]) != "recursive" {
		t.Fatal("the download of dag-pb leaves is not pinned")
	}
}

// TestFetchToNoCopyInterrupted: a get --nocopy stopped midway leaves
// neither the output nor its temporary file, keeps the partial pin, and a
// retry completes the file with every leaf a reference.
func TestFetchToNoCopyInterrupted(t *testing.T) {
	const size = 8 << 20
	data := randomData(size, 25)
	a, root := seed(t, data, DaemonOptions{Transfer: TransferOptions{MaxUpload: "4MB/s"}})
	b := startDaemon(t, t.TempDir(), DaemonOptions{})
	outDir := t.TempDir()
	out := filepath.Join(outDir, "out.bin")
	args := FetchToArgs{FetchArgs: FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, Out: out, NoCopy: true}
	interruptFetchTo(t, a, b, args)
	if got := pinKind(t, b.Node(), root); got != "partial" {
		t.Fatalf("pin after interruption: %q", got)
	}
	fr, err := b.Node().FetchTo(context.Background(), args, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("retried get --nocopy wrote other bytes")
	}
	if st, err := b.Node().RepoStat(context.Background()); err != nil || st.Refs != 8 || st.Bytes > 4096 {
		t.Fatalf("repo after the retry: %+v, %v (Direct %d)", st, err, fr.Direct)
	}
}

// TestFetchToNoCopyRepeatedSubtrees: a file made of one repeated chunk,
// laid out narrow and deep so that inner nodes repeat too, comes out
// right with --nocopy, both fresh and over a repo that stored it.
func TestFetchToNoCopyRepeatedSubtrees(t *testing.T) {
	ctx := context.Background()
	chunk := randomData(1024, 26)
	var data []byte
	for i := 0; i < 64; i++ {
		data = append(data, chunk...)
	}
	data = append(data, []byte("tail")...)
	two := 2
	a := startDaemon(t, t.TempDir(), DaemonOptions{})
	res, err := a.Node().Add(ctx, ReaderEntry(bytes.NewReader(data)), AddOptions{Chunker: "size-1024", MaxLinks: &two})
	if err != nil {
		t.Fatal(err)
	}
	root := res.Roots[0]
	b := startDaemon(t, t.TempDir(), DaemonOptions{})
	for _, stored := range []bool{false, true} {
		if stored {
			if _, err := b.Node().Fetch(ctx, FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		out := filepath.Join(t.TempDir(), "out.bin")
		if _, err := b.Node().FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, Out: out, NoCopy: true, Force: true}, nil); err != nil {
			t.Fatalf("stored %v: %v", stored, err)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
			t.Fatalf("stored %v: get --nocopy wrote other bytes (%d of %d)", stored, len(got), len(data))
		}
		if !bytes.Equal(catBytes(t, b.Node(), root), data) {
			t.Fatalf("stored %v: cat through the references differs", stored)
		}
	}
}

// TestFetchToNoCopyLyingSizes: a file node whose block sizes do not match
// its leaves is refused before anything is published, though each block
// hashes right.
func TestFetchToNoCopyLyingSizes(t *testing.T) {
	ctx := context.Background()
	a := startDaemon(t, t.TempDir(), DaemonOptions{})
	long, short := randomData(200, 27), randomData(100, 28)
	var leaves []cid.Cid
	for _, d := range [][]byte{long, short} {
		c, err := block.Sum(1, block.CodecRaw, block.HashSHA256, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Node().store.Put(ctx, c, d); err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, c)
	}
	fsn := pb.FSNode{Type: pb.TFile, FileSize: 200, HasFileSize: true, BlockSizes: []uint64{100, 100}}
	nd := pb.Node{Links: []pb.Link{{Cid: leaves[0]}, {Cid: leaves[1]}}, Data: fsn.Marshal(), HasData: true}
	raw := nd.Marshal()
	root, err := block.Sum(1, block.CodecDagPB, block.HashSHA256, raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Node().store.Put(ctx, root, raw); err != nil {
		t.Fatal(err)
	}
	// Both writers from the download: --nocopy and a plain get of one
	// file (fileout.go).
	for _, nocopy := range []bool{true, false} {
		b := startDaemon(t, t.TempDir(), DaemonOptions{})
		outDir := t.TempDir()
		_, err = b.Node().FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root.String(), Peers: []string{peerAddr(a)}}, Out: filepath.Join(outDir, "out"), NoCopy: nocopy}, nil)
		if !errors.Is(err, unixfs.ErrMalformed) {
			t.Fatalf("get (nocopy %v) of a DAG with lying block sizes: %v, want malformed", nocopy, err)
		}
		if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
			t.Fatalf("a refused get (nocopy %v) left %s", nocopy, ents[0].Name())
		}
	}
}

// TestFetchToNoCopyOtherReader: while a get --nocopy runs, another reader
// of the same download (a streaming get's FetchBlock) gets a leaf the
// download wrote only to the output file, without waiting for the end.
func TestFetchToNoCopyOtherReader(t *testing.T) {
	const size = 8 << 20
	data := randomData(size, 29)
	a, root := seed(t, data, DaemonOptions{Transfer: TransferOptions{MaxUpload: "2MB/s"}})
	b := startDaemon(t, t.TempDir(), DaemonOptions{})
	out := filepath.Join(t.TempDir(), "out.bin")
	wrote := make(chan struct{})
	var once sync.Once
	var received atomic.Int64
	done := make(chan error, 1)
	go func() {
		_, err := b.Node().FetchTo(context.Background(), FetchToArgs{FetchArgs: FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, Out: out, NoCopy: true}, func(p FetchProgress) {
			if p.Received > 0 {
				received.Store(p.Received)
			}
			if p.Wrote >= 1<<20 {
				once.Do(func() { close(wrote) })
			}
		})
		done <- err
	}()
	select {
	case <-wrote:
	case err := <-done:
		t.Fatalf("the download ended before writing a leaf: %v", err)
	}
	first, err := block.Sum(1, block.CodecRaw, block.HashSHA256, data[:1<<20])
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Node().FetchBlock(context.Background(), FetchBlockArgs{Root: root, Cid: first.String()})
	if err != nil || !bytes.Equal(got, data[:1<<20]) {
		t.Fatalf("FetchBlock of a written leaf: %d bytes, %v", len(got), err)
	}
	if got := received.Load(); got >= size {
		t.Fatalf("FetchBlock returned only once the download had received everything (%d bytes)", got)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
