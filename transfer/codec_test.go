package transfer

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

func testCID(t testing.TB, s string) cid.Cid {
	c, err := block.Sum(1, block.CodecRaw, block.HashSHA256, []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCodecRoundTrip(t *testing.T) {
	a, b := testCID(t, "a"), testCID(t, "b")
	v0, _ := block.Sum(0, block.CodecDagPB, block.HashSHA256, []byte("x"))
	for _, m := range []Message{
		{Type: MsgHave, ID: 1, CIDs: []cid.Cid{a, b, v0}},
		{Type: MsgWant, ID: 1 << 40, CIDs: []cid.Cid{a}},
		{Type: MsgWant, ID: 2, CIDs: []cid.Cid{}},
		{Type: MsgDAG, ID: 3, CID: v0, Flags: FlagByteRange, Start: 10, End: 1 << 33},
		{Type: MsgCancel, ID: 4},
		{Type: MsgCredit, Credit: 32 << 20},
		{Type: MsgHaveResp, ID: 5, Bits: []byte{0x05}},
		{Type: MsgBlock, ID: 6, CID: a, Data: []byte("a")},
		{Type: MsgBlock, ID: 6, CID: a, Data: []byte{}},
		{Type: MsgMissing, ID: 7, CID: b},
		{Type: MsgDone, ID: 8, Status: StatusTooMany},
	} {
		frame := AppendFrame([]byte("prefix"), &m)
		if !bytes.HasPrefix(frame, []byte("prefix")) {
			t.Fatalf("%x: AppendFrame clobbered dst", m.Type)
		}
		payload, err := ReadFrame(bufio.NewReader(bytes.NewReader(frame[6:])), MaxFrame)
		if err != nil {
			t.Fatalf("%x: %v", m.Type, err)
		}
		got, err := Decode(payload)
		if err != nil {
			t.Fatalf("%x: %v", m.Type, err)
		}
		if len(m.Data) == 0 && len(got.Data) == 0 {
			got.Data = m.Data
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of %x:\n got %+v\nwant %+v", m.Type, got, m)
		}
	}
}

func TestCodecRejects(t *testing.T) {
	a := testCID(t, "a")
	big := AppendFrame(nil, &Message{Type: MsgBlock, ID: 1, CID: a, Data: make([]byte, block.MaxSize+1)})
	for _, tc := range []struct {
		name  string
		frame []byte
		max   int
		want  error
	}{
		{"frame above max", big, block.MaxSize, ErrProtocol},
		{"request frame cap", AppendFrame(nil, &Message{Type: MsgBlock, ID: 1, CID: a, Data: make([]byte, 70000)}), MaxRequestFrame, ErrProtocol},
		{"zero length", []byte{0}, MaxFrame, ErrProtocol},
		{"huge varint", []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, MaxFrame, ErrProtocol},
		{"truncated", []byte{5, MsgCancel}, MaxFrame, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bufio.NewReader(bytes.NewReader(tc.frame)), tc.max)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("ReadFrame = %v, want %v", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		want    error
	}{
		{"unknown type", []byte{0x7e, 1, 2, 3}, errUnknownType},
		{"too many CIDs", append([]byte{MsgWant, 1}, 0x81, 0x10), ErrProtocol},
		{"count beyond frame", []byte{MsgWant, 1, 100, 1, 2}, ErrProtocol},
		{"bad cid", []byte{MsgMissing, 1, 3, 1, 2, 3}, ErrProtocol},
		{"trailing", append(AppendFrame(nil, &Message{Type: MsgCancel, ID: 1})[1:], 0), ErrProtocol},
		{"empty", nil, ErrProtocol},
		{"oversize block", big[4:], block.ErrTooLarge},
		{"varint overflow", []byte{MsgCancel, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.payload); !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzDecode: no input may panic, and whatever decodes must re-encode to
// the same bytes (the format has one encoding per message).
func FuzzDecode(f *testing.F) {
	a := testCID(f, "a")
	for _, m := range []Message{
		{Type: MsgHave, ID: 1, CIDs: []cid.Cid{a}},
		{Type: MsgWant, ID: 2, CIDs: []cid.Cid{a, a}},
		{Type: MsgDAG, ID: 3, CID: a, Flags: 1, Start: 2, End: 9},
		{Type: MsgCredit, Credit: 1 << 20},
		{Type: MsgHaveResp, ID: 5, Bits: []byte{1}},
		{Type: MsgBlock, ID: 6, CID: a, Data: []byte("a")},
		{Type: MsgDone, ID: 8, Status: StatusNotFound},
	} {
		fr := AppendFrame(nil, &m)
		f.Add(fr[1:])
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := Decode(payload)
		if err != nil {
			return
		}
		fr := AppendFrame(nil, &m)
		p2, err := ReadFrame(bufio.NewReader(bytes.NewReader(fr)), MaxFrame)
		if err != nil {
			t.Fatalf("re-encoded frame unreadable: %v", err)
		}
		if !bytes.Equal(p2, payload) {
			// Non-minimal varints decode but re-encode shorter; that
			// is the only allowed difference.
			m2, err := Decode(p2)
			if err != nil || !reflect.DeepEqual(AppendFrame(nil, &m2), fr) {
				t.Fatalf("re-encoding is not stable: %x -> %x", payload, p2)
			}
		}
	})
}

// FuzzReadFrame: framing never allocates past max nor panics.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{3, MsgCancel, 1, 0}, uint16(100))
	f.Add([]byte{0xff, 0xff, 0xff, 0x0f}, uint16(100))
	f.Fuzz(func(t *testing.T, in []byte, max uint16) {
		p, err := ReadFrame(bufio.NewReader(bytes.NewReader(in)), int(max))
		if err == nil && (len(p) == 0 || len(p) > int(max)) {
			t.Fatalf("frame of %d bytes accepted with max %d", len(p), max)
		}
	})
}

func FuzzDecodeNode(f *testing.F) {
	a := testCID(f, "a")
	f.Add(encodeNode([]cid.Cid{a, a}, []uint64{1, 1}))
	f.Add([]byte{0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeNode(b)
		if err != nil {
			return
		}
		for _, l := range n.Links {
			if !l.Defined() {
				t.Fatal("undefined link accepted")
			}
		}
	})
}

func TestDecodeNode(t *testing.T) {
	a, b := testCID(t, "a"), testCID(t, "b")
	n, err := decodeNode(encodeNode([]cid.Cid{a, b}, []uint64{3, 4}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(n, node{Links: []cid.Cid{a, b}, BlockSizes: []uint64{3, 4}, FileSize: 7, Tsizes: []uint64{3, 4}}) {
		t.Fatalf("got %+v", n)
	}
	if _, err := decodeNode([]byte{0x12, 0x05, 0x0a, 0x03, 1, 2, 3}); !errors.Is(err, errDagPB) {
		t.Fatalf("bad link hash: %v", err)
	}
}
