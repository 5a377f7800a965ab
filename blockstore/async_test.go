package blockstore

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/trove-p2p/trove/block"
)

// putAsyncWait stores through PutAsync and waits for done.
func putAsyncWait(ss *Session, b blk) error {
	ch := make(chan error, 1)
	ss.PutAsync(context.Background(), b.c, b.data, func(err error) { ch <- err })
	return <-ch
}

// TestPutAsyncVisibleWhenDone puts many blocks from several goroutines at
// once, so that they pile up behind running commits and share
// transactions, and checks that every done runs exactly once and that a
// block is readable by the time its done runs.
func TestPutAsyncVisibleWhenDone(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	ss := s.Session()
	defer ss.End()
	r := rand.NewChaCha8([32]byte{7})
	var blocks []blk
	for i := range 300 {
		d := make([]byte, 1<<10+i*331) // both sides of the value-log threshold
		r.Read(d)
		blocks = append(blocks, blk{rawCid(t, d), d})
	}
	var wg sync.WaitGroup
	calls := make([]int, len(blocks))
	var mu sync.Mutex
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < len(blocks); i += 4 {
				var inner sync.WaitGroup
				inner.Add(1)
				b := blocks[i]
				ss.PutAsync(ctx, b.c, b.data, func(err error) {
					defer inner.Done()
					mu.Lock()
					calls[i]++
					mu.Unlock()
					if err != nil {
						t.Errorf("block %d: %v", i, err)
						return
					}
					got, err := s.Get(ctx, b.c)
					if err != nil || !bytes.Equal(got, b.data) {
						t.Errorf("block %d not readable when done ran: %v", i, err)
					}
				})
				if i%3 == 0 { // leave some in flight while putting more
					inner.Wait()
				} else {
					defer inner.Wait()
				}
			}
		})
	}
	wg.Wait()
	for i, n := range calls {
		if n != 1 {
			t.Fatalf("done of block %d ran %d times", i, n)
		}
	}
}

func TestPutAsyncErrors(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	ss := s.Session()
	defer ss.End()
	big := make([]byte, block.MaxSize+1)
	if err := putAsyncWait(ss, blk{rawCid(t, big), big}); !errors.Is(err, block.ErrTooLarge) {
		t.Fatalf("oversized block: %v, want ErrTooLarge", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := []byte("cancelled before it started")
	ch := make(chan error, 1)
	ss.PutAsync(ctx, rawCid(t, d), d, func(err error) { ch <- err })
	if err := <-ch; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
	if ok, _ := s.Has(context.Background(), rawCid(t, d)); ok {
		t.Fatal("a put refused for its context was stored")
	}
	s.Close()
	if err := putAsyncWait(ss, blk{rawCid(t, d), d}); err == nil {
		t.Fatal("put into a closed store reported success")
	}
}

// TestPutAsyncSurvivesGC: a block written through a session's PutAsync is
// live for GC like one from Put, though nothing pins it yet.
func TestPutAsyncSurvivesGC(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	ss := s.Session()
	d := bytes.Repeat([]byte("x"), 64<<10)
	b := blk{rawCid(t, d), d}
	if err := putAsyncWait(ss, b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx, GCOptions{SkipReclaim: true}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(ctx, b.c); !ok {
		t.Fatal("GC removed a block of an open session")
	}
	ss.End()
	if _, err := s.GC(ctx, GCOptions{SkipReclaim: true}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(ctx, b.c); ok {
		t.Fatal("an unpinned block outlived its session and a GC")
	}
}

// TestCloseDrainsPutAsync: Close waits for every accepted PutAsync to be
// reported (a commit callback that synced after Badger closed crashed on
// a nil memtable), and puts after it fail cleanly.
func TestCloseDrainsPutAsync(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ss := s.Session()
	r := rand.NewChaCha8([32]byte{9})
	const n = 96 // 48 MiB: enough to cross a trim while closing
	var reported sync.WaitGroup
	var mu sync.Mutex
	dones := 0
	for i := range n {
		d := make([]byte, 512<<10)
		r.Read(d)
		reported.Add(1)
		ss.PutAsync(context.Background(), rawCid(t, append(d[:0:0], byte(i))), d, func(err error) {
			mu.Lock()
			dones++
			mu.Unlock()
			reported.Done()
		})
	}
	ss.End()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := dones
	mu.Unlock()
	if got != n {
		t.Fatalf("Close returned with %d of %d puts unreported", n-got, n)
	}
	reported.Wait()
	if err := putAsyncWait(s.Session(), blk{rawCid(t, []byte("late")), []byte("late")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("PutAsync after Close = %v, want ErrClosed", err)
	}
}
