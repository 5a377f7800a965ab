package transfer

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
	"github.com/trove-p2p/trove/unixfs/importer"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// readFile reassembles a UnixFS file from st by walking its DAG, so the
// test checks content, not just block presence.
func readFile(t *testing.T, st *memstore.Store, c cid.Cid) []byte {
	t.Helper()
	data, err := st.Get(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Type() == block.CodecRaw {
		return data
	}
	n, err := decodeNode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Links) == 0 { // dag-pb leaf: content is the UnixFS Data field
		return unixfsData(t, data)
	}
	var out []byte
	for _, l := range n.Links {
		out = append(out, readFile(t, st, l)...)
	}
	return out
}

// TestFetchImportedFiles fetches DAGs made by the real importer in both
// layouts: raw leaves under CIDv1 nodes, and the legacy CIDv0 layout whose
// leaves are dag-pb too (so leaves are only recognisable after fetching).
func TestFetchImportedFiles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile string
		chunk   int
	}{
		{"unixfs-v1-2025", importer.ProfileV1_2025, 256 << 10},
		{"unixfs-v0-2015", importer.ProfileV0_2015, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, err := importer.ParamsFor(tc.profile, importer.Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			p.ChunkSize = tc.chunk
			p.MaxLinks = 16
			a, b := newSeeder(t, ServerOptions{}), newSeeder(t, ServerOptions{})
			data := randomBytes(t, 3<<20+123)
			res, err := importer.ImportReader(ctx, bytes.NewReader(data), p, multiPut{a.store, b.store})
			if err != nil {
				t.Fatal(err)
			}
			local := memstore.New()
			f := NewFetcher(newHost(t), local, FetchOptions{SpanBytes: 512 << 10})
			if err := f.Fetch(ctx, res.Cid, addrInfo(a.h), addrInfo(b.h)); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, local, res.Cid); !bytes.Equal(got, data) {
				t.Fatalf("fetched file differs: %d vs %d bytes", len(got), len(data))
			}
			if local.Len() != a.store.Len() {
				t.Fatalf("fetched %d blocks, DAG has %d", local.Len(), a.store.Len())
			}
		})
	}
}

type multiPut []*memstore.Store

func (m multiPut) Put(ctx context.Context, c cid.Cid, d []byte) error {
	for _, s := range m {
		if err := s.Put(ctx, c, d); err != nil {
			return err
		}
	}
	return nil
}

func unixfsData(t *testing.T, block []byte) []byte {
	t.Helper()
	pn, err := pb.Unmarshal(block)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := pb.UnmarshalFS(pn.Data)
	if err != nil {
		t.Fatal(err)
	}
	return fs.Data
}
