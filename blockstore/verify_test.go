package blockstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/vlogrot"
)

// TestVerifyFindsAndRepairsRot flips one byte of a block in a value-log
// file on disk. In a sealed file only that block is damaged. In the file
// being written, Badger's recovery on open sees a bad checksum and cuts
// the log there, so that block and every one after it become unreadable:
// verify must report all of them and repair must drop all of them.
func TestVerifyFindsAndRepairsRot(t *testing.T) {
	tests := []struct {
		name   string
		sealed bool // write a value-log file's worth after the DAG
		bad    []int
	}{
		{"sealed value-log file", true, []int{2}},
		{"active value-log file", false, []int{2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testRot(t, tc.sealed, tc.bad)
		})
	}
}

func testRot(t *testing.T, sealed bool, badIdx []int) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := Options{ValueLogFileSize: 1 << 20}
	s := openT(t, dir, opts)
	blocks := dag(t, "rot", 4, 8<<10) // 8 KiB leaves live in the value log
	for _, b := range blocks {
		if err := s.Put(ctx, b.c, b.data); err != nil {
			t.Fatal(err)
		}
	}
	root := blocks[len(blocks)-1].c
	if err := s.Pin(ctx, root, PinOptions{}); err != nil {
		t.Fatal(err)
	}
	nblocks := len(blocks)
	if sealed {
		for i := range 3 {
			f := bytes.Repeat([]byte{byte(i + 1)}, 512<<10)
			if err := s.Put(ctx, rawCid(t, f), f); err != nil {
				t.Fatal(err)
			}
			nblocks++
		}
	}
	res, err := s.Verify(ctx, VerifyOptions{})
	if err != nil || res.Corrupt != 0 || res.DanglingPins != 0 || res.Blocks != int64(nblocks) {
		t.Fatalf("clean store: %+v, %v", res, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	victim := blocks[badIdx[0]]
	vlogrot.Flip(t, dir, victim.data, len(victim.data)/2)
	isBad := func(c cid.Cid) bool {
		for _, i := range badIdx {
			if blocks[i].c.Equals(c) {
				return true
			}
		}
		return false
	}

	s = openT(t, dir, opts)
	var progressed int64
	res, err = s.Verify(ctx, VerifyOptions{Progress: func(b, _ int64) { progressed = b }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Corrupt != len(badIdx) || len(res.Bad) != len(badIdx) {
		t.Fatalf("verify after rot: %+v", res)
	}
	for _, b := range res.Bad {
		if !isBad(cid.NewCidV1(block.CodecRaw, b.Hash)) {
			t.Errorf("verify reports intact block %s", b.Hash.B58String())
		}
	}
	if progressed != int64(nblocks) {
		t.Errorf("progress reached %d blocks, want %d", progressed, nblocks)
	}
	if res.DanglingPins != 1 || res.Dangling[0].Corrupt != len(badIdx) || res.Dangling[0].Missing != 0 {
		t.Fatalf("dangling after rot: %+v", res.Dangling)
	}
	if res.Removed != 0 {
		t.Fatal("verify without repair removed blocks")
	}
	if ok, _ := s.Has(ctx, victim.c); !ok {
		t.Fatal("verify without repair deleted the corrupt block")
	}
	// A verifying store refuses the block rather than return rot.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	vs := openT(t, dir, Options{ValueLogFileSize: opts.ValueLogFileSize, Verify: true})
	if _, err := vs.Get(ctx, victim.c); err == nil {
		t.Fatal("a verifying read returned the corrupt block")
	}
	if err := vs.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, opts)

	res, err = s.Verify(ctx, VerifyOptions{Repair: true})
	if err != nil || res.Corrupt != len(badIdx) || res.Removed != len(badIdx) {
		t.Fatalf("repair: %+v, %v", res, err)
	}
	if res.DanglingPins != 1 || res.Dangling[0].Missing != len(badIdx) || res.Dangling[0].Corrupt != 0 {
		t.Fatalf("after repair the pin should lack the dropped blocks: %+v", res.Dangling)
	}
	for _, b := range blocks {
		ok, err := s.Has(ctx, b.c)
		if err != nil {
			t.Fatal(err)
		}
		if isBad(b.c) {
			if ok {
				t.Fatalf("repair left corrupt block %s", b.c)
			}
			continue
		}
		if got, err := s.Get(ctx, b.c); err != nil || !bytes.Equal(got, b.data) {
			t.Fatalf("repair damaged good block %s: %v", b.c, err)
		}
	}

	// A refetch puts good copies back, and the repo is clean again.
	for _, i := range badIdx {
		if err := s.Put(ctx, blocks[i].c, blocks[i].data); err != nil {
			t.Fatal(err)
		}
	}
	res, err = s.Verify(ctx, VerifyOptions{})
	if err != nil || res.Corrupt != 0 || res.DanglingPins != 0 {
		t.Fatalf("after refetch: %+v, %v", res, err)
	}
}

func TestVerifyDangling(t *testing.T) {
	ctx := context.Background()
	blocks := dag(t, "dangle", 3, 2<<10)
	root := blocks[len(blocks)-1]
	leaf := blocks[0]
	other := rawCid(t, []byte("never stored"))
	tests := []struct {
		name        string
		store       []blk
		pin         cid.Cid
		kind        PinKind
		wantDangle  int
		wantMissing int
	}{
		{"complete recursive", blocks, root.c, PinRecursive, 0, 0},
		{"recursive lacking a leaf", blocks[1:], root.c, PinRecursive, 1, 1},
		{"recursive lacking its root", nil, root.c, PinRecursive, 1, 1},
		{"direct present", []blk{leaf}, leaf.c, PinDirect, 0, 0},
		{"direct absent", nil, other, PinDirect, 1, 1},
		{"direct on a root ignores its children", []blk{root}, root.c, PinDirect, 0, 0},
		{"partial is never dangling", blocks[1:], root.c, PinPartial, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openT(t, t.TempDir(), Options{})
			for _, b := range tc.store {
				if err := s.Put(ctx, b.c, b.data); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Pin(ctx, tc.pin, PinOptions{Kind: tc.kind}); err != nil {
				t.Fatal(err)
			}
			res, err := s.Verify(ctx, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Corrupt != 0 || res.DanglingPins != tc.wantDangle {
				t.Fatalf("got %+v", res)
			}
			if tc.wantDangle > 0 && (res.Dangling[0].Missing != tc.wantMissing || !res.Dangling[0].Pin.Cid.Equals(tc.pin)) {
				t.Fatalf("dangling %+v", res.Dangling)
			}
		})
	}
}

func TestVerifyCancelled(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	for _, b := range dag(t, "cancel", 8, 100) {
		if err := s.Put(ctx, b.c, b.data); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	_, err := s.Verify(ctx, VerifyOptions{Progress: func(int64, int64) {
		if n++; n == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n != 2 {
		t.Fatalf("verify went on for %d blocks after Ctrl-C", n-2)
	}
}

// BenchmarkVerify measures Store.Verify over 64 MiB of 256 KiB blocks
// against bare SHA-256 of the same bytes in the same run, so the figure in
// docs/reliability.md is the store's overhead, not the machine's speed.
func BenchmarkVerify(b *testing.B) {
	const size, n = 256 << 10, 256
	ctx := context.Background()
	s := openT(b, b.TempDir(), Options{})
	data := make([][]byte, n)
	for i := range data {
		d := bytes.Repeat([]byte{byte(i), byte(i >> 8), 7}, size/3+1)[:size]
		data[i] = d
		if err := s.Put(ctx, rawCid(b, d), d); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
	b.Run("store", func(b *testing.B) {
		b.SetBytes(size * n)
		for b.Loop() {
			res, err := s.Verify(ctx, VerifyOptions{})
			if err != nil || res.Corrupt != 0 || res.Blocks != n {
				b.Fatal(res, err)
			}
		}
	})
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(size * n)
		for b.Loop() {
			for _, d := range data {
				sha256.Sum256(d)
			}
		}
	})
}

// TestCheckReads: with CheckReads a block that rotted on disk, in the
// value log or among the small values in Badger's tables, is read as
// ErrCorrupt, never as bytes; without it the damaged bytes come back.
func TestCheckReads(t *testing.T) {
	for _, check := range []bool{true, false} {
		ctx := context.Background()
		dir := t.TempDir()
		s := openT(t, dir, Options{CheckReads: check, ValueLogFileSize: 1 << 20})
		if s.ChecksReads() != check {
			t.Fatalf("ChecksReads() = %v with CheckReads %v", s.ChecksReads(), check)
		}
		big, ok := make([]byte, 8000), make([]byte, 8000)
		rand.Read(big)
		rand.Read(ok)
		small := rawCid(t, []byte("small and honest"))
		for _, d := range [][]byte{big, ok} {
			if err := s.Put(ctx, rawCid(t, d), d); err != nil {
				t.Fatal(err)
			}
		}
		// Small values live in Badger's tables, which it does not check
		// on read: these bytes do not match their CID, as rot would not.
		if err := s.Put(ctx, small, []byte("small and rotten")); err != nil {
			t.Fatal(err)
		}
		vlogrot.Flip(t, dir, big, len(big)/2)
		for _, tc := range []struct {
			name string
			c    cid.Cid
			bad  bool
		}{
			{"flipped in the value log", rawCid(t, big), true},
			{"wrong bytes in a table", small, true},
			{"untouched", rawCid(t, ok), false},
		} {
			_, err := s.Get(ctx, tc.c)
			data, release, lerr := s.Lend(ctx, tc.c)
			if lerr == nil {
				_ = data
				release()
			}
			switch {
			case tc.bad && check:
				if !errors.Is(err, block.ErrCorrupt) || !errors.Is(lerr, block.ErrCorrupt) {
					t.Errorf("%s: Get %v, Lend %v; want ErrCorrupt", tc.name, err, lerr)
				}
				// The value-log case is Badger's CRC, not a re-hash of
				// the empty value it hands back; its size is unknown.
				if tc.c.Equals(rawCid(t, big)) {
					if !strings.Contains(err.Error(), "value-log entry") {
						t.Errorf("%s: %v; want Badger's checksum failure", tc.name, err)
					}
					if _, serr := s.Size(ctx, tc.c); !errors.Is(serr, block.ErrCorrupt) {
						t.Errorf("%s: Size %v; want ErrCorrupt", tc.name, serr)
					}
				}
			default:
				if err != nil || lerr != nil {
					t.Errorf("%s (CheckReads %v): Get %v, Lend %v; want the bytes", tc.name, check, err, lerr)
				}
			}
		}
	}
}
