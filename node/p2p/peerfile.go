package p2p

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// The peerstore file is plain text, one full multiaddr (ending in /p2p/ID)
// per line, '#' comments allowed. Text rather than a binary dump so an
// operator can read it, prune it, or seed a new node by copying lines.
const peerFileHeader = "# trove known peers: one multiaddr per line\n"

// maxPeerFileLine bounds one line; real multiaddrs are well under 1 KiB.
const maxPeerFileLine = 4096

// EncodePeers writes peers in the peerstore file format. Peers without
// addresses are skipped: a bare ID is useless for reconnecting.
func EncodePeers(w io.Writer, peers []peer.AddrInfo) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(peerFileHeader)
	for _, p := range peers {
		if len(p.Addrs) == 0 {
			continue
		}
		addrs, err := peer.AddrInfoToP2pAddrs(&p)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			bw.WriteString(a.String())
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// DecodePeers reads the peerstore file format, merging lines of the same
// peer. The file is a cache, so a malformed line (a hand edit, a torn write
// from an older version) is skipped and counted rather than failing the
// whole start; only read errors are returned.
func DecodePeers(r io.Reader) (peers []peer.AddrInfo, skipped int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), maxPeerFileLine)
	index := map[peer.ID]int{}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		a, err := ma.NewMultiaddr(line)
		if err != nil {
			skipped++
			continue
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil || len(ai.Addrs) == 0 || ai.ID.Validate() != nil {
			skipped++
			continue
		}
		if i, ok := index[ai.ID]; ok {
			peers[i].Addrs = append(peers[i].Addrs, ai.Addrs...)
			continue
		}
		index[ai.ID] = len(peers)
		peers = append(peers, *ai)
	}
	if err := sc.Err(); err != nil {
		return peers, skipped, fmt.Errorf("p2p: reading peer file: %w", err)
	}
	return peers, skipped, nil
}

// writePeerFile replaces path atomically, so a crash mid-write leaves the
// previous list rather than half of a new one.
func writePeerFile(path string, peers []peer.AddrInfo) error {
	var buf bytes.Buffer
	if err := EncodePeers(&buf, peers); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("p2p: peer file: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("p2p: peer file: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(buf.Bytes())
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("p2p: writing peer file: %w", werr)
	}
	return nil
}

func readPeerFile(path string) ([]peer.AddrInfo, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	return DecodePeers(f)
}
