package pb

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Well-known Kubo blocks: their CIDs are published (the empty file and empty
// directory every IPFS node has), so decoding, re-encoding and hashing them
// checks the codec against the outside world.
func TestKnownBlocks(t *testing.T) {
	for _, tc := range []struct {
		name, hex, cid string
		typ            DataType
	}{
		{"empty file v0", "0a0408021800", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", TFile},
		{"empty dir v0", "0a020801", "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn", TDirectory},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustHex(t, tc.hex)
			c, err := block.Sum(0, block.CodecDagPB, block.HashSHA256, b)
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != tc.cid {
				t.Fatalf("bytes hash to %s, want %s", c, tc.cid)
			}
			n, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(n.Links) != 0 || !n.HasData {
				t.Fatalf("decoded %+v", n)
			}
			fs, err := UnmarshalFS(n.Data)
			if err != nil {
				t.Fatal(err)
			}
			if fs.Type != tc.typ {
				t.Fatalf("type %v, want %v", fs.Type, tc.typ)
			}
			if !bytes.Equal(n.Marshal(), b) || !bytes.Equal(fs.Marshal(), n.Data) {
				t.Fatalf("re-encoding differs")
			}
		})
	}
}

// The spec's zero-length block: valid, no Data, no Links, with published
// CIDs.
func TestZeroLengthBlock(t *testing.T) {
	n, err := Unmarshal(nil)
	if err != nil || n.HasData || len(n.Links) != 0 || len(n.Marshal()) != 0 {
		t.Fatalf("got %+v, %v", n, err)
	}
	for v, want := range []string{"QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n", "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"} {
		c, err := block.Sum(v, block.CodecDagPB, block.HashSHA256, nil)
		if err != nil || c.String() != want {
			t.Fatalf("v%d: %s, %v", v, c, err)
		}
	}
}

// Data before Links is accepted (the spec: IPFS data exists in both
// forms) and re-encoded in canonical order.
func TestDataBeforeLinks(t *testing.T) {
	c := testCid(t, "a")
	canon := (&Node{Links: []Link{{Cid: c}, {Cid: c, Name: "n", HasName: true}}, Data: []byte{8, 1}, HasData: true}).Marshal()
	dataLen := 4
	legacy := append(append([]byte{}, canon[len(canon)-dataLen:]...), canon[:len(canon)-dataLen]...)
	n, err := Unmarshal(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(n.Marshal(), canon) {
		t.Fatalf("re-encoded %x, want %x", n.Marshal(), canon)
	}
	cids, err := AppendLinks(nil, legacy)
	if err != nil || len(cids) != 2 {
		t.Fatalf("AppendLinks: %v %v", cids, err)
	}
}

func testCid(t testing.TB, s string) cid.Cid {
	c, err := block.Sum(1, block.CodecRaw, block.HashSHA256, []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNodeRoundTrip(t *testing.T) {
	c0, _ := cid.Decode("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")
	for _, n := range []Node{
		{},
		{HasData: true, Data: []byte{}},
		{HasData: true, Data: []byte("x")},
		{Links: []Link{{Cid: testCid(t, "a")}}},
		{Links: []Link{{Cid: c0, HasName: true, HasTsize: true}}, HasData: true, Data: []byte{8, 1}},
		{Links: []Link{
			{Cid: testCid(t, "a"), Name: "a", HasName: true, Tsize: 1, HasTsize: true},
			{Cid: c0, Name: "ünï", HasName: true},
			{Cid: testCid(t, "b"), Tsize: 1 << 40, HasTsize: true},
		}},
	} {
		b := n.Marshal()
		if len(b) != n.EncodedSize() {
			t.Errorf("EncodedSize %d, Marshal %d bytes", n.EncodedSize(), len(b))
		}
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%+v: %v", n, err)
		}
		if !bytes.Equal(got.Marshal(), b) {
			t.Fatalf("not byte-exact: %x vs %x", got.Marshal(), b)
		}
		if len(got.Links) != len(n.Links) || got.HasData != n.HasData || !bytes.Equal(got.Data, n.Data) {
			t.Fatalf("got %+v want %+v", got, n)
		}
		for i := range n.Links {
			if !reflect.DeepEqual(got.Links[i], n.Links[i]) {
				t.Fatalf("link %d: got %+v want %+v", i, got.Links[i], n.Links[i])
			}
		}
		cids, err := AppendLinks([]cid.Cid{c0}, b)
		if err != nil || len(cids) != len(n.Links)+1 {
			t.Fatalf("AppendLinks = %v, %v", cids, err)
		}
		for i, l := range n.Links {
			if !cids[i+1].Equals(l.Cid) {
				t.Fatalf("AppendLinks[%d] = %s", i, cids[i+1])
			}
		}
	}
}

// Each input breaks one rule of the dag-pb spec's strict decoding.
func TestNodeRejects(t *testing.T) {
	c := testCid(t, "a").Bytes()
	link := append([]byte{0x0a, byte(len(c))}, c...) // Hash only
	wrap := func(body []byte) []byte { return append([]byte{0x12, byte(len(body))}, body...) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"links on both sides of data", cat(wrap(link), []byte{0x0a, 0}, wrap(link))},
		{"duplicate data", []byte{0x0a, 0, 0x0a, 0}},
		{"unknown node field", []byte{0x1a, 0}},
		{"data wire type varint", []byte{0x08, 1}},
		{"links wire type varint", []byte{0x10, 1}},
		{"truncated length", []byte{0x0a, 5, 1}},
		{"trailing garbage", []byte{0x0a, 0, 0xff}},
		{"lone tag byte", []byte{0x0a}},
		{"non-minimal length", []byte{0x0a, 0x80, 0x00}},
		{"missing hash", wrap([]byte{0x12, 0})},
		{"name before hash", wrap(cat([]byte{0x12, 0}, link))},
		{"tsize before name", wrap(cat(link, []byte{0x18, 1, 0x12, 0}))},
		{"duplicate hash", wrap(cat(link, link))},
		{"unknown link field", wrap(cat(link, []byte{0x22, 0}))},
		{"bad cid", wrap([]byte{0x0a, 3, 1, 2, 3})},
		{"cid trailing bytes", wrap(cat([]byte{0x0a, byte(len(c) + 1)}, c, []byte{0}))},
		{"empty hash", wrap([]byte{0x0a, 0})},
		{"tsize wire type bytes", wrap(cat(link, []byte{0x1a, 0}))},
		{"name wire type varint", wrap(cat(link, []byte{0x10, 0}))},
		{"non-minimal tsize", wrap(cat(link, []byte{0x18, 0x81, 0x00}))},
		{"oversize", make([]byte, block.MaxSize+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n, err := Unmarshal(tc.b); err == nil {
				t.Fatalf("accepted %x as %+v", tc.b, n)
			} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, block.ErrTooLarge) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrTooLarge", err)
			}
			if _, err := AppendLinks(nil, tc.b); err == nil {
				t.Fatalf("AppendLinks accepted %x", tc.b)
			}
		})
	}
}

func TestFSRoundTrip(t *testing.T) {
	for _, f := range []FSNode{
		{Type: TRaw},
		{Type: TFile, Data: []byte{}, HasFileSize: true},
		{Type: TFile, HasFileSize: true, FileSize: 1 << 20, BlockSizes: []uint64{262144, 262144, 262144, 262144}},
		{Type: TSymlink, Data: []byte("../target")},
		{Type: THAMTShard, Data: []byte{0xff, 0x01}, HashType: 0x22, HasHashType: true, Fanout: 256, HasFanout: true},
		{Type: TDirectory, Mode: 0o755, HasMode: true, Mtime: &Mtime{Seconds: -5}},
		{Type: TFile, Mtime: &Mtime{Seconds: 1700000000, Nanos: 999999999, HasNanos: true}},
	} {
		b := f.Marshal()
		got, err := UnmarshalFS(b)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		if !reflect.DeepEqual(*got, f) {
			t.Fatalf("got %+v want %+v", *got, f)
		}
		if !bytes.Equal(got.Marshal(), b) {
			t.Fatalf("not byte-exact")
		}
	}
}

func TestFSDecodeLenient(t *testing.T) {
	// Packed blocksizes and out-of-order fields are valid protobuf that
	// other writers may produce; an unknown field is skipped.
	b := []byte{0x18, 3, 0x22, 2, 1, 2, 0x08, 2, 0x78, 7}
	f, err := UnmarshalFS(b)
	if err != nil {
		t.Fatal(err)
	}
	want := FSNode{Type: TFile, FileSize: 3, HasFileSize: true, BlockSizes: []uint64{1, 2}}
	if !reflect.DeepEqual(*f, want) {
		t.Fatalf("got %+v want %+v", *f, want)
	}
	if !bytes.Equal(f.Marshal(), []byte{0x08, 2, 0x18, 3, 0x20, 1, 0x20, 2}) {
		t.Fatalf("canonical form %x", f.Marshal())
	}
}

func TestFSRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty (no Type)", nil},
		{"no Type", []byte{0x18, 1}},
		{"type wire type bytes", []byte{0x0a, 0}},
		{"data wire type varint", []byte{0x08, 2, 0x10, 1}},
		{"truncated data", []byte{0x08, 2, 0x12, 4, 1}},
		{"mode overflow", []byte{0x08, 2, 0x38, 0x80, 0x80, 0x80, 0x80, 0x10}},
		{"type overflow", []byte{0x08, 0x80, 0x80, 0x80, 0x80, 0x10}},
		{"mtime without seconds", []byte{0x08, 2, 0x42, 0}},
		{"mtime nanos wrong type", []byte{0x08, 2, 0x42, 4, 0x08, 1, 0x10, 1}},
		{"truncated varint", []byte{0x08, 0x80}},
		{"bad packed", []byte{0x08, 2, 0x22, 1, 0x80}},
		{"oversize", make([]byte, block.MaxSize+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if f, err := UnmarshalFS(tc.b); err == nil {
				t.Fatalf("accepted %x as %+v", tc.b, f)
			}
		})
	}
}

// FuzzNode: anything accepted re-encodes byte for byte (the decoder admits
// only canonical encodings, save Data-before-Links, which must then decode
// to the same node), and AppendLinks agrees with Unmarshal.
func FuzzNode(f *testing.F) {
	f.Add([]byte{0x0a, 0x04, 0x08, 0x02, 0x18, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Unmarshal(b)
		cids, lerr := AppendLinks(nil, b)
		if (err == nil) != (lerr == nil) {
			t.Fatalf("Unmarshal err %v, AppendLinks err %v", err, lerr)
		}
		if err != nil {
			return
		}
		if out := n.Marshal(); !bytes.Equal(out, b) {
			m, err := Unmarshal(out)
			dataFirst := len(b) > 0 && b[0] == 0x0a && len(n.Links) > 0
			if !dataFirst || err != nil || !reflect.DeepEqual(m, n) {
				t.Fatalf("re-encoding %x differs from input %x", out, b)
			}
		}
		if len(cids) != len(n.Links) {
			t.Fatalf("AppendLinks found %d, Unmarshal %d", len(cids), len(n.Links))
		}
		for i := range cids {
			if !cids[i].Equals(n.Links[i].Cid) {
				t.Fatalf("link %d differs", i)
			}
		}
	})
}

// FuzzFSNode: anything accepted re-encodes to a canonical form that decodes
// to the same value and is a fixed point of Marshal.
func FuzzFSNode(f *testing.F) {
	f.Add([]byte{0x08, 0x02, 0x18, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := UnmarshalFS(b)
		if err != nil {
			return
		}
		out := n.Marshal()
		m, err := UnmarshalFS(out)
		if err != nil {
			t.Fatalf("canonical form %x of %x rejected: %v", out, b, err)
		}
		if !reflect.DeepEqual(normFS(n), normFS(m)) {
			t.Fatalf("round trip changed %+v into %+v", n, m)
		}
		if again := m.Marshal(); !bytes.Equal(again, out) {
			t.Fatalf("Marshal not a fixed point: %x then %x", out, again)
		}
	})
}

// normFS makes an empty BlockSizes slice compare equal to nil.
func normFS(f *FSNode) FSNode {
	g := *f
	if len(g.BlockSizes) == 0 {
		g.BlockSizes = nil
	}
	return g
}

// bigNode is a file root as Kubo writes it: 1024 unnamed links with Tsize.
func bigNode(b *testing.B) []byte {
	n := Node{HasData: true}
	fs := FSNode{Type: TFile, HasFileSize: true}
	for i := range 1024 {
		n.Links = append(n.Links, Link{Cid: testCid(b, fmt.Sprint(i)), HasName: true, Tsize: 1 << 20, HasTsize: true})
		fs.BlockSizes = append(fs.BlockSizes, 1<<20)
		fs.FileSize += 1 << 20
	}
	n.Data = fs.Marshal()
	return n.Marshal()
}

func BenchmarkAppendLinks(b *testing.B) {
	enc := bigNode(b)
	var dst []cid.Cid
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		var err error
		if dst, err = AppendLinks(dst[:0], enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	enc := bigNode(b)
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
}
