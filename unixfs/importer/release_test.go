package importer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// releasingSink behaves like the blockstore's Batch: it copies each block
// (as Badger copies into its value log) but hands the caller's buffer back
// only lag Puts later. Before releasing it checks that the buffer still
// holds the block it was given, which fails if the importer reused a
// buffer early, and then poisons it so that any later read of a released
// buffer would corrupt a CID.
type releasingSink struct {
	lag     int
	release func([]byte)
	mu      sync.Mutex
	blocks  map[string][]byte
	held    []blk
	bufs    map[*byte]bool // distinct leaf buffers seen
	leaves  int
	err     error
}

type blk struct {
	c    cid.Cid
	data []byte
}

func (s *releasingSink) OnRelease(f func([]byte)) { s.release = f }

func (s *releasingSink) Put(_ context.Context, c cid.Cid, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Prefix().Codec == block.CodecRaw && len(data) > 0 {
		s.leaves++
		s.bufs[&data[:1][0]] = true
	}
	s.blocks[c.KeyString()] = slices.Clone(data)
	s.held = append(s.held, blk{c, data})
	for len(s.held) > s.lag {
		if err := s.releaseOne(); err != nil {
			return err
		}
	}
	return nil
}

func (s *releasingSink) releaseOne() error {
	h := s.held[0]
	s.held = s.held[1:]
	if err := block.Verify(h.c, h.data); err != nil {
		return fmt.Errorf("buffer of %s changed before release: %w", h.c, err)
	}
	for i := range h.data {
		h.data[i] = 0xEE
	}
	if s.release != nil {
		s.release(h.data)
	}
	return nil
}

func TestReleaserReusesBuffers(t *testing.T) {
	const chunk, chunks = 16 << 10, 300
	data := make([]byte, chunk*chunks+123)
	io.ReadFull(&patternReader{left: int64(len(data)), state: 7}, data)
	p := Params{ChunkSize: chunk, MaxLinks: 16}
	ctx := context.Background()

	plain := newMemSink()
	want, err := ImportReader(ctx, bytes.NewReader(data), p, plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, lag := range []int{0, 1, 8, 40} {
		t.Run(fmt.Sprint("lag", lag), func(t *testing.T) {
			s := &releasingSink{lag: lag, blocks: map[string][]byte{}, bufs: map[*byte]bool{}}
			got, err := ImportReader(ctx, bytes.NewReader(data), p, s)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("result %+v, want %+v", got, want)
			}
			if len(s.blocks) != len(plain.blocks) {
				t.Fatalf("%d blocks, want %d", len(s.blocks), len(plain.blocks))
			}
			for k, b := range plain.blocks {
				if !bytes.Equal(s.blocks[k], b) {
					t.Fatalf("block %x differs", k)
				}
			}
			// Without recycling every leaf has its own buffer; with it
			// the importer needs only what is in flight: the sink's lag
			// plus its pipeline of a few chunks per core.
			if limit := lag + 64; len(s.bufs) > limit || s.leaves != chunks+1 {
				t.Fatalf("%d leaves used %d distinct buffers, want <= %d", s.leaves, len(s.bufs), limit)
			}
		})
	}
}
