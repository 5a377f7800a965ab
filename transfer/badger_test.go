package transfer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trove-p2p/trove/blockstore"
)

// TestFetchBadgerResumeAcrossRestart: seeder and downloader on real
// Badger stores; the downloader is interrupted, its store closed and
// reopened (as after a crash or Ctrl-C), and the second run transfers
// only what is missing.
func TestFetchBadgerResumeAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seedStore, err := blockstore.Open(t.TempDir(), blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer seedStore.Close()
	h := newHost(t)
	srv := NewServer(h, seedStore, ServerOptions{PeerRate: 8 << 20})
	defer srv.Close()
	data := randomBytes(t, 3<<20)
	root, leaves := buildFile(t, data, 256<<10, 174, seedStore)

	dir := t.TempDir()
	local, err := blockstore.Open(dir, blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx1, cancel1 := context.WithCancel(ctx)
	f1 := NewFetcher(newHost(t), local, FetchOptions{SpanBytes: 256 << 10, Window: 512 << 10,
		ProgressInterval: time.Millisecond,
		OnProgress: func(p Progress) {
			if p.Have >= int64(len(data))/2 {
				cancel1()
			}
		}})
	if err := f1.Fetch(ctx1, root, addrInfo(h)); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted fetch: %v", err)
	}
	f1.Close()
	if err := local.Close(); err != nil {
		t.Fatal(err)
	}

	local, err = blockstore.Open(dir, blockstore.Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	var have int64
	for _, c := range leaves {
		if ok, _ := local.Has(ctx, c); ok {
			b, err := local.Get(ctx, c) // Verify: true re-hashes
			if err != nil {
				t.Fatal(err)
			}
			have += int64(len(b))
		}
	}
	if have == 0 || have == int64(len(data)) {
		t.Fatalf("after interruption %d of %d bytes stored; need a partial store", have, len(data))
	}
	var last Progress
	f2 := NewFetcher(newHost(t), local, FetchOptions{OnProgress: func(p Progress) { last = p }})
	if err := f2.Fetch(ctx, root, addrInfo(h)); err != nil {
		t.Fatal(err)
	}
	if want := int64(len(data)) - have; last.Bytes != want {
		t.Fatalf("resumed fetch received %d bytes, want the %d missing", last.Bytes, want)
	}
	var got []byte
	for _, c := range leaves {
		b, err := local.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
	}
	if string(got) != string(data) {
		t.Fatal("file differs after resume")
	}
}
