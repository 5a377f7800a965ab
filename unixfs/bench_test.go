package unixfs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/internal/memstore"
	"github.com/trove-p2p/trove/unixfs/importer"
)

const benchSize = 64 << 20

func benchFile(b *testing.B, size int, p importer.Params) (*memstore.Store, cid.Cid) {
	b.Helper()
	data := randData(rand.New(rand.NewPCG(1, 1)), size)
	s := memstore.New()
	res, err := importer.ImportReader(context.Background(), bytes.NewReader(data), p, s)
	if err != nil {
		b.Fatal(err)
	}
	return s, res.Cid
}

// BenchmarkFileSequential streams a 64 MiB file (1 MiB raw leaves) from an
// in-memory store: the reader's own overhead.
func BenchmarkFileSequential(b *testing.B) {
	s, c := benchFile(b, benchSize, importer.Params{})
	b.SetBytes(benchSize)
	for b.Loop() {
		f, err := NewFile(context.Background(), s, c)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, f); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		f.Close()
	}
}

// BenchmarkFileSlowGetter streams 16 MiB through a getter that takes 2 ms
// per block, as a network fetch might, with and without read-ahead.
func BenchmarkFileSlowGetter(b *testing.B) {
	const size = 16 << 20
	s, c := benchFile(b, size, importer.Params{})
	s.SetFaults(memstore.Faults{OnGet: func(context.Context, cid.Cid) error {
		time.Sleep(2 * time.Millisecond)
		return nil
	}})
	for _, pf := range []int{-1, 8} {
		b.Run(fmt.Sprint("prefetch", pf), func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				f, err := NewFileOptions(context.Background(), s, c, FileOptions{Prefetch: pf})
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, f); err != nil || n != size {
					b.Fatal(n, err)
				}
				f.Close()
			}
		})
	}
}

// BenchmarkFileRandomReadAt reads 4 KiB at random offsets of a 64 MiB
// file built with 256 KiB chunks and 174 links (three levels).
func BenchmarkFileRandomReadAt(b *testing.B) {
	s, c := benchFile(b, benchSize, importer.Params{ChunkSize: 256 << 10, MaxLinks: 174})
	f, err := NewFile(context.Background(), s, c)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(2, 2))
	p := make([]byte, 4096)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := f.ReadAt(p, rng.Int64N(benchSize-4096)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteToFile writes a 64 MiB file to disk through WriteTo.
func BenchmarkWriteToFile(b *testing.B) {
	s, c := benchFile(b, benchSize, importer.Params{})
	dir := b.TempDir()
	b.SetBytes(benchSize)
	i := 0
	for b.Loop() {
		i++
		if _, err := WriteTo(context.Background(), s, c, filepath.Join(dir, fmt.Sprint(i)), WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteToManyFiles writes the 10000-file HAMT directory of the
// Kubo vectors: per-file overhead (temp file, link, rename) dominates.
func BenchmarkWriteToManyFiles(b *testing.B) {
	ctx := context.Background()
	s := memstore.New()
	db := importer.NewDirBuilder(ctx, importer.Params{}, s, importer.DirOptions{})
	for i := range 10000 {
		name := fmt.Sprintf("file-%05d", i)
		if _, _, err := db.AddFile(name, bytes.NewReader([]byte(name+"\n"))); err != nil {
			b.Fatal(err)
		}
	}
	root, err := db.Finish()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		st, err := WriteTo(ctx, s, root, filepath.Join(dir, fmt.Sprint(i)), WriteOptions{})
		if err != nil || st.Files != 10000 {
			b.Fatal(st, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/10000, "µs/file")
}
