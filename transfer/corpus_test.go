package transfer

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestWriteSeedCorpus regenerates the committed seed corpora under
// testdata/fuzz from valid and near-valid messages. It only runs with
// TROVE_WRITE_CORPUS=1, so normal runs test against what is committed.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("TROVE_WRITE_CORPUS") != "1" {
		t.Skip("set TROVE_WRITE_CORPUS=1 to regenerate testdata/fuzz")
	}
	write := func(target string, args ...string) {
		body := "go test fuzz v1\n"
		for _, a := range args {
			body += a + "\n"
		}
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("seed-%x", sha256.Sum256([]byte(body)))[:21]
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bytesArg := func(b []byte) string { return fmt.Sprintf("[]byte(%q)", b) }
	a, b := testCID(t, "a"), testCID(t, "b")
	msgs := []Message{
		{Type: MsgHave, ID: 1, CIDs: []cid.Cid{a, b}},
		{Type: MsgWant, ID: 2, CIDs: []cid.Cid{a}},
		{Type: MsgDAG, ID: 3, CID: a, Flags: FlagByteRange, Start: 1 << 20, End: 2 << 20},
		{Type: MsgDAG, ID: 3, CID: a, Flags: FlagInnerOnly},
		{Type: MsgCancel, ID: 4},
		{Type: MsgCredit, Credit: 32 << 20},
		{Type: MsgHaveResp, ID: 5, Bits: []byte{3}},
		{Type: MsgBlock, ID: 6, CID: a, Data: []byte("a")},
		{Type: MsgMissing, ID: 7, CID: b},
		{Type: MsgDone, ID: 8, Status: StatusBadRequest},
	}
	for _, m := range msgs {
		fr := AppendFrame(nil, &m)
		write("FuzzDecode", bytesArg(fr[1:]))
		write("FuzzReadFrame", bytesArg(fr), "uint16(65535)")
	}
	write("FuzzDecode", bytesArg([]byte{MsgWant, 1, 0xff, 0x7f}))
	write("FuzzReadFrame", bytesArg([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}), "uint16(100)")
	write("FuzzDecodeNode", bytesArg(encodeNode([]cid.Cid{a, b}, []uint64{1, 1})))
	write("FuzzDecodeNode", bytesArg(encodeNode(nil, nil)))
	write("FuzzDecodeNode", bytesArg([]byte{0x12, 0x03, 0x0a, 0x01, 0x00}))
	for _, provs := range [][]peer.AddrInfo{nil, {{ID: testPeer(t), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001")}}}} {
		s, err := EncodeTicket(a, provs)
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzDecodeTicket", fmt.Sprintf("string(%q)", s))
	}
	write("FuzzDecodeTicket", fmt.Sprintf("string(%q)", "trove://ae"))
}
