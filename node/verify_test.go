package node

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/vlogrot"
)

// TestRepoVerifyRotServedNeverRepairRefetch: a byte of a stored leaf rots
// under a running daemon A. Verify through A's API names that block and the
// pin holding it; A refuses to serve it, so a peer B fetching from A alone
// fails without storing anything bad and without banning A, and fetching
// from A plus an honest seeder S completes with identical bytes. Repair
// drops the block, a fetch from S puts it back, and verify (through the
// daemon, then offline) is clean.
func TestRepoVerifyRotServedNeverRepairRefetch(t *testing.T) {
	ctx := context.Background()
	data := randomData(3<<20+1234, 12)
	s, root := seed(t, data, DaemonOptions{})
	aDir := t.TempDir()
	a := startDaemon(t, aDir, DaemonOptions{})
	if _, err := a.Node().Add(ctx, ReaderEntry(bytes.NewReader(data)), AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := a.Node().Blockstore().Sync(); err != nil {
		t.Fatal(err)
	}
	// The second 1 MiB chunk is one raw leaf.
	leaf, err := block.Sum(1, block.CodecRaw, block.HashSHA256, data[1<<20:2<<20])
	if err != nil {
		t.Fatal(err)
	}
	needle := data[1<<20 : 1<<20+4096]
	vlogrot.Flip(t, a.Node().Repo().BlocksPath(), needle, len(needle)/2)

	ra := dialRemote(t, aDir)
	res, err := ra.RepoVerify(ctx, RepoVerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Clean() || res.Corrupt != 1 || len(res.CorruptBlocks) != 1 || res.DanglingPins != 1 {
		t.Fatalf("verify through the daemon: %+v", res)
	}
	if bad := mustParse(t, res.CorruptBlocks[0].Cid); !bytes.Equal(bad.Hash(), leaf.Hash()) {
		t.Fatalf("verify names %s, the rotten leaf is %s", bad, leaf)
	}
	if d := res.Dangling[0]; d.Cid != root || d.Corrupt != 1 || d.First != leaf.String() {
		t.Fatalf("dangling pin: %+v", d)
	}

	b := startDaemon(t, t.TempDir(), DaemonOptions{})
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := b.Node().Fetch(fctx, FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, nil); err == nil {
		t.Fatal("fetch from the rotten seeder alone succeeded")
	}
	t.Logf("fetch from the rotten seeder alone failed after %v", time.Since(start).Round(time.Millisecond))
	if ok, _ := b.Node().Blockstore().Has(ctx, leaf); ok {
		t.Fatal("the rotten leaf reached the peer's store")
	}
	if _, err := b.Node().Fetch(ctx, FetchArgs{Path: root, Peers: []string{peerAddr(a), peerAddr(s)}}, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(catBytes(t, b.Node(), root), data) {
		t.Fatal("fetched content differs")
	}
	if b.Node().xfer.fetcher.Banned(a.P2P().ID()) {
		t.Fatal("the peer banned A: A sent it bytes that failed verification")
	}

	var events int
	res, err = ra.RepoVerify(ctx, RepoVerifyOptions{Repair: true, Progress: func(VerifyProgress) { events++ }})
	if err != nil || res.Removed != 1 || res.DanglingPins != 1 || res.Dangling[0].Missing != 1 {
		t.Fatalf("repair: %+v, %v", res, err)
	}
	if ok, _ := a.Node().Blockstore().Has(ctx, leaf); ok {
		t.Fatal("repair left the rotten leaf")
	}
	if _, err := a.Node().Fetch(ctx, FetchArgs{Path: root, Peers: []string{peerAddr(s)}}, nil); err != nil {
		t.Fatal(err)
	}
	if res, err = ra.RepoVerify(ctx, RepoVerifyOptions{}); err != nil || !res.Clean() || res.Corrupt != 0 {
		t.Fatalf("after refetch: %+v, %v", res, err)
	}
	if !bytes.Equal(catBytes(t, a.Node(), root), data) {
		t.Fatal("refetched content differs")
	}

	ra.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening, Badger checks the newest value-log file entry by entry
	// and cuts it at the first bad checksum: the rotten entry is still
	// there (deleted keys keep their bytes until value-log GC), so every
	// block written after it in that file, the refetched leaf too, is
	// lost. Verify offline must see that, and repair plus a refetch must
	// bring the repo back.
	n := openNode(t, aDir, Options{})
	res, err = n.RepoVerify(ctx, RepoVerifyOptions{Repair: true, Progress: func(VerifyProgress) {}})
	if err != nil || res.Corrupt == 0 || res.Removed != res.Corrupt || res.DanglingPins != 1 {
		t.Fatalf("offline verify after Badger's recovery: %+v, %v", res, err)
	}
	t.Logf("after reopen Badger's recovery left %d of %d blocks unreadable", res.Corrupt, res.Blocks)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	a = startDaemon(t, aDir, DaemonOptions{})
	if _, err := a.Node().Fetch(ctx, FetchArgs{Path: root, Peers: []string{peerAddr(s)}}, nil); err != nil {
		t.Fatal(err)
	}
	if res, err = a.Node().RepoVerify(ctx, RepoVerifyOptions{}); err != nil || !res.Clean() {
		t.Fatalf("after the second refetch: %+v, %v", res, err)
	}
	if !bytes.Equal(catBytes(t, a.Node(), root), data) {
		t.Fatal("refetched content differs")
	}
}
