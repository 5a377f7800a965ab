package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
)

// TestServerNeverServesRot stores wrong bytes under a CID, as disk rot
// would (the store trusts what it is given), and asks for them by WANT and
// inside a DAG walk: the server must answer MISSING both times, never a
// BLOCK with the rotten bytes, and keep serving the good blocks around it.
func TestServerNeverServesRot(t *testing.T) {
	ctx := context.Background()
	s := newSeeder(t, ServerOptions{})
	good, rotten := testCID(t, "good"), testCID(t, "rotten")
	s.store.Put(ctx, good, []byte("good"))
	s.store.Put(ctx, rotten, []byte("rotteN"))

	st, br := rawStream(t, s)
	send(t, st, Message{Type: MsgCredit, Credit: 1 << 20},
		Message{Type: MsgWant, ID: 1, CIDs: []cid.Cid{rotten, good}})
	if m := recv(t, br); m.Type != MsgMissing || !m.CID.Equals(rotten) {
		t.Fatalf("rotten block answered with %+v, want MISSING", m)
	}
	if m := recv(t, br); m.Type != MsgBlock || !m.CID.Equals(good) || string(m.Data) != "good" {
		t.Fatalf("good block: %+v", m)
	}
	if m := recv(t, br); m.Type != MsgDone || m.Status != StatusOK {
		t.Fatalf("done: %+v", m)
	}

	// A DAG whose second leaf rotted: the walk sends the root and the
	// first leaf, reports the second missing, then sends the third.
	leaves := []cid.Cid{good, rotten, testCID(t, "third")}
	s.store.Put(ctx, leaves[2], []byte("third"))
	root := putNode(t, s.store, encodeNode(leaves, []uint64{4, 6, 5}))
	send(t, st, Message{Type: MsgDAG, ID: 2, CID: root})
	want := []struct {
		typ byte
		c   cid.Cid
	}{{MsgBlock, root}, {MsgBlock, good}, {MsgMissing, rotten}, {MsgBlock, leaves[2]}}
	for _, w := range want {
		m := recv(t, br)
		if m.Type != w.typ || !m.CID.Equals(w.c) {
			t.Fatalf("dag walk: got type 0x%02x %s, want 0x%02x %s", m.Type, m.CID, w.typ, w.c)
		}
	}
	if m := recv(t, br); m.Type != MsgDone || m.Status != StatusOK {
		t.Fatalf("dag done: %+v", m)
	}
}

func putNode(t *testing.T, st *memstore.Store, data []byte) cid.Cid {
	t.Helper()
	c, err := block.Sum(1, block.CodecDagPB, block.HashSHA256, data)
	if err != nil {
		t.Fatal(err)
	}
	st.Put(context.Background(), c, data)
	return c
}

// BenchmarkServeVerify measures what re-hashing on the serving path costs:
// one stream WANTs 64 blocks of 1 MiB from a seeder over loopback, with
// the server verifying (the default) and trusting its source.
func BenchmarkServeVerify(b *testing.B) {
	const n, size = 64, 1 << 20
	for _, tc := range []struct {
		name  string
		trust bool
	}{{"verify", false}, {"trust", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s := newSeeder(b, ServerOptions{TrustSource: tc.trust})
			var cids []cid.Cid
			for range n {
				d := randomBytes(b, size)
				c, _ := block.Sum(1, block.CodecRaw, block.HashSHA256, d)
				s.store.Put(context.Background(), c, d)
				cids = append(cids, c)
			}
			h := newHost(b)
			ctx := context.Background()
			if err := h.Connect(ctx, addrInfo(s.h)); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(n * size)
			id := uint64(0)
			for b.Loop() {
				st, err := h.NewStream(ctx, s.h.ID(), ProtocolID)
				if err != nil {
					b.Fatal(err)
				}
				id++
				var out []byte
				out = AppendFrame(out, &Message{Type: MsgCredit, Credit: 1 << 30})
				out = AppendFrame(out, &Message{Type: MsgWant, ID: id, CIDs: cids})
				if _, err := st.Write(out); err != nil {
					b.Fatal(err)
				}
				br := bufio.NewReaderSize(st, 1<<20)
				blocks := 0
				for {
					p, err := ReadFrame(br, MaxFrame)
					if err != nil {
						b.Fatal(err)
					}
					m, err := Decode(p)
					if err != nil {
						b.Fatal(err)
					}
					if m.Type == MsgBlock {
						blocks++
					}
					if m.Type == MsgDone {
						break
					}
				}
				st.Close()
				if blocks != n {
					b.Fatalf("got %d blocks", blocks)
				}
			}
		})
	}
}

// checkingSource is a store that checks its own reads, as a blockstore
// with CheckReads does: damaged means an ErrCorrupt error.
type checkingSource struct {
	*memstore.Store
	damaged cid.Cid
}

func (c checkingSource) ChecksReads() bool { return true }

func (c checkingSource) Get(ctx context.Context, k cid.Cid) ([]byte, error) {
	if k.Equals(c.damaged) {
		return nil, fmt.Errorf("crc mismatch: %w", block.ErrCorrupt)
	}
	return c.Store.Get(ctx, k)
}

// TestVerifiedSourceTrustsACheckingStore: a source that checks its reads
// is not hashed a second time, and the rot it reports is still answered
// as missing; any other source is re-hashed.
func TestVerifiedSourceTrustsACheckingStore(t *testing.T) {
	ctx := context.Background()
	ms := memstore.New()
	wrong, damaged := testCID(t, "honest"), testCID(t, "damaged")
	ms.Put(ctx, wrong, []byte("not what the CID says"))
	log := slog.New(slog.DiscardHandler)

	checked := newVerifiedSource(checkingSource{ms, damaged}, log)
	if !checked.checked {
		t.Fatal("a ChecksReads source is re-hashed")
	}
	// Bytes a checking store returns are served as they are: that the
	// check is skipped is the point (a real one never returns these).
	if got, err := checked.Get(ctx, wrong); err != nil || string(got) != "not what the CID says" {
		t.Fatalf("checked source: %q, %v", got, err)
	}
	if _, err := checked.Get(ctx, damaged); !errors.Is(err, block.ErrNotFound) || !errors.Is(err, block.ErrCorrupt) {
		t.Fatalf("reported rot: %v, want ErrNotFound wrapping ErrCorrupt", err)
	}

	plain := newVerifiedSource(ms, log)
	if plain.checked {
		t.Fatal("a plain source is trusted")
	}
	if _, err := plain.Get(ctx, wrong); !errors.Is(err, block.ErrNotFound) {
		t.Fatalf("plain source, wrong bytes: %v, want ErrNotFound", err)
	}
}
