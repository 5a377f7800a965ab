package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/unixfs"
)

// storedBytes is the block bytes d's store holds.
func storedBytes(t *testing.T, d *Daemon) int64 {
	t.Helper()
	st, err := d.Node().RepoStat(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Bytes
}

// TestContentRangeFetchesOnlyItsBlocks: a read at an offset of a remote
// file fetches the blocks that cover it (and the read-ahead window), not
// the whole DAG, while Whole reads fetch everything; both verify and
// return the seeder's bytes.
func TestContentRangeFetchesOnlyItsBlocks(t *testing.T) {
	ctx := context.Background()
	const size = 64 << 20 // 64 leaves of 1 MiB
	data := randomData(size, 7)
	a, root := seed(t, data, DaemonOptions{})
	b := startDaemon(t, t.TempDir(), DaemonOptions{})
	before := storedBytes(t, b)

	src := b.Node().Content(Source{Peers: []peer.AddrInfo{a.P2P().AddrInfo()}, NoDHT: true})
	c, err := src.Resolve(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	f, err := src.Open(ctx, c, OpenOptions{File: unixfs.FileOptions{Prefetch: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Size() != size {
		t.Errorf("size %d, want %d", f.Size(), size)
	}
	// An odd offset straddling a leaf boundary.
	off := int64(40<<20 - 1234)
	buf := make([]byte, 5000)
	if _, err := f.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	// A reader's fetches are no download: `trove stats` lists none.
	if st, err := b.Node().Transfers(); err != nil || len(st.Downloads) != 0 {
		t.Errorf("stats while a range reader is open: %+v, %v; want no downloads", st.Downloads, err)
	}
	f.Close()
	if !bytes.Equal(buf, data[off:off+int64(len(buf))]) {
		t.Fatal("range read returned other bytes than the seeder's")
	}
	got := storedBytes(t, b) - before
	// Two leaves and the root: a few MiB at most, nowhere near 64.
	if got <= 0 || got > 4<<20 {
		t.Errorf("a 5000-byte range read stored %d bytes; want the two leaves it touches", got)
	}

	// A whole read streams the file and downloads the rest.
	f, err = src.Open(ctx, c, OpenOptions{Whole: true})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("whole read differs from the seeder's file")
	}
}

// TestContentOffline: an offline source never asks peers, so a missing
// block fails at once with ErrNotFound even while a provider is connected.
func TestContentOffline(t *testing.T) {
	ctx := context.Background()
	data := randomData(3<<20, 8)
	a, root := seed(t, data, DaemonOptions{})
	b := startDaemon(t, t.TempDir(), DaemonOptions{})
	if err := b.P2P().Connect(ctx, a.P2P().AddrInfo()); err != nil {
		t.Fatal(err)
	}
	src := b.Node().Content(Source{Offline: true})
	c, err := src.Resolve(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := src.Stat(ctx, c); !errors.Is(err, block.ErrNotFound) {
		t.Fatalf("offline stat of remote content: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("offline stat took %v", d)
	}
	if ok, _ := b.Node().Blockstore().Has(ctx, c); ok {
		t.Error("offline read fetched the block")
	}
	// The same node online finds it through the connected peer.
	if _, err := b.Node().Content(Source{}).Stat(ctx, c); err != nil {
		t.Fatalf("online stat: %v", err)
	}
}

// TestPinnedRoots: recursive and direct pins are listed once each;
// partial pins (downloads under way) and unpinned content
// are not.
func TestPinnedRoots(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	add := func(data string, o AddOptions) cid.Cid {
		t.Helper()
		res, err := n.Add(ctx, ReaderEntry(strings.NewReader(data)), o)
		if err != nil {
			t.Fatal(err)
		}
		return mustParse(t, res.Roots[0])
	}
	rec := add("recursive", AddOptions{})
	direct := add("direct", AddOptions{NoPin: true})
	if _, err := n.PinAdd(ctx, direct.String(), PinAddOptions{Direct: true}); err != nil {
		t.Fatal(err)
	}
	partial := add("partial", AddOptions{NoPin: true})
	if err := n.Blockstore().Pin(ctx, partial, blockstore.PinOptions{Kind: blockstore.PinPartial}); err != nil {
		t.Fatal(err)
	}
	add("loose", AddOptions{NoPin: true})
	add("recursive", AddOptions{}) // the same root again

	got, err := n.Content(Source{Offline: true}).PinnedRoots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{rec.String(): true, direct.String(): true}
	if len(got) != len(want) {
		t.Fatalf("PinnedRoots = %v, want %v", got, want)
	}
	for _, c := range got {
		if !want[c.String()] {
			t.Errorf("PinnedRoots lists %s, which is not a recursive or direct pin", c)
		}
	}
}
