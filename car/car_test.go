package car

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-varint"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// dag builds blocks into a memstore and remembers every CID it made.
type dag struct {
	t testing.TB
	s *memstore.Store
}

func newDAG(t testing.TB) *dag { return &dag{t: t, s: memstore.New()} }

func (d *dag) raw(data []byte) cid.Cid {
	d.t.Helper()
	c, err := block.Sum(1, block.CodecRaw, block.HashSHA256, data)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := d.s.Put(context.Background(), c, data); err != nil {
		d.t.Fatal(err)
	}
	return c
}

func (d *dag) node(version int, data []byte, children ...cid.Cid) cid.Cid {
	d.t.Helper()
	n := &pb.Node{Data: data, HasData: data != nil}
	for i, ch := range children {
		n.Links = append(n.Links, pb.Link{Cid: ch, Name: fmt.Sprint(i), HasName: true})
	}
	b := n.Marshal()
	c, err := block.Sum(version, block.CodecDagPB, block.HashSHA256, b)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := d.s.Put(context.Background(), c, b); err != nil {
		d.t.Fatal(err)
	}
	return c
}

// preorder is the reference walk Export must match: recursive DFS,
// node before children, each CID once.
func preorder(t *testing.T, s *memstore.Store, root cid.Cid) []cid.Cid {
	seen := map[string]bool{}
	var out []cid.Cid
	var walk func(c cid.Cid)
	walk = func(c cid.Cid) {
		if seen[c.KeyString()] {
			return
		}
		seen[c.KeyString()] = true
		out = append(out, c)
		if c.Type() != block.CodecDagPB {
			return
		}
		data, err := s.Get(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		n, err := pb.Unmarshal(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range n.Links {
			walk(l.Cid)
		}
	}
	walk(root)
	return out
}

// randomDAG builds a tree of the given depth and fanout whose leaves are
// random raw blocks; some subtrees and leaves are shared, so the DAG has
// repeats the exporter must skip.
func randomDAG(d *dag, rng *rand.Rand, depth, fanout int, shared []cid.Cid) (cid.Cid, []cid.Cid) {
	if depth == 0 {
		if len(shared) > 0 && rng.IntN(4) == 0 {
			return shared[rng.IntN(len(shared))], shared
		}
		buf := make([]byte, rng.IntN(3000))
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		c := d.raw(buf)
		return c, append(shared, c)
	}
	var kids []cid.Cid
	for range 1 + rng.IntN(fanout) {
		var k cid.Cid
		k, shared = randomDAG(d, rng, depth-1, fanout, shared)
		kids = append(kids, k)
	}
	c := d.node(1, []byte{byte(depth)}, kids...)
	if rng.IntN(3) == 0 {
		shared = append(shared, c)
	}
	return c, shared
}

func readAll(t *testing.T, b []byte) ([]cid.Cid, []cid.Cid, [][]byte) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var cids []cid.Cid
	var datas [][]byte
	for {
		c, d, err := r.Next()
		if err == io.EOF {
			return r.Roots(), cids, datas
		}
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, c)
		datas = append(datas, d)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			d := newDAG(t)
			root, _ := randomDAG(d, rng, 1+int(seed%4), 5, nil)
			if seed == 5 {
				// A CIDv0 root over a CIDv1 subtree.
				root = d.node(0, nil, root, d.raw([]byte("x")))
			}
			var buf bytes.Buffer
			if err := Export(ctx, d.s, root, &buf); err != nil {
				t.Fatal(err)
			}
			roots, got, datas := readAll(t, buf.Bytes())
			if len(roots) != 1 || !roots[0].Equals(root) {
				t.Fatalf("roots = %v, want [%s]", roots, root)
			}
			want := preorder(t, d.s, root)
			if len(got) != len(want) {
				t.Fatalf("%d blocks, want %d", len(got), len(want))
			}
			for i := range want {
				if !got[i].Equals(want[i]) {
					t.Fatalf("block %d = %s, want %s (not DFS pre-order)", i, got[i], want[i])
				}
				orig, _ := d.s.Get(ctx, want[i])
				if !bytes.Equal(orig, datas[i]) {
					t.Fatalf("block %d bytes differ", i)
				}
			}

			dst := memstore.New()
			roots, n, err := Import(ctx, bytes.NewReader(buf.Bytes()), dst)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(want) || dst.Len() != len(want) || !roots[0].Equals(root) {
				t.Fatalf("Import: %d blocks, store has %d, want %d", n, dst.Len(), len(want))
			}
			// Exporting the imported copy gives the same bytes.
			var again bytes.Buffer
			if err := Export(ctx, dst, root, &again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Bytes(), buf.Bytes()) {
				t.Fatal("re-export differs")
			}
		})
	}
}

func TestHeaderEncoding(t *testing.T) {
	// Hand-derived from the CAR v1 and dag-cbor specs: map(2) "roots"
	// array(1) tag(42) bytes(35) 0x00 <CIDv0> "version" 1.
	d := newDAG(t)
	root := d.node(0, nil)
	want := []byte{0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x81, 0xd8, 0x2a, 0x58, 35, 0x00}
	want = append(want, root.Bytes()...)
	want = append(want, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01)
	if got := encodeHeader([]cid.Cid{root}); !bytes.Equal(got, want) {
		t.Fatalf("header\n got %x\nwant %x", got, want)
	}
	h, err := decodeHeader(want)
	if err != nil || h.version != 1 || len(h.roots) != 1 || !h.roots[0].Equals(root) {
		t.Fatalf("decode = %+v, %v", h, err)
	}
}

// frame prefixes b with its varint length, as CAR does for the header and
// every section.
func frame(b []byte) []byte { return append(varint.ToUvarint(uint64(len(b))), b...) }

func section(c cid.Cid, data []byte) []byte { return frame(append(c.Bytes(), data...)) }

func TestReaderRejects(t *testing.T) {
	d := newDAG(t)
	good := d.raw([]byte("good block"))
	hdr := frame(encodeHeader([]cid.Cid{good}))
	hdrLen := len(hdr)
	sec := section(good, []byte("good block"))
	corrupt := section(good, []byte("evil block"))
	// dag-jose: a codec trove does not know.
	cbor, err := block.Sum(1, 0x85, block.HashSHA256, []byte{0xa0})
	if err != nil {
		t.Fatal(err)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	hugeLen := varint.ToUvarint(maxSectionSize + 1)
	tests := []struct {
		name    string
		in      []byte
		wantErr error
		msg     string // substring the error must contain
	}{
		{"empty", nil, ErrMalformed, "no header"},
		{"header length zero", []byte{0}, ErrMalformed, "header length"},
		{"header length huge", varint.ToUvarint(1 << 40), ErrMalformed, "header length"},
		{"header truncated", hdr[:hdrLen-3], ErrMalformed, "unexpected EOF"},
		{"header not a map", frame([]byte{0x01}), ErrMalformed, "major type"},
		{"version 2", frame([]byte{0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x02}), ErrMalformed, "CARv2"},
		{"version 3", frame(bytes.Replace(encodeHeader([]cid.Cid{good}), []byte("version\x01"), []byte("version\x03"), 1)), ErrMalformed, "version 3"},
		{"no roots", frame([]byte{0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01}), ErrMalformed, "no roots"},
		{"unknown key", frame([]byte{0xa1, 0x61, 'x', 0x01}), ErrMalformed, "unknown field"},
		{"indefinite map", frame([]byte{0xbf, 0xff}), ErrMalformed, "additional info"},
		{"roots count lies", frame([]byte{0xa1, 0x65, 'r', 'o', 'o', 't', 's', 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), ErrMalformed, "cannot fit"},
		{"trailing header bytes", frame(append(encodeHeader([]cid.Cid{good}), 0)), ErrMalformed, "trailing"},
		{"section too large", cat(hdr, hugeLen), ErrMalformed, fmt.Sprintf("offset %d", hdrLen)},
		{"section zero", cat(hdr, []byte{0}), ErrMalformed, "length 0"},
		{"section truncated", cat(hdr, sec[:len(sec)-1]), io.ErrUnexpectedEOF, fmt.Sprintf("offset %d", hdrLen)},
		{"varint truncated", cat(hdr, []byte{0x80}), io.ErrUnexpectedEOF, "length"},
		{"corrupt block", cat(hdr, sec, corrupt), block.ErrCorrupt, fmt.Sprintf("offset %d: %s", hdrLen+len(sec), good)},
		{"unknown-codec block", cat(hdr, section(cbor, []byte{0xa0})), block.ErrUnsupported, cbor.String()},
		{"bad cid", cat(hdr, frame([]byte{0x01, 0x55, 0x12, 0x40, 0x00})), ErrMalformed, "CID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, n, err := Import(context.Background(), bytes.NewReader(tc.in), memstore.New())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.msg)
			}
			if tc.name == "corrupt block" && n != 1 {
				t.Fatalf("stored %d blocks before the corrupt one, want 1", n)
			}
		})
	}
}

func TestExportErrors(t *testing.T) {
	ctx := context.Background()
	d := newDAG(t)
	leaf := d.raw([]byte("leaf"))
	mid := d.node(1, []byte("m"), leaf)
	root := d.node(1, nil, mid, d.raw([]byte("other")))
	cbor, _ := block.Sum(1, 0x85, block.HashSHA256, []byte{0xa0}) // dag-jose, unknown
	d.s.Put(ctx, cbor, []byte{0xa0})

	d.s.SetFaults(memstore.Faults{Missing: []cid.Cid{leaf}})
	if err := Export(ctx, d.s, root, io.Discard); !errors.Is(err, block.ErrNotFound) || !strings.Contains(err.Error(), leaf.String()) {
		t.Fatalf("missing leaf: %v", err)
	}
	d.s.SetFaults(memstore.Faults{})
	if err := Export(ctx, d.s, cbor, io.Discard); !errors.Is(err, block.ErrUnsupported) {
		t.Fatalf("unknown-codec root: %v", err)
	}
	werr := errors.New("disk full")
	if err := Export(ctx, d.s, root, failWriter{werr}); !errors.Is(err, werr) {
		t.Fatalf("failing writer: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Export(cctx, d.s, root, io.Discard); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// cborLink is dag-cbor for {"l": link}, encoded by hand from the spec.
func cborLink(c cid.Cid) []byte {
	b := []byte{0xa1, 0x61, 'l', 0xd8, 0x2a, 0x58, byte(c.ByteLen() + 1), 0x00}
	return append(b, c.Bytes()...)
}

// TestDagCBORRoundTrip: a dag-cbor block and the raw leaf it links to
// import (with an identity-CID section skipped, never stored) and export
// again, the leaf reached through the dag-cbor link.
func TestDagCBORRoundTrip(t *testing.T) {
	ctx := context.Background()
	d := newDAG(t)
	leaf := d.raw([]byte("leaf"))
	data := cborLink(leaf)
	root, err := block.Sum(1, 0x71, block.HashSHA256, data)
	if err != nil {
		t.Fatal(err)
	}
	d.s.Put(ctx, root, data)
	var buf bytes.Buffer
	if err := Export(ctx, d.s, root, &buf); err != nil {
		t.Fatal(err)
	}
	id, err := cid.Prefix{Version: 1, Codec: 0x55, MhType: 0x00, MhLength: -1}.Sum([]byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(section(id, []byte("hi")))
	dst := newDAG(t)
	roots, n, err := Import(ctx, &buf, dst.s)
	if err != nil || n != 2 || len(roots) != 1 || roots[0] != root {
		t.Fatalf("Import = %v, %d, %v; want [%s], 2 blocks", roots, n, err, root)
	}
	for _, c := range []cid.Cid{root, leaf} {
		if _, err := dst.s.Get(ctx, c); err != nil {
			t.Errorf("%s not imported: %v", c, err)
		}
	}
	if _, err := dst.s.Get(ctx, id); err == nil {
		t.Error("identity CID was stored")
	}
}
