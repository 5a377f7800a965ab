package transfer

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-varint"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
)

// fault is one way a hostile provider misbehaves.
type fault string

const (
	// Liars: they claim every CID and answer with bad BLOCKs.
	faultWrongBytes fault = "wrong bytes"
	faultOtherBlock fault = "another block's bytes"
	faultTruncated  fault = "truncated block"
	faultUnknownID  fault = "block for a request id never sent"
	// Flooders: they break the framing.
	faultOversize   fault = "frame over the size cap"
	faultZeroLen    fault = "zero-length frame"
	faultLongVarint fault = "5-byte varint length"
	// Stallers: they hold the requester up without breaking a rule a
	// crash or a newer version could not also explain, so they are
	// dropped from the transfer after failed requests, not banned.
	faultTruncFrame fault = "truncated frame, then EOF" // a crash mid-write looks the same
	faultGarbage    fault = "unknown response type"     // skipped by spec (§5), so a staller
	faultDrip       fault = "1 byte/s drip"
	faultSilent     fault = "never answers"
)

// liars are the faults after which the provider must be banned.
var liars = map[fault]bool{
	faultWrongBytes: true, faultOtherBlock: true, faultTruncated: true, faultUnknownID: true,
	faultOversize: true, faultZeroLen: true, faultLongVarint: true,
}

// hostilePeer is a real libp2p host speaking /trove/transfer/1.0.0 from
// docs/protocol.md, answering HAVE with "everything" and every WANT or DAG
// with its fault. It holds the genuine blocks (src) so that it can lie
// convincingly: right sizes, right CIDs, wrong contents.
type hostilePeer struct {
	h     host.Host
	fault fault
	src   *memstore.Store
	other []byte // a genuine block of a different CID

	mu    sync.Mutex
	asked int // WANT and DAG requests received
}

func newHostilePeer(t *testing.T, f fault, src *memstore.Store, other []byte) *hostilePeer {
	hp := &hostilePeer{h: newHost(t), fault: f, src: src, other: other}
	hp.h.SetStreamHandler(ProtocolID, hp.serve)
	return hp
}

func (hp *hostilePeer) requests() int {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	return hp.asked
}

func (hp *hostilePeer) serve(st network.Stream) {
	defer st.Reset()
	br := bufio.NewReader(st)
	for {
		payload, err := ReadFrame(br, MaxRequestFrame)
		if err != nil {
			return
		}
		m, err := Decode(payload)
		if err != nil {
			continue
		}
		var out []byte
		switch m.Type {
		case MsgHave:
			out = appendHaveAll(out, m)
		case MsgWant, MsgDAG:
			hp.mu.Lock()
			hp.asked++
			hp.mu.Unlock()
			c := m.CID
			if m.Type == MsgWant {
				c = m.CIDs[0]
			}
			if done := hp.misbehave(st, m.ID, c, &out); done {
				return
			}
		}
		if len(out) > 0 {
			if _, err := st.Write(out); err != nil {
				return
			}
		}
	}
}

// misbehave appends (or writes) the fault's answer to a request for c;
// it reports whether the stream is finished.
func (hp *hostilePeer) misbehave(st network.Stream, id uint64, c cid.Cid, out *[]byte) bool {
	real, _ := hp.src.Get(context.Background(), c)
	blk := func(id uint64, data []byte) {
		*out = AppendFrame(*out, &Message{Type: MsgBlock, ID: id, CID: c, Data: data})
	}
	switch hp.fault {
	case faultWrongBytes:
		bad := append([]byte(nil), real...)
		bad[len(bad)/2] ^= 0xff
		blk(id, bad)
	case faultOtherBlock:
		blk(id, hp.other)
	case faultTruncated:
		blk(id, real[:len(real)/2])
	case faultUnknownID:
		blk(id+1_000_000, real)
	case faultOversize:
		*out = varint.ToUvarint(MaxFrame + 1)
		*out = append(*out, make([]byte, 1024)...)
	case faultZeroLen:
		*out = []byte{0}
	case faultLongVarint:
		*out = []byte{0x81, 0x80, 0x80, 0x80, 0x00}
	case faultTruncFrame:
		*out = append(varint.ToUvarint(4096), make([]byte, 100)...)
		st.Write(*out)
		st.CloseWrite()
		return true
	case faultGarbage:
		*out = []byte{2, 0xee, 0x01}
	case faultDrip:
		// Inline, so no other write interleaves with the frame: the
		// drip is valid, just slow, until the requester gives up.
		st.Write(*out)
		*out = nil
		for _, b := range AppendFrame(nil, &Message{Type: MsgBlock, ID: id, CID: c, Data: real}) {
			if _, err := st.Write([]byte{b}); err != nil {
				return true
			}
			time.Sleep(time.Second)
		}
	case faultSilent:
	}
	return false
}

// hostileFixture is a 2 MiB file of 256 KiB leaves, one honest seeder
// capped at 2 MiB/s (so the hostile peer is surely asked too) and the
// genuine blocks for liars to twist.
type hostileFixture struct {
	data   []byte
	root   cid.Cid
	leaves []cid.Cid
	honest *seeder
	blocks *memstore.Store
	other  []byte
}

func newHostileFixture(t *testing.T) *hostileFixture {
	fx := &hostileFixture{data: randomBytes(t, 2<<20+333), blocks: memstore.New()}
	fx.honest = newSeeder(t, ServerOptions{PeerRate: 2 << 20})
	fx.root, fx.leaves = buildFile(t, fx.data, 256<<10, 174, fx.honest.store, fx.blocks)
	fx.other = randomBytes(t, 256<<10)
	return fx
}

// fetcher is a Fetcher with timeouts short enough that a staller costs
// seconds, not the production 15 s per request.
func hostileFetcher(t *testing.T, local *memstore.Store) *Fetcher {
	return NewFetcher(newHost(t), local, FetchOptions{SpanBytes: 512 << 10, RequestTimeout: time.Second, Backoff: 50 * time.Millisecond, MaxFailures: 2})
}

// checkOnlyGenuine asserts that every block in st hashes to its CID, so no
// hostile byte was stored.
func checkOnlyGenuine(t *testing.T, st *memstore.Store) {
	t.Helper()
	for _, c := range st.Keys() {
		data, err := st.Get(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if err := block.Verify(c, data); err != nil {
			t.Fatalf("a hostile block was stored: %v", err)
		}
	}
}

// TestHostileProviders fetches from one honest seeder and one hostile
// peer per fault: the download completes with identical bytes, only
// genuine blocks are stored, a liar or flooder is banned after its first
// bad answer, and a staller costs at most a few request timeouts.
func TestHostileProviders(t *testing.T) {
	fx := newHostileFixture(t)
	for _, f := range []fault{faultWrongBytes, faultOtherBlock, faultTruncated, faultUnknownID,
		faultOversize, faultZeroLen, faultLongVarint, faultTruncFrame, faultGarbage, faultDrip, faultSilent} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			hp := newHostilePeer(t, f, fx.blocks, fx.other)
			local := memstore.New()
			fe := hostileFetcher(t, local)
			start := time.Now()
			if err := fe.Fetch(ctx, fx.root, addrInfo(hp.h), addrInfo(fx.honest.h)); err != nil {
				t.Fatalf("fetch with an honest seeder present: %v", err)
			}
			el := time.Since(start)
			checkFile(t, local, fx.leaves, fx.data)
			checkOnlyGenuine(t, local)
			if hp.requests() == 0 {
				t.Fatal("the hostile peer was never asked; the test proves nothing")
			}
			if got := fe.Banned(hp.h.ID()); got != liars[f] {
				t.Errorf("banned = %v, want %v", got, liars[f])
			}
			if liars[f] && hp.requests() > len(fx.leaves)+1 {
				// Only requests pipelined before its first answer (one
				// per 512 KiB span, plus the root), never one per block.
				t.Errorf("a liar got %d requests; it should be dropped at its first bad answer", hp.requests())
			}
			if el > 20*time.Second {
				t.Errorf("fetch took %v", el)
			}
			t.Logf("%s: %v, %d requests to the hostile peer", f, el.Round(time.Millisecond), hp.requests())
		})
	}
}

// TestOnlyHostileProviders: with no honest peer, a fetch fails within a
// bounded time with an error that says no peer could deliver, stores
// nothing hostile, and bans the liars.
func TestOnlyHostileProviders(t *testing.T) {
	fx := newHostileFixture(t)
	var peers []*hostilePeer
	for _, f := range []fault{faultWrongBytes, faultTruncFrame, faultSilent, faultDrip} {
		peers = append(peers, newHostilePeer(t, f, fx.blocks, fx.other))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	local := memstore.New()
	fe := hostileFetcher(t, local)
	start := time.Now()
	var hints = addrInfos(peers)
	err := fe.Fetch(ctx, fx.root, hints...)
	el := time.Since(start)
	if err == nil {
		t.Fatal("fetch from hostile peers only succeeded")
	}
	if ctx.Err() != nil {
		t.Fatalf("fetch ran into the test's deadline instead of giving up: %v", err)
	}
	if !errors.Is(err, ErrNoProviders) || !strings.Contains(err.Error(), "no peer could deliver") {
		t.Errorf("error does not say why: %v", err)
	}
	if el > 30*time.Second {
		t.Errorf("gave up after %v", el)
	}
	checkOnlyGenuine(t, local)
	for _, hp := range peers {
		if got := fe.Banned(hp.h.ID()); got != liars[hp.fault] {
			t.Errorf("%s: banned = %v", hp.fault, got)
		}
	}
	t.Logf("failed after %v: %v", el.Round(time.Millisecond), err)
}

func addrInfos(ps []*hostilePeer) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, p := range ps {
		out = append(out, addrInfo(p.h))
	}
	return out
}

// wantFrame is a WANT frame by hand, with cidLens overriding the length
// prefix of each CID (0 = the true length), for malformed requests the
// encoder refuses to produce.
func rawWant(id uint64, n int, cidBytes []byte, cidLen int) []byte {
	body := []byte{MsgWant}
	body = append(body, varint.ToUvarint(id)...)
	body = append(body, varint.ToUvarint(uint64(n))...)
	for range n {
		body = append(body, varint.ToUvarint(uint64(cidLen))...)
		body = append(body, cidBytes[:min(cidLen, len(cidBytes))]...)
		if cidLen > len(cidBytes) {
			body = append(body, make([]byte, cidLen-len(cidBytes))...)
		}
	}
	return append(varint.ToUvarint(uint64(len(body))), body...)
}

// TestHostileClient attacks a seeder the way a hostile requester would,
// each case on its own stream, while an honest fetcher downloads from the
// same seeder: malformed requests reset only the offending stream, the
// seeder keeps serving (the honest download completes with identical
// bytes), and nothing panics.
func TestHostileClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{})
	data := randomBytes(t, 3<<20)
	root, leaves := buildFile(t, data, 256<<10, 174, s.store)
	leaf := leaves[0]
	credit := func(n uint64) []byte { return AppendFrame(nil, &Message{Type: MsgCredit, Credit: n}) }
	many := func(n int, f func(i int) []byte) []byte {
		var b []byte
		for i := range n {
			b = append(b, f(i)...)
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		bytes []byte
		reset bool // the stream must be reset; else it must still serve
	}{
		{"too many CIDs in a WANT", rawWant(1, MaxCIDs+1, leaf.Bytes(), len(leaf.Bytes())), true},
		{"CID length 0", rawWant(1, 1, leaf.Bytes(), 0), true},
		{"CID length 129", rawWant(1, 1, leaf.Bytes(), MaxCIDLen+1), true},
		{"CID of garbage", rawWant(1, 1, []byte{0xff, 0xff, 0xff}, 3), true},
		{"reused request id", many(2, func(int) []byte {
			return AppendFrame(nil, &Message{Type: MsgWant, ID: 7, CIDs: []cid.Cid{leaf}})
		}), true},
		{"credit over 2^31", credit(1 << 31), true},
		{"credit overflow by many frames", many(600, func(int) []byte { return credit(1<<31 - 1) }), true},
		{"unknown message types", many(100, func(i int) []byte { return []byte{2, 0x70 + byte(i%8), 0} }), false},
		{"response types sent to a server", AppendFrame(nil, &Message{Type: MsgBlock, ID: 1, CID: leaf, Data: []byte("x")}), true},
		{"DAG with end before start", AppendFrame(nil, &Message{Type: MsgDAG, ID: 1, CID: root, Start: 10, End: 5}), false},
		{"DAG with an absurd start", AppendFrame(nil, &Message{Type: MsgDAG, ID: 1, CID: root, Start: 1 << 62}), false},
		{"DAG byte range past the end", AppendFrame(nil, &Message{Type: MsgDAG, ID: 1, CID: root, Flags: FlagByteRange, Start: 1 << 40, End: 1<<40 + 1}), false},
		{"10,000 requests in flight", many(10_000, func(i int) []byte {
			return AppendFrame(nil, &Message{Type: MsgWant, ID: uint64(100 + i), CIDs: []cid.Cid{leaf}})
		}), false},
		{"cancels of unknown ids", many(1000, func(i int) []byte { return AppendFrame(nil, &Message{Type: MsgCancel, ID: uint64(i)}) }), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, br := rawStream(t, s)
			go st.Write(tc.bytes) // may block on flow control while we read
			if tc.reset {
				_, err := io.Copy(io.Discard, br)
				if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("stream not reset: %v", err)
				}
				return
			}
			// Still serving: a fresh request with credit gets its block.
			send(t, st, Message{Type: MsgCredit, Credit: 1 << 30}, Message{Type: MsgWant, ID: 99_999, CIDs: []cid.Cid{leaf}})
			for {
				m := recv(t, br)
				if m.ID == 99_999 && m.Type == MsgBlock {
					if !m.CID.Equals(leaf) {
						t.Fatalf("wrong block %s", m.CID)
					}
					return
				}
			}
		})
	}

	t.Run("100 streams at once", func(t *testing.T) {
		h := newHost(t)
		if err := h.Connect(ctx, addrInfo(s.h)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		served := 0
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := h.NewStream(ctx, s.h.ID(), ProtocolID)
				if err != nil {
					return
				}
				defer st.Reset()
				st.SetDeadline(time.Now().Add(10 * time.Second))
				st.Write(append(credit(1<<22), AppendFrame(nil, &Message{Type: MsgWant, ID: uint64(i), CIDs: []cid.Cid{leaf}})...))
				p, err := ReadFrame(bufio.NewReader(st), MaxFrame)
				if err != nil {
					return
				}
				if m, err := Decode(p); err == nil && m.Type == MsgBlock {
					mu.Lock()
					served++
					mu.Unlock()
				}
				time.Sleep(500 * time.Millisecond) // hold the stream
			}()
		}
		wg.Wait()
		// The server takes at most MaxStreams (4) per peer at a time; a
		// late stream may slip in as an early one ends.
		if served < 4 || served > 8 {
			t.Fatalf("%d streams served", served)
		}
		t.Logf("%d of 100 simultaneous streams served", served)
	})

	// Meanwhile (the subtests above ran on their own streams) the seeder
	// still serves an honest peer in full.
	local := memstore.New()
	if err := NewFetcher(newHost(t), local, FetchOptions{}).Fetch(ctx, root, addrInfo(s.h)); err != nil {
		t.Fatalf("honest fetch after the attacks: %v", err)
	}
	checkFile(t, local, leaves, data)
}

// TestServerBoundsUnreadReplies is a regression test: every refused
// request (over MaxRequests) queued a DONE TOO_MANY with no bound, so a
// requester that wrote requests and never read the replies grew the
// server's queue until WriteTimeout. Now the server stops reading at
// maxPendingReplies queued replies, and flow control stalls the flood:
// 8 MB of requests cannot all be written.
func TestServerBoundsUnreadReplies(t *testing.T) {
	s := newSeeder(t, ServerOptions{MaxRequests: 1})
	c := testCID(t, "x")
	st, _ := rawStream(t, s)
	var flood []byte
	for i := range 200_000 {
		flood = AppendFrame(flood, &Message{Type: MsgWant, ID: uint64(i), CIDs: []cid.Cid{c}})
	}
	done := make(chan error, 1)
	go func() { _, err := st.Write(flood); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("the server read all %d bytes of requests whose replies nobody read (err %v)", len(flood), err)
	case <-time.After(4 * time.Second): // unfixed, the write completed in under 2 s
	}
	// The seeder still serves another peer.
	other, br := rawStream(t, s)
	s.store.Put(context.Background(), c, []byte("x"))
	send(t, other, Message{Type: MsgCredit, Credit: 1 << 20}, Message{Type: MsgWant, ID: 1, CIDs: []cid.Cid{c}})
	if m := recv(t, br); m.Type != MsgBlock {
		t.Fatalf("other peer got %+v", m)
	}
}
