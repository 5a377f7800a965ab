package node

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trove-p2p/trove/node/api"
)

// TestFetchTo: a client of the daemon's own user on the unix socket has
// the daemon download and write the output itself (progress includes the
// bytes written, the result both halves, the DAG ends pinned); a client on
// the TCP API is refused with ErrWriteRefused, so it writes the output
// itself; a relative output path is a bad request.
func TestFetchTo(t *testing.T) {
	data := randomData(5<<20+3, 21)
	a, root := seed(t, data, DaemonOptions{})
	dir := t.TempDir()
	b := startDaemon(t, dir, DaemonOptions{APIAddr: "127.0.0.1:0"})
	r := dialRemote(t, dir)
	if r.c.Addr().Network != "unix" {
		t.Fatalf("dialled %v, want the unix socket", r.c.Addr())
	}
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out.bin")
	var wrote atomic.Int64
	var progress atomic.Int32
	res, err := r.FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, Out: out}, func(p FetchProgress) {
		if p.Wrote > 0 {
			wrote.Store(p.Wrote)
		} else {
			progress.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("output: %d bytes, %v; want the %d bytes seeded", len(got), err, len(data))
	}
	if res.Get.Bytes != int64(len(data)) || res.Get.Files != 1 || res.Get.Path != out || res.Fetch.Pin != "recursive" {
		t.Errorf("result %+v", res)
	}
	if wrote.Load() != int64(len(data)) {
		t.Errorf("last Wrote event %d, want %d", wrote.Load(), len(data))
	}
	if got := pinKind(t, b.Node(), root); got != "recursive" {
		t.Errorf("pin after FetchTo: %q", got)
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 1 {
		t.Errorf("output dir holds %d entries, want just the file", len(ents))
	}

	// Again: the output exists, so without Force it is refused.
	if _, err := r.FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root}, Out: out}, nil); !errors.Is(err, os.ErrExist) {
		t.Errorf("second FetchTo onto the same path: %v, want exists", err)
	}
	if _, err := r.FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root}, Out: "rel/out"}, nil); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("relative output: %v, want a bad request", err)
	}

	rt := NewRemote(dialTCP(t, b, dir))
	other := filepath.Join(t.TempDir(), "other.bin")
	if _, err := rt.FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root}, Out: other}, nil); !errors.Is(err, ErrWriteRefused) {
		t.Errorf("FetchTo over TCP: %v, want ErrWriteRefused", err)
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused FetchTo wrote %s: %v", other, err)
	}
}

// TestFetchToFileFromDownload: a plain get of one file into a new name is
// written from the download (Direct counts those bytes) while the repo
// stores every block too; interrupted, it leaves no file and keeps what
// arrived, and the retry writes the stored leaves from the repo and the
// rest from the download. A directory root goes through WriteTo.
func TestFetchToFileFromDownload(t *testing.T) {
	const size = 8 << 20
	data := randomData(size, 31)
	a, root := seed(t, data, DaemonOptions{Transfer: TransferOptions{MaxUpload: "4MB/s"}})
	b := startDaemon(t, t.TempDir(), DaemonOptions{})
	outDir := t.TempDir()
	out := filepath.Join(outDir, "out.bin")
	args := FetchToArgs{FetchArgs: FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, Out: out}

	interruptFetchTo(t, a, b, args)
	st, _ := b.Node().RepoStat(context.Background())
	if st.Bytes < 2<<20 {
		t.Fatalf("the repo kept %d bytes of the interrupted download, want the 2 MiB written", st.Bytes)
	}

	res, err := b.Node().FetchTo(context.Background(), args, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("the retried get wrote other bytes")
	}
	if res.Direct <= 0 || res.Direct >= size || res.Get.Bytes != size || res.Fetch.Pin != "recursive" {
		t.Fatalf("retry: Direct %d of %d, result %+v; want part from the download, part from the repo", res.Direct, size, res)
	}
	// Every block is in the repo: with the seeder gone, the file reads
	// back from it alone.
	a.Close()
	var buf bytes.Buffer
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if _, err := b.Node().Cat(cctx, root, &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("cat from the repo after the get: %d bytes, %v", buf.Len(), err)
	}

	// A directory: WriteTo writes it, and no temporary file is left.
	tree := t.TempDir()
	os.WriteFile(filepath.Join(tree, "f"), data[:1000], 0o644)
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.WriteFile(filepath.Join(tree, "sub", "g"), data[1000:3000], 0o644)
	ar, err := b.Node().Add(context.Background(), FileEntries([]string{tree}, true), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := startDaemon(t, t.TempDir(), DaemonOptions{})
	treeOut := filepath.Join(outDir, "tree")
	tr, err := c.Node().FetchTo(context.Background(), FetchToArgs{FetchArgs: FetchArgs{Path: ar.Roots[len(ar.Roots)-1], Peers: []string{peerAddr(b)}}, Out: treeOut}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Direct != 0 || tr.Get.Files != 2 {
		t.Fatalf("tree: %+v", tr)
	}
	if got, _ := os.ReadFile(filepath.Join(treeOut, "sub", "g")); !bytes.Equal(got, data[1000:3000]) {
		t.Fatal("tree: sub/g differs")
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != 2 {
		t.Fatalf("output dir holds %d entries, want out.bin and tree", len(ents))
	}
}

// interruptFetchTo runs args on b, cancels it once 2 MiB are written, and
// requires that it failed as cancelled and left nothing in the output's
// directory; then it lifts seeder a's upload cap for the retry.
func interruptFetchTo(t *testing.T, a, b *Daemon, args FetchToArgs) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := b.Node().FetchTo(ctx, args, func(p FetchProgress) {
		if p.Wrote > 2<<20 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted get (nocopy %v): %v", args.NoCopy, err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(args.Out)); len(ents) != 0 {
		t.Fatalf("interrupted get (nocopy %v) left %s", args.NoCopy, ents[0].Name())
	}
	zero := "0"
	if _, err := a.Node().SetLimits(LimitsArgs{MaxUpload: &zero}); err != nil {
		t.Fatal(err)
	}
}
