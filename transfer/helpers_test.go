package transfer

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/trove-p2p/trove/block"
	"google.golang.org/protobuf/encoding/protowire"
)

// encodeNode builds a dag-pb UnixFS file node; tests and benchmarks use it
// to hand-build DAGs without depending on the importer.
func encodeNode(links []cid.Cid, sizes []uint64) []byte {
	var fs []byte
	fs = protowire.AppendTag(fs, 1, protowire.VarintType)
	fs = protowire.AppendVarint(fs, 2) // File
	var total uint64
	for _, s := range sizes {
		total += s
	}
	fs = protowire.AppendTag(fs, 3, protowire.VarintType)
	fs = protowire.AppendVarint(fs, total)
	for _, s := range sizes {
		fs = protowire.AppendTag(fs, 4, protowire.VarintType)
		fs = protowire.AppendVarint(fs, s)
	}
	var out []byte
	for i, c := range links {
		var l []byte
		l = protowire.AppendTag(l, 1, protowire.BytesType)
		l = protowire.AppendBytes(l, c.Bytes())
		l = protowire.AppendTag(l, 2, protowire.BytesType)
		l = protowire.AppendBytes(l, nil)
		l = protowire.AppendTag(l, 3, protowire.VarintType)
		l = protowire.AppendVarint(l, sizes[i])
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendBytes(out, l)
	}
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	out = protowire.AppendBytes(out, fs)
	return out
}

// putter is what buildFile needs.
type putter interface{ block.Putter }

// buildFile stores a balanced UnixFS-style DAG over data (raw leaves of
// chunk bytes, dag-pb parents of up to fanout links) into every store and
// returns its root and the leaf CIDs in order.
func buildFile(tb testing.TB, data []byte, chunk, fanout int, stores ...putter) (cid.Cid, []cid.Cid) {
	tb.Helper()
	ctx := context.Background()
	put := func(c cid.Cid, b []byte) {
		for _, s := range stores {
			if err := s.Put(ctx, c, b); err != nil {
				tb.Fatal(err)
			}
		}
	}
	type ref struct {
		c    cid.Cid
		size uint64
	}
	var level []ref
	var leaves []cid.Cid
	for off := 0; off < len(data) || off == 0; off += chunk {
		end := min(off+chunk, len(data))
		b := data[off:end]
		c, err := block.Sum(1, block.CodecRaw, block.HashSHA256, b)
		if err != nil {
			tb.Fatal(err)
		}
		put(c, b)
		level = append(level, ref{c, uint64(len(b))})
		leaves = append(leaves, c)
		if end == len(data) {
			break
		}
	}
	for len(level) > 1 || level[0].c.Type() == block.CodecRaw {
		var next []ref
		for i := 0; i < len(level); i += fanout {
			grp := level[i:min(i+fanout, len(level))]
			var links []cid.Cid
			var sizes []uint64
			var total uint64
			for _, r := range grp {
				links = append(links, r.c)
				sizes = append(sizes, r.size)
				total += r.size
			}
			b := encodeNode(links, sizes)
			c, err := block.Sum(1, block.CodecDagPB, block.HashSHA256, b)
			if err != nil {
				tb.Fatal(err)
			}
			put(c, b)
			next = append(next, ref{c, total})
		}
		level = next
	}
	return level[0].c, leaves
}

func randomBytes(tb testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newHost(tb testing.TB) host.Host {
	tb.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
	)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

func addrInfo(h host.Host) peer.AddrInfo {
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
}
