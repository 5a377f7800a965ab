package ipld

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/trove-p2p/trove/block"
)

func sum(t testing.TB, codec uint64, data []byte) cid.Cid {
	t.Helper()
	c, err := block.Sum(1, codec, block.HashSHA256, data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLinks(t *testing.T) {
	leaf := sum(t, block.CodecRaw, []byte("leaf"))
	other := sum(t, block.CodecRaw, []byte("other"))
	cborLinks := append([]byte{0xa2, 0x61, 'a', 0xd8, 0x2a, 0x58, byte(leaf.ByteLen() + 1), 0x00}, leaf.Bytes()...)
	cborLinks = append(append(cborLinks, 0x61, 'b', 0xd8, 0x2a, 0x58, byte(other.ByteLen()+1), 0x00), other.Bytes()...)
	jsonLinks := []byte(`{"a":{"/":"` + leaf.String() + `"},"n":[1,{"/":"` + other.String() + `"}]}`)
	cases := []struct {
		name  string
		codec uint64
		data  []byte
		want  []cid.Cid
		err   bool
	}{
		{"dag-cbor two links in order", DagCBOR, cborLinks, []cid.Cid{leaf, other}, false},
		{"dag-json nested links", DagJSON, jsonLinks, []cid.Cid{leaf, other}, false},
		{"json never links", JSON, []byte(`{"/":"` + leaf.String() + `"}`), nil, false},
		{"cbor never links", CBOR, []byte{0xa0}, nil, false},
		{"dag-cbor garbage", DagCBOR, []byte{0xff, 0x00}, nil, true},
		{"dag-json garbage", DagJSON, []byte(`{"a":`), nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Links(sum(t, tc.codec, tc.data), tc.data)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("links = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("links = %v, want %v", got, tc.want)
				}
			}
		})
	}
	if _, err := Links(sum(t, 0x85, []byte{0xa0}), []byte{0xa0}); !errors.Is(err, block.ErrUnsupported) {
		t.Fatalf("dag-jose: %v, want ErrUnsupported", err)
	}
}

// TestConvert: dag-json decodes and re-encodes as dag-cbor and back to the
// same bytes (both are canonical here).
func TestConvert(t *testing.T) {
	leaf := sum(t, block.CodecRaw, []byte("leaf"))
	in := []byte(`{"a":{"/":"` + leaf.String() + `"},"b":[1,"x"]}`)
	n, err := Decode(sum(t, DagJSON, in), in)
	if err != nil {
		t.Fatal(err)
	}
	var cb bytes.Buffer
	if err := Encode(&cb, n, DagCBOR); err != nil {
		t.Fatal(err)
	}
	n2, err := Decode(sum(t, DagCBOR, cb.Bytes()), cb.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Encode(&out, n2, DagJSON); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), in) {
		t.Fatalf("round trip = %s, want %s", out.Bytes(), in)
	}
}

// FuzzDecode: no input makes a decoder panic or loop, whatever the codec.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(0), []byte{0xa1, 0x61, 'a', 0x01})
	f.Add(uint8(1), []byte(`{"a":{"/":"bafkqaaa"}}`))
	f.Add(uint8(2), []byte(`[1,2,{"x":null}]`))
	f.Add(uint8(3), []byte{0x9f, 0xff})
	codecs := []uint64{DagCBOR, DagJSON, JSON, CBOR}
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		c := sum(t, codecs[int(k)%len(codecs)], data)
		if _, err := Decode(c, data); err == nil {
			if _, err := Links(c, data); err != nil {
				t.Fatalf("decodes but Links fails: %v", err)
			}
		}
	})
}
