package p2p

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestPeerFileRoundTrip(t *testing.T) {
	id1, _ := peer.IDFromPrivateKey(newKey(t))
	id2, _ := peer.IDFromPrivateKey(newKey(t))
	in := []peer.AddrInfo{
		{ID: id1, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.1/tcp/4801"), ma.StringCast("/ip6/::1/tcp/4801")}},
		{ID: id2, Addrs: []ma.Multiaddr{ma.StringCast("/dns4/boot.example.org/tcp/4801")}},
		{ID: id2}, // no addresses: dropped
	}
	path := filepath.Join(t.TempDir(), "sub", "peers")
	if err := writePeerFile(path, in); err != nil {
		t.Fatal(err)
	}
	got, skipped, err := readPeerFile(path)
	if err != nil || skipped != 0 {
		t.Fatalf("read: %v, skipped %d", err, skipped)
	}
	if len(got) != 2 {
		t.Fatalf("got %d peers, want 2: %v", len(got), got)
	}
	for i := range 2 {
		if got[i].ID != in[i].ID || len(got[i].Addrs) != len(in[i].Addrs) {
			t.Fatalf("peer %d: got %v, want %v", i, got[i], in[i])
		}
		for j := range got[i].Addrs {
			if !got[i].Addrs[j].Equal(in[i].Addrs[j]) {
				t.Errorf("peer %d addr %d: %s != %s", i, j, got[i].Addrs[j], in[i].Addrs[j])
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestDecodePeersSkipsJunk(t *testing.T) {
	id, _ := peer.IDFromPrivateKey(newKey(t))
	good := "/ip4/127.0.0.1/tcp/1/p2p/" + id.String()
	for _, tc := range []struct {
		name    string
		in      string
		peers   int
		skipped int
	}{
		{"empty", "", 0, 0},
		{"comments and blanks", "# x\n\n   \n", 0, 0},
		{"one", good + "\n", 1, 0},
		{"merged", good + "\n/ip4/127.0.0.2/tcp/2/p2p/" + id.String() + "\n", 1, 0},
		{"not a multiaddr", "hello\n" + good, 1, 1},
		{"no peer id", "/ip4/127.0.0.1/tcp/1\n", 0, 1},
		{"bare peer id", "/p2p/" + id.String() + "\n", 0, 1},
		{"too long line", strings.Repeat("/", maxPeerFileLine+10), 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peers, skipped, err := DecodePeers(strings.NewReader(tc.in))
			if tc.name == "too long line" {
				if err == nil {
					t.Fatal("over-long line accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(peers) != tc.peers || skipped != tc.skipped {
				t.Fatalf("peers=%d skipped=%d, want %d/%d", len(peers), skipped, tc.peers, tc.skipped)
			}
		})
	}
}

func FuzzDecodePeers(f *testing.F) {
	f.Add([]byte(peerFileHeader + "/ip4/127.0.0.1/tcp/4801/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf\n"))
	f.Add([]byte("/ip6/::1/tcp/1/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN\n#c\n\n/dns4/x/tcp/1/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN"))
	f.Fuzz(func(t *testing.T, data []byte) {
		peers, _, err := DecodePeers(bytes.NewReader(data))
		if err != nil {
			return
		}
		// What decodes must encode and decode to the same peers.
		var buf bytes.Buffer
		if err := EncodePeers(&buf, peers); err != nil {
			t.Fatal(err)
		}
		again, skipped, err := DecodePeers(&buf)
		if err != nil || skipped != 0 {
			t.Fatalf("re-decode: %v, skipped %d", err, skipped)
		}
		if len(again) != len(peers) {
			t.Fatalf("%d peers became %d", len(peers), len(again))
		}
		for i := range peers {
			if again[i].ID != peers[i].ID || len(again[i].Addrs) != len(peers[i].Addrs) {
				t.Fatalf("peer %d changed: %v -> %v", i, peers[i], again[i])
			}
		}
	})
}
