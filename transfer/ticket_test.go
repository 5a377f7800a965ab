package transfer

import (
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func testPeer(t testing.TB) peer.ID {
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestTicketRoundTrip(t *testing.T) {
	root := testCID(t, "root")
	p1, p2 := testPeer(t), testPeer(t)
	a1 := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	a2 := ma.StringCast("/ip6/::1/udp/4001/quic-v1")
	for _, provs := range [][]peer.AddrInfo{
		nil,
		{{ID: p1}},
		{{ID: p1, Addrs: []ma.Multiaddr{a1, a2}}, {ID: p2, Addrs: []ma.Multiaddr{a2}}},
	} {
		s, err := EncodeTicket(root, provs)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, TicketScheme) || strings.ToLower(s) != s {
			t.Fatalf("ticket %q not lower-case trove://", s)
		}
		c, got, err := DecodeTicket(s)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Equals(root) || len(got) != len(provs) {
			t.Fatalf("decoded %s %v", c, got)
		}
		for i := range provs {
			if got[i].ID != provs[i].ID || len(got[i].Addrs) != len(provs[i].Addrs) {
				t.Fatalf("provider %d: %v, want %v", i, got[i], provs[i])
			}
			for j := range provs[i].Addrs {
				if !got[i].Addrs[j].Equal(provs[i].Addrs[j]) {
					t.Fatalf("addr %d/%d: %s", i, j, got[i].Addrs[j])
				}
			}
		}
	}
}

func TestTicketRejects(t *testing.T) {
	good, _ := EncodeTicket(testCID(t, "x"), []peer.AddrInfo{{ID: testPeer(t)}})
	for _, s := range []string{
		"",
		"http://x",
		"trove://",
		"trove://!!!",
		good + "aa",
		good[:len(good)-3],
		TicketScheme + strings.Repeat("a", MaxTicketLen),
	} {
		if _, _, err := DecodeTicket(s); !errors.Is(err, ErrBadTicket) {
			t.Errorf("DecodeTicket(%.40q) = %v", s, err)
		}
	}
}

func FuzzDecodeTicket(f *testing.F) {
	root := testCID(f, "root")
	for _, provs := range [][]peer.AddrInfo{nil, {{ID: testPeer(f), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/tcp/1")}}}} {
		s, err := EncodeTicket(root, provs)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
	}
	f.Add("trove://aaaa")
	f.Fuzz(func(t *testing.T, s string) {
		c, provs, err := DecodeTicket(s)
		if err != nil {
			return
		}
		again, err := EncodeTicket(c, provs)
		if err != nil {
			t.Fatalf("decoded ticket does not re-encode: %v", err)
		}
		c2, p2, err := DecodeTicket(again)
		if err != nil || !c2.Equals(c) || len(p2) != len(provs) {
			t.Fatalf("unstable ticket: %v", err)
		}
	})
}
