package blockstore

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRefRecordRoundTrip(t *testing.T) {
	tests := []Ref{
		{Path: "/a", Length: 0, File: FileID{}},
		{Path: "/home/u/big.iso", Offset: 1 << 40, Length: 1 << 20, File: FileID{Dev: 2049, Ino: 1 << 50, Size: 1<<40 + 1<<20, MtimeNs: 1733300000123456789}},
		{Path: "/" + strings.Repeat("x", maxRefPath-1), Length: 1, File: FileID{Size: 1, MtimeNs: -1}},
	}
	for _, r := range tests {
		b, err := encodeRef(r)
		if err != nil {
			t.Fatalf("encode %+v: %v", r, err)
		}
		if len(b) > maxRefRecord {
			t.Fatalf("record of %d bytes exceeds maxRefRecord", len(b))
		}
		got, err := decodeRef(b)
		if err != nil || got != r {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", r, got, err)
		}
	}
}

func TestRefRecordRejects(t *testing.T) {
	good, err := encodeRef(Ref{Path: "/f", Offset: 2, Length: 3, File: FileID{Size: 5}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{9}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"cut in a varint", []byte{refVersion, 0x80}},
		{"too long", make([]byte, maxRefRecord+1)},
		{"relative path", func() []byte { b := bytes.Clone(good); b[len(b)-2] = 'f'; b[len(b)-1] = '/'; return b }()},
	}
	for _, tt := range tests {
		if r, err := decodeRef(tt.b); !errors.Is(err, errBadRef) {
			t.Errorf("%s: decodeRef = %+v, %v; want errBadRef", tt.name, r, err)
		}
	}
}

// FuzzRefRecord: whatever decodes is a followable reference and survives
// a round trip; nothing panics.
func FuzzRefRecord(f *testing.F) {
	for _, r := range []Ref{
		{Path: "/f", Offset: 2, Length: 3, File: FileID{Size: 5}},
		{Path: "/home/u/x", Offset: 1 << 20, Length: 1 << 20, File: FileID{Dev: 1, Ino: 2, Size: 2 << 20, MtimeNs: 3}},
	} {
		b, err := encodeRef(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{refVersion, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRef(b)
		if err != nil {
			return
		}
		if err := r.check(); err != nil {
			t.Fatalf("decoded an unusable reference %+v: %v", r, err)
		}
		enc, err := encodeRef(r)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", r, err)
		}
		again, err := decodeRef(enc)
		if err != nil || again != r {
			t.Fatalf("round trip %+v -> %+v, %v", r, again, err)
		}
	})
}
