package car

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
)

// FuzzCARReader feeds arbitrary archives to Import. It must not panic or
// hang, every error it returns must be classified (malformed, corrupt,
// unsupported, too large or truncated), and everything it accepts must
// verify and re-read identically.
func FuzzCARReader(f *testing.F) {
	f.Add([]byte{})
	for _, seed := range seedArchives(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := memstore.New()
		roots, n, err := Import(context.Background(), bytes.NewReader(in), s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, block.ErrCorrupt) &&
				!errors.Is(err, block.ErrUnsupported) && !errors.Is(err, block.ErrTooLarge) &&
				!errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if s.Len() > n {
			t.Fatalf("stored %d blocks, reported %d", s.Len(), n)
		}
		for _, c := range s.Keys() {
			data, _ := s.Get(context.Background(), c)
			if err := block.Verify(c, data); err != nil {
				t.Fatalf("accepted unverified block: %v", err)
			}
		}
		// Re-encoding the header we understood gives a header we read back
		// to the same roots.
		h, err := decodeHeader(encodeHeader(roots))
		if err != nil || len(h.roots) != len(roots) {
			t.Fatalf("header round trip: %v", err)
		}
		for i := range roots {
			if !h.roots[i].Equals(roots[i]) {
				t.Fatalf("root %d changed in round trip", i)
			}
		}
	})
}

// FuzzCID checks that go-cid's parsers never panic on hostile input (the
// CAR reader and the path parser depend on it) and that whatever they
// accept round-trips through both binary and string forms.
func FuzzCID(f *testing.F) {
	d := newDAG(f)
	for _, c := range []cid.Cid{d.raw([]byte("a")), d.node(0, nil), d.node(1, []byte("x"))} {
		f.Add(c.Bytes())
		f.Add([]byte(c.String()))
	}
	f.Add([]byte("bafy"))
	f.Add([]byte{0x01, 0x70, 0x12, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		if c, err := cid.Cast(in); err == nil {
			back, err := cid.Cast(c.Bytes())
			if err != nil || !back.Equals(c) {
				t.Fatalf("binary round trip of %x: %v", in, err)
			}
			if s, err := cid.Decode(c.String()); err != nil || !s.Equals(c) {
				t.Fatalf("string round trip of %s: %v", c, err)
			}
		}
		if n, c, err := cid.CidFromBytes(in); err == nil {
			if n > len(in) || !bytes.Equal(in[:n], c.Bytes()) {
				t.Fatalf("CidFromBytes consumed %d of %x, CID bytes %x", n, in, c.Bytes())
			}
		}
		if c, err := cid.Decode(string(in)); err == nil {
			if back, err := cid.Decode(c.String()); err != nil || !back.Equals(c) {
				t.Fatalf("Decode round trip of %q: %v", in, err)
			}
		}
	})
}

// seedArchives returns small valid archives to start the fuzzer from.
func seedArchives(tb testing.TB) [][]byte {
	d := newDAG(tb)
	leaf := d.raw([]byte("leaf"))
	roots := []cid.Cid{
		leaf,
		d.node(1, []byte("inner"), leaf, d.raw(nil)),
		d.node(0, nil, d.node(1, nil, leaf), leaf),
	}
	var out [][]byte
	for _, r := range roots {
		var buf bytes.Buffer
		if err := Export(context.Background(), d.s, r, &buf); err != nil {
			tb.Fatal(err)
		}
		out = append(out, buf.Bytes())
	}
	return out
}
