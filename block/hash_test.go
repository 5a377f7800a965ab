package block

import (
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
)

func TestSumMatchesGoCID(t *testing.T) {
	data := []byte("hello world")
	// IPIP-499 fixture: "hello world" as a raw CIDv1 sha2-256 leaf.
	const want = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
	got, err := Sum(1, CodecRaw, HashSHA256, data)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != want {
		t.Fatalf("Sum = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		v     int
		codec uint64
		hash  uint64
	}{{0, CodecDagPB, HashSHA256}, {1, CodecDagPB, HashSHA256}, {1, CodecRaw, HashBLAKE3}} {
		c, err := Sum(tc.v, tc.codec, tc.hash, data)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := c.Prefix().Sum(data)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Equals(ref) {
			t.Errorf("%+v: Sum = %s, go-cid says %s", tc, c, ref)
		}
		if err := Verify(c, data); err != nil {
			t.Errorf("Verify(%s): %v", c, err)
		}
		if err := Verify(c, []byte("hello worle")); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Verify of wrong bytes = %v, want ErrCorrupt", err)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	c, _ := Sum(1, CodecRaw, HashSHA256, []byte("x"))
	if err := Verify(c, make([]byte, MaxSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize: %v", err)
	}
	md5, _ := cid.Prefix{Version: 1, Codec: CodecRaw, MhType: 0xd5, MhLength: -1}.Sum([]byte("x"))
	if err := Verify(md5, []byte("x")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("md5: %v", err)
	}
	if _, err := Sum(0, CodecRaw, HashSHA256, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("v0 raw: %v", err)
	}
}

func BenchmarkVerify1MiB(b *testing.B) {
	data := make([]byte, 1<<20)
	c, _ := Sum(1, CodecRaw, HashSHA256, data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := Verify(c, data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVerifyOtherHashes: sha2-512 CIDs (content made elsewhere) verify,
// tampered bytes do not, and unknown hash functions stay unsupported.
func TestVerifyOtherHashes(t *testing.T) {
	data := []byte("made by another implementation")
	c, err := cid.Prefix{Version: 1, Codec: CodecRaw, MhType: 0x13, MhLength: -1}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(c, data); err != nil {
		t.Fatalf("sha2-512: %v", err)
	}
	if err := Verify(c, append([]byte("x"), data...)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered sha2-512: %v, want ErrCorrupt", err)
	}
	md5, err := cid.Prefix{Version: 1, Codec: CodecRaw, MhType: 0xd5, MhLength: -1}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(md5, data); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("md5: %v, want ErrUnsupported", err)
	}
}
