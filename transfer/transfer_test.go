package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
	"github.com/trove-p2p/trove/unixfs"
)

// seeder is a host serving a store.
type seeder struct {
	h     host.Host
	store *memstore.Store
	srv   *Server
}

func newSeeder(t testing.TB, opts ServerOptions) *seeder {
	h := newHost(t)
	st := memstore.New()
	srv := NewServer(h, st, opts)
	t.Cleanup(func() { srv.Close() })
	return &seeder{h: h, store: st, srv: srv}
}

// checkFile asserts that every block of the DAG is in st and the leaves
// concatenate to data.
func checkFile(t *testing.T, st *memstore.Store, leaves []cid.Cid, data []byte) {
	t.Helper()
	var got []byte
	for _, c := range leaves {
		b, err := st.Get(context.Background(), c)
		if err != nil {
			t.Fatalf("leaf %s: %v", c, err)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("reassembled file differs (%d vs %d bytes)", len(got), len(data))
	}
}

func TestFetchOneSource(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		chunk  int
		fanout int
	}{
		{"single raw block", 1000, 4096, 174},
		{"two levels", 3<<20 + 17, 256 << 10, 174},
		{"three levels", 2<<20 + 5, 16 << 10, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s := newSeeder(t, ServerOptions{})
			data := randomBytes(t, tc.size)
			root, leaves := buildFile(t, data, tc.chunk, tc.fanout, s.store)
			local := memstore.New()
			f := NewFetcher(newHost(t), local, FetchOptions{})
			defer f.Close()
			if err := f.Fetch(ctx, root, addrInfo(s.h)); err != nil {
				t.Fatal(err)
			}
			checkFile(t, local, leaves, data)
			if ok, _ := local.Has(ctx, root); !ok {
				t.Fatal("root not stored")
			}
			// Nothing downloaded twice with a single source.
			var want int64
			for _, n := range s.srv.Served() {
				want += n
			}
			if want < int64(len(data)) || want > int64(len(data))+int64(len(data))/10+4096 {
				t.Fatalf("server sent %d bytes for a %d-byte file", want, len(data))
			}
		})
	}
}

func TestFetchFourCappedSeeders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const capRate = 2 << 20 // bytes/s per seeder
	data := randomBytes(t, 8<<20)
	var seeders []*seeder
	var stores []putter
	for range 4 {
		s := newSeeder(t, ServerOptions{PeerRate: capRate})
		seeders = append(seeders, s)
		stores = append(stores, s.store)
	}
	root, leaves := buildFile(t, data, 256<<10, 174, stores...)
	local := memstore.New()
	f := NewFetcher(newHost(t), local, FetchOptions{SpanBytes: 1 << 20})
	var hints []peer.AddrInfo
	for _, s := range seeders {
		hints = append(hints, addrInfo(s.h))
	}
	start := time.Now()
	if err := f.Fetch(ctx, root, hints...); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	checkFile(t, local, leaves, data)
	var total int64
	for i, s := range seeders {
		var n int64
		for _, v := range s.srv.Served() {
			n += v
		}
		total += n
		t.Logf("seeder %d served %d bytes", i, n)
		// A single capped seeder would need 4 s for the whole file; each
		// must carry a real share for the aggregate to approach the sum.
		if n < int64(len(data))/8 {
			t.Errorf("seeder %d served only %d of %d bytes", i, n, len(data))
		}
	}
	// The endgame may run the last span (1 MiB, an eighth of the file)
	// twice; the root and inner nodes, which are small, may also come
	// from two seeders while the first answers are awaited (a loaded
	// machine showed 1 span + 1.6 KB).
	if dup := total - int64(len(data)); dup > int64(len(data))/8+64<<10 {
		t.Errorf("%d duplicate bytes (endgame too eager)", dup)
	}
	t.Logf("%.1f MB/s aggregate with 4 seeders capped at %.1f MB/s", float64(len(data))/el.Seconds()/1e6, capRate/1e6)
}

func TestFetchSeederKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	data := randomBytes(t, 8<<20)
	var seeders []*seeder
	var stores []putter
	for range 3 {
		s := newSeeder(t, ServerOptions{PeerRate: 3 << 20})
		seeders = append(seeders, s)
		stores = append(stores, s.store)
	}
	root, leaves := buildFile(t, data, 256<<10, 174, stores...)
	local := memstore.New()
	f := NewFetcher(newHost(t), local, FetchOptions{SpanBytes: 1 << 20, RequestTimeout: 2 * time.Second})
	victim := seeders[0]
	go func() {
		// Kill the first seeder once it has served something.
		for ctx.Err() == nil {
			var n int64
			for _, v := range victim.srv.Served() {
				n += v
			}
			if n >= 512<<10 {
				victim.h.Close()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var hints []peer.AddrInfo
	for _, s := range seeders {
		hints = append(hints, addrInfo(s.h))
	}
	if err := f.Fetch(ctx, root, hints...); err != nil {
		t.Fatal(err)
	}
	checkFile(t, local, leaves, data)
	var n int64
	for _, v := range victim.srv.Served() {
		n += v
	}
	if n >= int64(len(data))/2 {
		t.Fatalf("victim served %d bytes; it should have died early", n)
	}
}

// appendHaveAll answers a HAVE request claiming every CID in it, as a
// lying provider does.
func appendHaveAll(out []byte, m Message) []byte {
	bits := make([]byte, (len(m.CIDs)+7)/8)
	for i := range bits {
		bits[i] = 0xff
	}
	out = AppendFrame(out, &Message{Type: MsgHaveResp, ID: m.ID, Bits: bits})
	return AppendFrame(out, &Message{Type: MsgDone, ID: m.ID})
}

// evilHandler speaks the protocol but answers every want with a valid
// block nobody asked for, or (bogus undefined) with an early DONE.
func evilHandler(h host.Host, bogus cid.Cid, bogusData []byte) {
	h.SetStreamHandler(ProtocolID, func(st network.Stream) {
		defer st.Close()
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
			case MsgWant:
				if bogus.Defined() {
					out = AppendFrame(out, &Message{Type: MsgBlock, ID: m.ID, CID: bogus, Data: bogusData})
				} else {
					out = AppendFrame(out, &Message{Type: MsgDone, ID: m.ID})
				}
			}
			if _, err := st.Write(out); err != nil {
				return
			}
		}
	})
}

func TestFetchBansCorruptAndUnrequested(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	data := randomBytes(t, 4<<20)
	honest := newSeeder(t, ServerOptions{PeerRate: 4 << 20})
	// TrustSource: this seeder sends what its store returns unchecked, as
	// a hostile or pre-verification peer would; trove's own server
	// answers rot as missing (TestServerNeverServesRot).
	corrupt := newSeeder(t, ServerOptions{TrustSource: true})
	root, leaves := buildFile(t, data, 256<<10, 174, honest.store, corrupt.store)
	// The corrupt seeder's disk rotted: every leaf comes back flipped.
	corrupt.store.SetFaults(memstore.Faults{Corrupt: leaves})
	evil := newHost(t)
	other := randomBytes(t, 1000)
	otherCID, _ := buildFile(t, other, 4096, 2, memstore.New())
	evilHandler(evil, otherCID, other)
	liar := newHost(t) // claims to have everything, answers wants with DONE
	evilHandler(liar, cid.Undef, nil)

	local := memstore.New()
	reg := prometheus.NewRegistry()
	f := NewFetcher(newHost(t), local, FetchOptions{SpanBytes: 512 << 10, Registerer: reg})
	start := time.Now()
	if err := f.Fetch(ctx, root, addrInfo(honest.h), addrInfo(corrupt.h), addrInfo(evil), addrInfo(liar)); err != nil {
		t.Fatal(err)
	}
	// 4 MiB at the honest peer's 4 MiB/s: detection must be immediate,
	// not wait for the 15 s request timeout.
	if el := time.Since(start); el > 8*time.Second {
		t.Errorf("fetch took %v: misbehaviour detected by timeout, not at once", el)
	}
	checkFile(t, local, leaves, data)
	for _, tc := range []struct {
		name string
		id   peer.ID
		ban  bool
	}{{"honest", honest.h.ID(), false}, {"corrupt", corrupt.h.ID(), true}, {"unrequested", evil.ID(), true}, {"early done", liar.ID(), true}} {
		if got := f.Banned(tc.id); got != tc.ban {
			t.Errorf("%s peer banned = %v, want %v", tc.name, got, tc.ban)
		}
	}
	if n := counterValue(t, reg, "trove_transfer_peers_banned_total"); n != 3 {
		t.Errorf("ban counter = %v, want 3", n)
	}
	if ok, _ := local.Has(ctx, otherCID); ok {
		t.Error("unrequested block was stored")
	}
	// Every stored leaf verified: checkFile compared bytes above, so a
	// corrupt block stored under a leaf CID would have failed it.

	// A banned peer is refused for new transfers too.
	if _, err := f.session(ctx, addrInfo(corrupt.h)); !errors.Is(err, ErrMisbehaved) {
		t.Errorf("session to banned peer: %v", err)
	}
}

func TestFetchResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{})
	data := randomBytes(t, 4<<20)
	root, leaves := buildFile(t, data, 256<<10, 174, s.store)
	local := memstore.New()
	// First attempt: interrupted once a third of the file has arrived.
	var f1 *Fetcher
	ctx1, cancel1 := context.WithCancel(ctx)
	f1 = NewFetcher(newHost(t), local, FetchOptions{SpanBytes: 256 << 10, Window: 512 << 10,
		ProgressInterval: time.Millisecond,
		OnProgress: func(p Progress) {
			if p.Have >= int64(len(data))/3 {
				cancel1()
			}
		}})
	s.srv.SetLimits(0, 8<<20) // slow enough to interrupt mid-way
	err := f1.Fetch(ctx1, root, addrInfo(s.h))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted fetch: %v", err)
	}
	f1.Close()
	s.srv.SetLimits(0, 0)
	var have int64
	for _, c := range leaves {
		if b, err := local.Get(ctx, c); err == nil {
			have += int64(len(b))
		}
	}
	if have == 0 || have == int64(len(data)) {
		t.Fatalf("interruption left %d of %d bytes; test needs a partial store", have, len(data))
	}
	var last Progress
	f2 := NewFetcher(newHost(t), local, FetchOptions{OnProgress: func(p Progress) { last = p }})
	if err := f2.Fetch(ctx, root, addrInfo(s.h)); err != nil {
		t.Fatal(err)
	}
	checkFile(t, local, leaves, data)
	if !last.Done || last.Err != nil {
		t.Fatalf("final progress %+v", last)
	}
	if want := int64(len(data)) - have; last.Bytes != want {
		t.Fatalf("resumed fetch received %d bytes, want exactly the %d missing", last.Bytes, want)
	}
}

func TestBlockGetterStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{PeerRate: 8 << 20})
	data := randomBytes(t, 4<<20)
	root, leaves := buildFile(t, data, 256<<10, 174, s.store)
	local := memstore.New()
	f := NewFetcher(newHost(t), local, FetchOptions{})
	g := f.Getter(ctx, root, addrInfo(s.h))
	defer g.Close()
	// Read the file front to back through the Getter while the
	// background fetch runs; the first leaf must come long before the
	// whole file could have (0.5 s at the cap).
	start := time.Now()
	var got []byte
	for i, c := range leaves {
		b, err := g.Get(ctx, c)
		if err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		if i == 0 {
			t.Logf("first leaf after %v", time.Since(start))
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("streamed bytes differ")
	}
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	checkFile(t, local, leaves, data)
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// A reader jumping to the end of a file gets its block long before the
// background fetch would have reached it: on-demand gets are served ahead
// of bulk spans.
func TestBlockGetterPrioritises(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{PeerRate: 2 << 20})
	data := randomBytes(t, 2<<20) // a second at the cap
	root, leaves := buildFile(t, data, 128<<10, 174, s.store)
	f := NewFetcher(newHost(t), memstore.New(), FetchOptions{SpanBytes: 512 << 10})
	g := f.Getter(ctx, root, addrInfo(s.h))
	defer g.Close()
	if _, err := g.Get(ctx, root); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	last := leaves[len(leaves)-1]
	b, err := g.Get(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, data[len(data)-len(b):]) {
		t.Fatal("last leaf has wrong bytes")
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("last leaf took %v; on-demand get waited behind the bulk fetch", d)
	}
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// The only seeder drops the connection mid-transfer: the fetcher dials
// again after a backoff and finishes, rather than giving up on the peer.
func TestFetchReconnectsAfterConnectionLoss(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{PeerRate: 4 << 20})
	data := randomBytes(t, 2<<20)
	root, leaves := buildFile(t, data, 128<<10, 174, s.store)
	local := memstore.New()
	h := newHost(t)
	f := NewFetcher(h, local, FetchOptions{Backoff: 50 * time.Millisecond, SpanBytes: 256 << 10})
	cut := make(chan struct{})
	go func() {
		defer close(cut)
		for ctx.Err() == nil {
			if s.srv.Served()[h.ID()] >= 256<<10 {
				s.h.Network().ClosePeer(h.ID())
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	if err := f.Fetch(ctx, root, addrInfo(s.h)); err != nil {
		t.Fatal(err)
	}
	<-cut
	checkFile(t, local, leaves, data)
}

// TestBlockGetterUnderUploadLimit reads a file front to back, as `cat`
// does (unixfs.File, prefetching), from one peer whose upload is capped.
// The reader's one-block requests used to stay open at the server until
// a round-robin turn that the capped bulk blocks kept far away, filled
// the peer's request cap, and the reader, told "too many requests", gave
// up on its only provider.
func TestBlockGetterUnderUploadLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{PeerRate: 16e6, MaxRequests: 12})
	data := randomBytes(t, 16<<20)
	root, leaves := buildFile(t, data, 256<<10, 174, s.store)
	local := memstore.New()
	f := NewFetcher(newHost(t), local, FetchOptions{})
	defer f.Close()
	g := f.Getter(ctx, root, addrInfo(s.h))
	defer g.Close()
	file, err := unixfs.NewFile(ctx, g, root)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var got bytes.Buffer
	if _, err := io.Copy(&got, file); err != nil {
		t.Fatalf("read failed after %d of %d MiB: %v", got.Len()>>20, len(data)>>20, err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("read bytes differ")
	}
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	checkFile(t, local, leaves, data)
}

// TestBlockGetterUndeliverable: a block no provider has fails in the
// same words as a failed fetch, matching both ErrNotFound and
// ErrNoProviders.
func TestBlockGetterUndeliverable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{})
	root, _ := buildFile(t, randomBytes(t, 1000), 4096, 174, s.store)
	f := NewFetcher(newHost(t), memstore.New(), FetchOptions{})
	defer f.Close()
	g := f.Getter(ctx, root, addrInfo(s.h))
	defer g.Close()
	absent := testCID(t, "nobody has this block")
	_, err := g.Get(ctx, absent)
	if !errors.Is(err, block.ErrNotFound) || !errors.Is(err, ErrNoProviders) ||
		!strings.Contains(err.Error(), "no peer could deliver it") || strings.Count(err.Error(), absent.String()) != 1 {
		t.Fatalf("Get of an absent block = %v", err)
	}
}

// TestUndeliverableKinds: the last provider's timeout shows in the
// message but must not make the error a deadline (the API classifies
// deadlines before not-found, and cat would exit 1 instead of 4).
func TestUndeliverableKinds(t *testing.T) {
	c := testCID(t, "x")
	err := error(&MissingError{Root: c, Last: fmt.Errorf("peer p: %w", context.DeadlineExceeded)})
	if !errors.Is(err, block.ErrNotFound) || !errors.Is(err, ErrNoProviders) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("classification of %v", err)
	}
	if !strings.Contains(err.Error(), "last failure: peer p") {
		t.Fatalf("message %q lacks the last failure", err)
	}
	if msg := (&MissingError{Root: c, Last: block.NotFound(c)}).Error(); strings.Count(msg, "not found") != 1 {
		t.Fatalf("message %q repeats not found", msg)
	}
}

// failingPuts is a store whose writes fail as a full disk's do.
type failingPuts struct {
	*memstore.Store
	puts atomic.Int32
}

var errDiskFull = fmt.Errorf("test disk: %w", syscall.ENOSPC)

func (s *failingPuts) Put(ctx context.Context, c cid.Cid, data []byte) error {
	s.puts.Add(1)
	return errDiskFull
}

// TestBlockGetterStoreFault: a block the local store cannot write is this
// node's fault, not the peer's. Get returns the store's error (so a full
// disk keeps its exit code) after one write, instead of asking every
// provider in turn and reporting "no peer could deliver it".
func TestBlockGetterStoreFault(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	data := randomBytes(t, 300<<10)
	s1 := newSeeder(t, ServerOptions{})
	s2 := newSeeder(t, ServerOptions{})
	root, _ := buildFile(t, data, 64<<10, 174, s1.store)
	buildFile(t, data, 64<<10, 174, s2.store)
	st := &failingPuts{Store: memstore.New()}
	f := NewFetcher(newHost(t), st, FetchOptions{})
	defer f.Close()
	g := f.OnDemand(ctx, Want{Root: root, Hints: []peer.AddrInfo{addrInfo(s1.h), addrInfo(s2.h)}})
	defer g.Close()
	_, err := g.Get(ctx, root)
	if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrNoProviders) {
		t.Fatalf("Get with a full disk = %v, want the store's ENOSPC", err)
	}
	if n := st.puts.Load(); n != 1 {
		t.Errorf("%d writes tried, want 1 (one per provider means peers were blamed)", n)
	}
}

// A reader that jumps ahead and then reads on gets the blocks after its
// jump before the background fetch would have reached them: the urgent
// span is moved ahead of the spans queued at the server.
func TestBlockGetterJumpThenRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{PeerRate: 4 << 20})
	data := randomBytes(t, 8<<20) // two seconds at the cap
	root, leaves := buildFile(t, data, 128<<10, 174, s.store)
	f := NewFetcher(newHost(t), memstore.New(), FetchOptions{SpanBytes: 512 << 10})
	g := f.Getter(ctx, root, addrInfo(s.h))
	defer g.Close()
	if _, err := g.Get(ctx, root); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	from := len(leaves) - 4 // the last span
	for i, c := range leaves[from:] {
		b, err := g.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		off := (from + i) * 128 << 10
		if !bytes.Equal(b, data[off:off+len(b)]) {
			t.Fatalf("leaf %d has wrong bytes", from+i)
		}
	}
	d := time.Since(start)
	t.Logf("the last span read %v after the jump", d)
	// Two spans being served (1 MiB, a quarter second at the cap), then
	// the last; without the move it came after all sixteen (about 2 s).
	if d > 1200*time.Millisecond {
		t.Fatalf("the last span took %v after the jump; it waited for the front of the file", d)
	}
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}
