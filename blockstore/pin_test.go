package blockstore

import (
	"context"
	"errors"
	"testing"

	"github.com/trove-p2p/trove/block"
)

func TestPins(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	a, b, c := rawCid(t, []byte("a")), rawCid(t, []byte("b")), rawCid(t, []byte("c"))
	steps := []struct {
		name string
		do   func() error
		want map[string]Pin // by CID string
	}{
		{"pin recursive with name", func() error { return s.Pin(ctx, a, PinOptions{Name: "photos"}) },
			map[string]Pin{a.String(): {a, PinRecursive, "photos"}}},
		{"pin direct", func() error { return s.Pin(ctx, b, PinOptions{Kind: PinDirect}) },
			map[string]Pin{a.String(): {a, PinRecursive, "photos"}, b.String(): {b, PinDirect, ""}}},
		{"re-pin replaces", func() error { return s.Pin(ctx, a, PinOptions{Kind: PinPartial}) },
			map[string]Pin{a.String(): {a, PinPartial, ""}, b.String(): {b, PinDirect, ""}}},
		{"unpin", func() error { return s.Unpin(ctx, b) },
			map[string]Pin{a.String(): {a, PinPartial, ""}}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		pins, err := s.Pins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(pins) != len(st.want) {
			t.Fatalf("%s: Pins = %v, want %v", st.name, pins, st.want)
		}
		for _, p := range pins {
			w, ok := st.want[p.Cid.String()]
			if !ok || !w.Cid.Equals(p.Cid) || w.Kind != p.Kind || w.Name != p.Name {
				t.Fatalf("%s: pin %+v, want %+v", st.name, p, w)
			}
			if ok, err := s.IsPinned(ctx, p.Cid); !ok || err != nil {
				t.Fatalf("%s: IsPinned(%s) = %v, %v", st.name, p.Cid, ok, err)
			}
		}
	}
	if ok, err := s.IsPinned(ctx, c); ok || err != nil {
		t.Fatalf("IsPinned(unpinned) = %v, %v", ok, err)
	}
	if err := s.Unpin(ctx, c); !errors.Is(err, block.ErrNotFound) {
		t.Fatalf("Unpin(unpinned) = %v", err)
	}
	if err := s.Pin(ctx, c, PinOptions{Kind: 9}); err == nil {
		t.Fatal("Pin with unknown kind succeeded")
	}
}

func FuzzDecodePin(f *testing.F) {
	c, _ := block.Sum(1, block.CodecRaw, block.HashSHA256, []byte("x"))
	f.Add(c.Bytes(), encodePin(PinOptions{Kind: PinDirect, Name: "n"}))
	f.Add(c.Bytes(), []byte{1})
	f.Add([]byte{0x12}, []byte{1, 0})
	f.Fuzz(func(t *testing.T, key, val []byte) {
		p, err := decodePin(key, val)
		if err != nil {
			if !errors.Is(err, ErrBadPin) {
				t.Fatalf("error %v does not wrap ErrBadPin", err)
			}
			return
		}
		// A decoded pin must re-encode to the same record.
		if got := encodePin(PinOptions{Kind: p.Kind, Name: p.Name}); string(got) != string(val) {
			t.Fatalf("re-encoded %x, stored %x", got, val)
		}
		if string(p.Cid.Bytes()) != string(key) {
			t.Fatalf("CID %x re-encodes as %x", key, p.Cid.Bytes())
		}
	})
}
