package memstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

func mustSum(t *testing.T, codec uint64, data []byte) cid.Cid {
	t.Helper()
	c, err := block.Sum(1, codec, block.HashSHA256, data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	a := []byte("alpha")
	b := []byte("beta")
	ca := mustSum(t, block.CodecRaw, a)
	cb := mustSum(t, block.CodecRaw, b)
	absent := mustSum(t, block.CodecRaw, []byte("gamma"))

	tests := []struct {
		name    string
		faults  Faults
		get     cid.Cid
		want    []byte
		wantErr error
		corrupt bool
	}{
		{name: "present", get: ca, want: a},
		{name: "absent", get: absent, wantErr: block.ErrNotFound},
		{name: "missing fault", faults: Faults{Missing: []cid.Cid{ca}}, get: ca, wantErr: block.ErrNotFound},
		{name: "missing other", faults: Faults{Missing: []cid.Cid{cb}}, get: ca, want: a},
		{name: "corrupt", faults: Faults{Corrupt: []cid.Cid{ca}}, get: ca, corrupt: true},
		{name: "hook error", faults: Faults{OnGet: func(context.Context, cid.Cid) error { return errTest }}, get: ca, wantErr: errTest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			for _, d := range [][]byte{a, b} {
				if err := s.Put(ctx, mustSum(t, block.CodecRaw, d), d); err != nil {
					t.Fatal(err)
				}
			}
			s.SetFaults(tc.faults)
			got, err := s.Get(ctx, tc.get)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Get err = %v, want %v", err, tc.wantErr)
				}
				if has, _ := s.Has(ctx, tc.get); has && errors.Is(tc.wantErr, block.ErrNotFound) {
					t.Errorf("Has = true for a block Get reports absent")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.corrupt {
				if err := block.Verify(tc.get, got); !errors.Is(err, block.ErrCorrupt) {
					t.Fatalf("corrupt block verifies: %v", err)
				}
				return
			}
			if string(got) != string(tc.want) {
				t.Fatalf("Get = %q, want %q", got, tc.want)
			}
			got[0] = 'X' // the caller owns the slice
			again, _ := s.Get(ctx, tc.get)
			if string(again) != string(tc.want) {
				t.Fatalf("mutating a Get result changed the store: %q", again)
			}
		})
	}
}

var errTest = errors.New("injected")

func TestDeleteKeysAndV0Alias(t *testing.T) {
	ctx := context.Background()
	s := New()
	data := []byte{0x0a, 0x02, 0x08, 0x01} // any bytes: the store does not parse
	v1 := mustSum(t, block.CodecDagPB, data)
	v0, err := block.Sum(0, block.CodecDagPB, block.HashSHA256, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, v1, data); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.Has(ctx, v0); !has {
		t.Fatal("CIDv0 of the same multihash not found")
	}
	if k := s.Keys(); len(k) != 1 || !k[0].Equals(v1) {
		t.Fatalf("Keys = %v", k)
	}
	if err := s.Delete(ctx, v0); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, v0); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if s.Len() != 0 {
		t.Fatalf("Len = %d after delete", s.Len())
	}
	if err := s.Put(ctx, v1, make([]byte, block.MaxSize+1)); !errors.Is(err, block.ErrTooLarge) {
		t.Fatalf("oversize put: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Get(cctx, v1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled get: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	s := New()
	var mu sync.Mutex
	seen := map[string]int{}
	s.SetFaults(Faults{OnGet: func(_ context.Context, c cid.Cid) error {
		mu.Lock()
		seen[c.KeyString()]++
		mu.Unlock()
		return nil
	}})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				d := []byte(fmt.Sprintf("%d-%d", i, j))
				c := mustSum(t, block.CodecRaw, d)
				if err := s.Put(ctx, c, d); err != nil {
					t.Error(err)
					return
				}
				got, err := s.Get(ctx, c)
				if err != nil || string(got) != string(d) {
					t.Errorf("Get = %q, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if s.Len() != 400 || s.Gets() != 400 || len(seen) != 400 {
		t.Fatalf("Len=%d Gets=%d hooked=%d, want 400 each", s.Len(), s.Gets(), len(seen))
	}
}

func TestPeakGets(t *testing.T) {
	ctx := context.Background()
	s := New()
	c := mustSum(t, block.CodecRaw, []byte("x"))
	s.Put(ctx, c, []byte("x"))
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(3)
	s.SetFaults(Faults{OnGet: func(context.Context, cid.Cid) error {
		entered.Done()
		<-release
		return nil
	}})
	var done sync.WaitGroup
	for range 3 {
		done.Add(1)
		go func() { defer done.Done(); s.Get(ctx, c) }()
	}
	entered.Wait()
	close(release)
	done.Wait()
	if s.PeakGets() != 3 {
		t.Fatalf("PeakGets = %d, want 3", s.PeakGets())
	}
}
