package transfer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trove-p2p/trove/internal/memstore"
)

// listFinder is an in-memory ProviderFinder: it streams a fixed list,
// one entry at a time, as a DHT would, and records what it was asked.
type listFinder struct {
	mu    sync.Mutex
	peers []peer.AddrInfo
	asked []cid.Cid
	delay time.Duration
}

func (l *listFinder) FindProviders(ctx context.Context, c cid.Cid, max int) <-chan peer.AddrInfo {
	l.mu.Lock()
	l.asked = append(l.asked, c)
	peers := append([]peer.AddrInfo(nil), l.peers...)
	l.mu.Unlock()
	ch := make(chan peer.AddrInfo)
	go func() {
		defer close(ch)
		for i, p := range peers {
			if i >= max {
				return
			}
			select {
			case <-time.After(l.delay):
			case <-ctx.Done():
				return
			}
			select {
			case ch <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

func TestFetchFromFinderAndConnectedPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := randomBytes(t, 2<<20)
	connected := newSeeder(t, ServerOptions{PeerRate: 4 << 20})
	found := newSeeder(t, ServerOptions{PeerRate: 4 << 20})
	empty := newSeeder(t, ServerOptions{}) // connected, but lacks the file
	root, leaves := buildFile(t, data, 128<<10, 174, connected.store, found.store)
	h := newHost(t)
	for _, s := range []*seeder{connected, empty} {
		if err := h.Connect(ctx, addrInfo(s.h)); err != nil {
			t.Fatal(err)
		}
	}
	finder := &listFinder{peers: []peer.AddrInfo{addrInfo(found.h)}, delay: 20 * time.Millisecond}
	local := memstore.New()
	var maxPeers int
	f := NewFetcher(h, local, FetchOptions{Finder: finder, SpanBytes: 256 << 10,
		ProgressInterval: 10 * time.Millisecond,
		OnProgress:       func(p Progress) { maxPeers = max(maxPeers, p.Peers) }})
	if err := f.Fetch(ctx, root); err != nil {
		t.Fatal(err)
	}
	checkFile(t, local, leaves, data)
	if len(finder.asked) != 1 || !finder.asked[0].Equals(root) {
		t.Fatalf("finder asked for %v", finder.asked)
	}
	for name, s := range map[string]*seeder{"connected": connected, "found": found} {
		var n int64
		for _, v := range s.srv.Served() {
			n += v
		}
		if n == 0 {
			t.Errorf("%s provider served nothing", name)
		}
	}
	if len(empty.srv.Served()) != 0 {
		t.Error("peer without the file was asked for blocks")
	}
	if maxPeers != 2 {
		t.Errorf("progress reported at most %d peers, want 2", maxPeers)
	}
}

func TestFetchNoProviders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	empty := newSeeder(t, ServerOptions{})
	f := NewFetcher(newHost(t), memstore.New(), FetchOptions{})
	err := f.Fetch(ctx, testCID(t, "nobody has this"), addrInfo(empty.h))
	if !errors.Is(err, ErrNoProviders) {
		t.Fatalf("Fetch = %v, want ErrNoProviders", err)
	}
	var me *MissingError
	if !errors.As(err, &me) || me.Missing != 1 {
		t.Fatalf("Fetch = %v, want a MissingError of 1 block", err)
	}
}

// A seeder whose store hangs: requests time out, the peer backs off and
// is dropped, and the honest seeder finishes the job.
func TestFetchStalledSeeder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := randomBytes(t, 2<<20)
	good := newSeeder(t, ServerOptions{PeerRate: 8 << 20})
	stuck := newSeeder(t, ServerOptions{})
	root, leaves := buildFile(t, data, 256<<10, 174, good.store, stuck.store)
	stuck.store.SetFaults(memstore.Faults{OnGet: func(ctx context.Context, c cid.Cid) error {
		if c.Equals(root) {
			return nil
		}
		<-ctx.Done() // hangs until the server gives up
		return ctx.Err()
	}})
	local := memstore.New()
	f := NewFetcher(newHost(t), local, FetchOptions{RequestTimeout: 300 * time.Millisecond, Backoff: 50 * time.Millisecond, SpanBytes: 256 << 10})
	start := time.Now()
	if err := f.Fetch(ctx, root, addrInfo(stuck.h), addrInfo(good.h)); err != nil {
		t.Fatal(err)
	}
	checkFile(t, local, leaves, data)
	if f.Banned(stuck.h.ID()) {
		t.Error("a slow peer is not a malicious one; it must not be banned")
	}
	t.Logf("done in %v despite a stalled seeder", time.Since(start))
}

// TestFetchOnlyStalledSeeder: when the one provider stalls, the error
// says so, not just that no provider is left.
func TestFetchOnlyStalledSeeder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stuck := newSeeder(t, ServerOptions{})
	root, _ := buildFile(t, randomBytes(t, 1<<20), 256<<10, 174, stuck.store)
	stuck.store.SetFaults(memstore.Faults{OnGet: func(ctx context.Context, c cid.Cid) error {
		if c.Equals(root) {
			return nil
		}
		<-ctx.Done()
		return ctx.Err()
	}})
	f := NewFetcher(newHost(t), memstore.New(), FetchOptions{RequestTimeout: 200 * time.Millisecond, Backoff: 20 * time.Millisecond, MaxFailures: 2})
	err := f.Fetch(ctx, root, addrInfo(stuck.h))
	var me *MissingError
	if !errors.As(err, &me) || me.Missing != 4 || me.Last == nil || !strings.Contains(err.Error(), "no progress") {
		t.Fatalf("Fetch = %v, want a MissingError of 4 blocks whose last failure is the stall", err)
	}
}

func TestDownloadLimitAndStats(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{})
	data := randomBytes(t, 1<<20)
	root, _ := buildFile(t, data, 128<<10, 174, s.store)
	f := NewFetcher(newHost(t), memstore.New(), FetchOptions{DownloadRate: 1 << 20})
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- f.Fetch(ctx, root, addrInfo(s.h)) }()
	// Mid-transfer, Stats shows one live transfer with a size and a rate.
	time.Sleep(600 * time.Millisecond)
	st := f.Stats()
	if len(st) != 1 || !st[0].Root.Equals(root) || st[0].Total != int64(len(data)) || st[0].Peers != 1 {
		t.Fatalf("Stats mid-transfer = %+v", st)
	}
	if st[0].Bytes <= 0 || st[0].Bytes >= int64(len(data)) || st[0].Rate <= 0 || st[0].ETA <= 0 {
		t.Fatalf("Stats mid-transfer = %+v", st[0])
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("1 MiB at 1 MiB/s took %v; download limit not applied", d)
	}
	if st := f.Stats(); len(st) != 0 {
		t.Fatalf("Stats after the transfer = %+v", st)
	}
}
