package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
)

// dfsOrder lists a DAG's blocks in the order a DAG request must send them.
func dfsOrder(t *testing.T, st *memstore.Store, root cid.Cid) (all, leaves []cid.Cid) {
	var walk func(c cid.Cid)
	walk = func(c cid.Cid) {
		all = append(all, c)
		if c.Type() == block.CodecRaw {
			leaves = append(leaves, c)
			return
		}
		data, err := st.Get(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		n, err := decodeNode(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range n.Links {
			walk(l)
		}
	}
	walk(root)
	return all, leaves
}

func TestStreamDAG(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{})
	const chunk = 1000
	data := randomBytes(t, 50*chunk+10) // 51 leaves, fanout 4: three inner levels
	root, _ := buildFile(t, data, chunk, 4, s.store)
	all, leaves := dfsOrder(t, s.store, root)
	f := NewFetcher(newHost(t), memstore.New(), FetchOptions{})
	isLeaf := func(c cid.Cid) bool { return slices.Contains(leaves, c) }
	filter := func(keep func(leafIdx int) bool) []cid.Cid {
		var out []cid.Cid
		li := 0
		for _, c := range all {
			if isLeaf(c) {
				if keep(li) {
					out = append(out, c)
				}
				li++
				continue
			}
			out = append(out, c)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		rng  DAGRange
		want []cid.Cid
	}{
		{"everything", DAGRange{}, all},
		{"inner only", DAGRange{InnerOnly: true}, filter(func(int) bool { return false })},
		{"leaf range", DAGRange{Start: 5, End: 9}, nil}, // computed below
		{"byte range", DAGRange{Bytes: true, Start: 20*chunk + 1, End: 22 * chunk}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []cid.Cid
			err := f.StreamDAG(ctx, addrInfo(s.h), root, tc.rng, func(c cid.Cid, b []byte) error {
				got = append(got, c)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			switch tc.name {
			case "leaf range":
				// Inner nodes up to the last wanted leaf, leaves 5..8.
				var wantLeaves []cid.Cid
				for _, c := range got {
					if isLeaf(c) {
						wantLeaves = append(wantLeaves, c)
					}
				}
				if !slices.Equal(wantLeaves, leaves[5:9]) {
					t.Fatalf("leaves %v, want leaves 5..8", wantLeaves)
				}
				return
			case "byte range":
				var gotLeaves []cid.Cid
				for _, c := range got {
					if isLeaf(c) {
						gotLeaves = append(gotLeaves, c)
					}
				}
				if !slices.Equal(gotLeaves, leaves[20:22]) {
					t.Fatalf("got %d leaves, want leaves 20 and 21", len(gotLeaves))
				}
				if len(got) >= len(all)/2 {
					t.Fatalf("byte range sent %d of %d blocks; subtrees not skipped", len(got), len(all))
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %d blocks, want %d in DFS order", len(got), len(tc.want))
			}
		})
	}
	if err := f.StreamDAG(ctx, addrInfo(s.h), testCID(t, "absent"), DAGRange{}, func(cid.Cid, []byte) error { return nil }); !errors.Is(err, block.ErrNotFound) {
		t.Fatalf("absent root: %v", err)
	}
	if err := f.StreamDAG(ctx, addrInfo(s.h), root, DAGRange{Start: 5, End: 5}, func(cid.Cid, []byte) error { return nil }); !errors.Is(err, ErrRejected) {
		t.Fatalf("empty range: %v", err)
	}
}

// rawStream opens a protocol stream and speaks frames by hand.
func rawStream(t *testing.T, s *seeder) (network.Stream, *bufio.Reader) {
	h := newHost(t)
	ctx := context.Background()
	if err := h.Connect(ctx, addrInfo(s.h)); err != nil {
		t.Fatal(err)
	}
	st, err := h.NewStream(ctx, s.h.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Reset() })
	st.SetDeadline(time.Now().Add(10 * time.Second))
	return st, bufio.NewReader(st)
}

func send(t *testing.T, st network.Stream, ms ...Message) {
	var b []byte
	for i := range ms {
		b = AppendFrame(b, &ms[i])
	}
	if _, err := st.Write(b); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, br *bufio.Reader) Message {
	t.Helper()
	p, err := ReadFrame(br, MaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestServerProtocol(t *testing.T) {
	s := newSeeder(t, ServerOptions{MaxRequests: 2})
	a, b := testCID(t, "a"), testCID(t, "b")
	s.store.Put(context.Background(), a, []byte("a"))

	t.Run("have, want, missing, unknown type skipped", func(t *testing.T) {
		st, br := rawStream(t, s)
		send(t, st, Message{Type: MsgCredit, Credit: 1 << 20})
		st.Write([]byte{3, 0x7f, 1, 2}) // unknown type: skipped
		send(t, st, Message{Type: MsgHave, ID: 1, CIDs: []cid.Cid{b, a}})
		if m := recv(t, br); m.Type != MsgHaveResp || m.ID != 1 || !slices.Equal(m.Bits, []byte{2}) {
			t.Fatalf("have: %+v", m)
		}
		if m := recv(t, br); m.Type != MsgDone || m.Status != StatusOK {
			t.Fatalf("have done: %+v", m)
		}
		send(t, st, Message{Type: MsgWant, ID: 2, CIDs: []cid.Cid{a, b}})
		if m := recv(t, br); m.Type != MsgBlock || !m.CID.Equals(a) || string(m.Data) != "a" {
			t.Fatalf("block: %+v", m)
		}
		if m := recv(t, br); m.Type != MsgMissing || !m.CID.Equals(b) {
			t.Fatalf("missing: %+v", m)
		}
		if m := recv(t, br); m.Type != MsgDone || m.ID != 2 || m.Status != StatusOK {
			t.Fatalf("want done: %+v", m)
		}
	})

	t.Run("no credit, no blocks; too many requests", func(t *testing.T) {
		st, br := rawStream(t, s)
		// Without credit the first two wants stall, so the third is over
		// the peer's cap of two open requests.
		send(t, st, Message{Type: MsgWant, ID: 1, CIDs: []cid.Cid{a}},
			Message{Type: MsgWant, ID: 2, CIDs: []cid.Cid{a}},
			Message{Type: MsgWant, ID: 3, CIDs: []cid.Cid{a}})
		if m := recv(t, br); m.Type != MsgDone || m.ID != 3 || m.Status != StatusTooMany {
			t.Fatalf("third request: %+v", m)
		}
		send(t, st, Message{Type: MsgCancel, ID: 2}, Message{Type: MsgCredit, Credit: 1})
		got := map[byte]int{}
		for range 3 { // request 1: its block (credit 1) and DONE; request 2: DONE CANCELLED
			m := recv(t, br)
			got[m.Type]++
			if m.Type == MsgDone && m.ID == 2 && m.Status != StatusCancelled {
				t.Fatalf("cancelled request: %+v", m)
			}
		}
		if got[MsgBlock] < 1 || got[MsgDone] < 2 {
			t.Fatalf("after credit: %v", got)
		}
	})

	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"malformed body", []byte{2, MsgWant, 0xff}},
		{"oversize frame", []byte{0x80, 0x80, 0x10}},
		{"response type", AppendFrame(nil, &Message{Type: MsgDone, ID: 1})},
		{"reused id", append(AppendFrame(nil, &Message{Type: MsgWant, ID: 9, CIDs: []cid.Cid{a}}),
			AppendFrame(nil, &Message{Type: MsgWant, ID: 9, CIDs: []cid.Cid{a}})...)},
	} {
		t.Run("reset on "+tc.name, func(t *testing.T) {
			st, br := rawStream(t, s)
			if _, err := st.Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			_, err := io.Copy(io.Discard, br)
			if err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("stream not reset: %v", err)
			}
		})
	}
}

func TestServerSetLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{GlobalRate: 1 << 20})
	data := randomBytes(t, 1<<20)
	root, _ := buildFile(t, data, 256<<10, 174, s.store)
	timeFetch := func() time.Duration {
		f := NewFetcher(newHost(t), memstore.New(), FetchOptions{})
		defer f.Close()
		start := time.Now()
		if err := f.Fetch(ctx, root, addrInfo(s.h)); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	// 1 MiB at 1 MiB/s needs about a second (less the burst).
	if d := timeFetch(); d < 700*time.Millisecond {
		t.Fatalf("capped fetch took %v; limit not applied", d)
	}
	s.srv.SetLimits(0, 0)
	if d := timeFetch(); d > 700*time.Millisecond {
		t.Fatalf("uncapped fetch took %v; SetLimits had no effect", d)
	}
}

// Two downloaders sharing one seeder's global cap get about equal shares:
// each stream takes one block per turn from the shared bucket.
func TestServerFairBetweenPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{GlobalRate: 4 << 20})
	data := randomBytes(t, 8<<20)
	root, _ := buildFile(t, data, 128<<10, 174, s.store)
	var fs []*Fetcher
	for range 2 {
		fs = append(fs, NewFetcher(newHost(t), memstore.New(), FetchOptions{}))
	}
	// Run both for a second, then compare what each received.
	ctx1, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	done := make(chan error, 2)
	for _, f := range fs {
		go func() { done <- f.Fetch(ctx1, root, addrInfo(s.h)) }()
	}
	<-done
	<-done
	served := s.srv.Served()
	if len(served) != 2 {
		t.Fatalf("served %v", served)
	}
	var a, b int64
	for _, f := range fs {
		n := served[f.h.ID()]
		if a == 0 {
			a = n
		} else {
			b = n
		}
	}
	t.Logf("shares: %d and %d bytes", a, b)
	if a == 0 || b == 0 || max(a, b) > 2*min(a, b) {
		t.Fatalf("unfair shares: %d and %d bytes", a, b)
	}
}

// TestServerSingleWantsInOrder: single-block wants on one stream, all open
// at once, are answered in the order they were sent. A file of 1 MiB
// blocks is fetched as one such want per block, and a streaming reader
// needs them in order; the round-robin used to skip one request each time
// it finished one (blocks 1, 3, 5, 2, ...).
func TestServerSingleWantsInOrder(t *testing.T) {
	s := newSeeder(t, ServerOptions{})
	var want []Message
	var ids []uint64
	for i := range 7 {
		c := testCID(t, fmt.Sprint("block ", i))
		s.store.Put(context.Background(), c, []byte(fmt.Sprint("block ", i)))
		want = append(want, Message{Type: MsgWant, ID: uint64(i + 1), CIDs: []cid.Cid{c}})
		ids = append(ids, uint64(i+1))
	}
	st, br := rawStream(t, s)
	// No credit yet: every request is open before the first is served.
	send(t, st, want...)
	send(t, st, Message{Type: MsgCredit, Credit: 1 << 20})
	var got []uint64
	for len(got) < len(want) {
		if m := recv(t, br); m.Type == MsgBlock {
			got = append(got, m.ID)
		}
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("blocks answered in the order %v, sent as %v", got, ids)
	}
}
