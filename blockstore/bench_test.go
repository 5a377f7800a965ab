package blockstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/trove-p2p/trove/block"
)

// benchOpBytes is what one benchmark iteration imports: enough to cross
// several memtables and value-log files, small enough for a loaded machine.
const benchOpBytes = 64 << 20

// benchCid names the n-th benchmark block without hashing its bytes: the
// store trusts its input, and hashing is block.Sum's benchmark, not ours.
func benchCid(n uint64) cid.Cid {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	d := sha256.Sum256(b[:])
	mh, _ := multihash.Encode(d[:], multihash.SHA2_256)
	return cid.NewCidV1(block.CodecRaw, mh)
}

type benchConfig struct {
	name string
	opts Options
}

func benchConfigs() []benchConfig {
	quiet := func(o *badger.Options) { o.Logger = badgerLogger{} }
	return []benchConfig{
		{"chosen", Options{}},
		{"badger-defaults", Options{Tune: func(o *badger.Options) {
			*o = badger.DefaultOptions(o.Dir)
			quiet(o)
		}}},
		{"vlog-mt64x5", Options{Tune: func(o *badger.Options) {
			o.MemTableSize, o.NumMemtables = 64<<20, 5
		}}},
		{"vlog-mt8", Options{MemTableSize: 8 << 20}},
		{"vlog-batch4M", Options{BatchBytes: 4 << 20}},
		{"vlog-batch64M", Options{BatchBytes: 64 << 20}},
		{"vlog-file1G", Options{ValueLogFileSize: 1<<30 - 1}},
	}
}

// BenchmarkBatchPut imports benchOpBytes per iteration through a Batch and
// commits it (with fsync). Compare with BenchmarkRawWrite, the disk's limit
// for the same bytes. Select a configuration with -bench
// 'BatchPut/chosen'.
func BenchmarkBatchPut(b *testing.B) {
	for _, size := range []int{1 << 20, 256 << 10} {
		data := make([]byte, size)
		rand.Read(data)
		for _, cfg := range benchConfigs() {
			b.Run(cfg.name+"/"+sizeName(size), func(b *testing.B) {
				s, err := Open(b.TempDir(), cfg.opts)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				ctx := context.Background()
				var n uint64
				b.SetBytes(benchOpBytes)
				for b.Loop() {
					bt := s.NewBatch()
					for range benchOpBytes / size {
						n++
						if err := bt.Put(ctx, benchCid(n), data); err != nil {
							b.Fatal(err)
						}
					}
					if err := bt.Commit(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRawWrite writes the same bytes to one file sequentially and
// fsyncs: the ceiling for BenchmarkBatchPut on this disk.
func BenchmarkRawWrite(b *testing.B) {
	for _, size := range []int{1 << 20, 256 << 10} {
		data := make([]byte, size)
		rand.Read(data)
		b.Run(sizeName(size), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(benchOpBytes)
			for b.Loop() {
				for range benchOpBytes / size {
					if _, err := f.Write(data); err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return "1MiB"
	}
	return "256KiB"
}

// BenchmarkGC measures one GC (mark, sweep, value-log reclaim) of a repo
// holding 256 MiB of garbage and a pinned 64 MiB DAG of 1 MiB raw leaves.
// MB/s is garbage bytes collected per second.
func BenchmarkGC(b *testing.B) {
	const garbage, live, size = 256 << 20, 64 << 20, 1 << 20
	ctx := context.Background()
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := make([]byte, size)
	rand.Read(data)
	var links []cid.Cid
	bt := s.NewBatch()
	for i := range live / size {
		c := benchCid(uint64(1<<40 + i))
		links = append(links, c)
		if err := bt.Put(ctx, c, data); err != nil {
			b.Fatal(err)
		}
	}
	root := pbRoot(b, links)
	if err := bt.Put(ctx, root.c, root.data); err != nil {
		b.Fatal(err)
	}
	if err := s.Pin(ctx, root.c, PinOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := bt.Commit(); err != nil {
		b.Fatal(err)
	}
	var n uint64
	b.SetBytes(garbage)
	for b.Loop() {
		b.StopTimer()
		bt := s.NewBatch()
		for range garbage / size {
			n++
			if err := bt.Put(ctx, benchCid(n), data); err != nil {
				b.Fatal(err)
			}
		}
		if err := bt.Commit(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := s.GC(ctx, GCOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Blocks != garbage/size {
			b.Fatalf("GC collected %d blocks, want %d", res.Blocks, garbage/size)
		}
		b.ReportMetric(float64(res.Reclaimed)/(1<<20), "MiB-reclaimed/op")
	}
}

// BenchmarkGet reads back 1 MiB blocks in a scattered order (warm page
// cache after the first pass). Reads leave the value-log pages they touch
// mapped; see docs/blockstore.md for why the store does not release them.
func BenchmarkGet(b *testing.B) {
	const total, size = 256 << 20, 1 << 20
	ctx := context.Background()
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := make([]byte, size)
	rand.Read(data)
	bt := s.NewBatch()
	for i := range total / size {
		if err := bt.Put(ctx, benchCid(uint64(i)), data); err != nil {
			b.Fatal(err)
		}
	}
	if err := bt.Commit(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	for b.Loop() {
		for i := range total / size {
			j := (i * 97) % (total / size) // 97 is coprime with 256
			if _, err := s.Get(ctx, benchCid(uint64(j))); err != nil {
				b.Fatal(err)
			}
		}
	}
}
