package car

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/internal/memstore"
)

// benchDAG is a 64 MiB two-level DAG of 1 MiB raw leaves.
func benchDAG(b *testing.B) (*memstore.Store, cid.Cid, int) {
	d := newDAG(b)
	rng := rand.New(rand.NewPCG(1, 1))
	var leaves []cid.Cid
	for range 64 {
		buf := make([]byte, 1<<20)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		leaves = append(leaves, d.raw(buf))
	}
	return d.s, d.node(1, nil, leaves...), 64 << 20
}

func BenchmarkExport(b *testing.B) {
	s, root, size := benchDAG(b)
	b.SetBytes(int64(size))
	for b.Loop() {
		if err := Export(context.Background(), s, root, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImport includes block.Verify (SHA-256) of every block.
func BenchmarkImport(b *testing.B) {
	s, root, size := benchDAG(b)
	var buf bytes.Buffer
	if err := Export(context.Background(), s, root, &buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	for b.Loop() {
		if _, _, err := Import(context.Background(), bytes.NewReader(buf.Bytes()), memstore.New()); err != nil {
			b.Fatal(err)
		}
	}
}
