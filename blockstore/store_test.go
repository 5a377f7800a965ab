package blockstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

func TestConformance(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	small := []byte("hello world")
	big := bytes.Repeat([]byte{7}, block.MaxSize)
	empty := []byte{}
	for _, d := range [][]byte{small, big, empty} {
		if err := s.Put(ctx, rawCid(t, d), d); err != nil {
			t.Fatal(err)
		}
	}
	absent := rawCid(t, []byte("absent"))
	tests := []struct {
		name    string
		c       cid.Cid
		want    []byte
		wantErr error
	}{
		{"small inline value", rawCid(t, small), small, nil},
		{"max size in value log", rawCid(t, big), big, nil},
		{"empty block", rawCid(t, empty), empty, nil},
		{"absent", absent, nil, block.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Get(ctx, tc.c)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Get err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if !strings.Contains(err.Error(), tc.c.String()) {
					t.Errorf("error %q does not name the CID", err)
				}
			} else if !bytes.Equal(got, tc.want) {
				t.Fatalf("Get returned %d bytes, want %d", len(got), len(tc.want))
			}
			has, err := s.Has(ctx, tc.c)
			if err != nil || has != (tc.wantErr == nil) {
				t.Fatalf("Has = %v, %v", has, err)
			}
			n, err := s.Size(ctx, tc.c)
			if !errors.Is(err, tc.wantErr) || n != len(tc.want) {
				t.Fatalf("Size = %d, %v; want %d", n, err, len(tc.want))
			}
		})
	}

	t.Run("too large", func(t *testing.T) {
		d := make([]byte, block.MaxSize+1)
		c := rawCid(t, d)
		if err := s.Put(ctx, c, d); !errors.Is(err, block.ErrTooLarge) {
			t.Fatalf("Put = %v", err)
		}
		b := s.NewBatch()
		defer b.Discard()
		if err := b.Put(ctx, c, d); !errors.Is(err, block.ErrTooLarge) {
			t.Fatalf("Batch.Put = %v", err)
		}
	})
	t.Run("returned slice is the caller's", func(t *testing.T) {
		c := rawCid(t, small)
		a, _ := s.Get(ctx, c)
		a[0] ^= 0xff
		b, _ := s.Get(ctx, c)
		if !bytes.Equal(b, small) {
			t.Fatal("modifying a returned block changed the store")
		}
	})
	t.Run("delete", func(t *testing.T) {
		c := rawCid(t, small)
		if err := s.Delete(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, c); !errors.Is(err, block.ErrNotFound) {
			t.Fatalf("Get after Delete = %v", err)
		}
		if err := s.Delete(ctx, c); err != nil {
			t.Fatalf("second Delete = %v", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Get(cctx, rawCid(t, big)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Get = %v", err)
		}
		if err := s.Put(cctx, rawCid(t, small), small); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put = %v", err)
		}
	})
	t.Run("all keys", func(t *testing.T) {
		var got []string
		for mh, err := range s.AllKeys(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, cid.NewCidV1(block.CodecRaw, mh).String())
		}
		want := []string{rawCid(t, big).String(), rawCid(t, empty).String()}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("AllKeys = %v, want %v", got, want)
		}
	})
	t.Run("stat", func(t *testing.T) {
		st, err := s.Stat(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Blocks != 2 || st.Bytes != int64(len(big)) {
			t.Fatalf("Stat = %+v, want 2 blocks of %d bytes", st, len(big))
		}
	})
}

// Size must be exact for every length, in and out of the value log.
func TestSizeExact(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	for _, n := range []int{0, 1, 127, 128, 1023, 1024, 1025, 16383, 16384, 1 << 20, block.MaxSize} {
		d := bytes.Repeat([]byte{byte(n)}, n)
		c := rawCid(t, d)
		if err := s.Put(ctx, c, d); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Size(ctx, c); err != nil || got != n {
			t.Errorf("Size(%d-byte block) = %d, %v", n, got, err)
		}
	}
}

func TestDedupeAcrossCIDVersions(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	bs := dag(t, "dedupe", 2, 10)
	root := bs[len(bs)-1]
	v0, err := block.Sum(0, block.CodecDagPB, block.HashSHA256, root.data)
	if err != nil {
		t.Fatal(err)
	}
	rawV1 := cid.NewCidV1(block.CodecRaw, root.c.Hash())
	if err := s.Put(ctx, v0, root.data); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, root.c, root.data); err != nil {
		t.Fatal(err)
	}
	for _, c := range []cid.Cid{v0, root.c, rawV1} {
		got, err := s.Get(ctx, c)
		if err != nil || !bytes.Equal(got, root.data) {
			t.Fatalf("Get(%s) = %v", c, err)
		}
	}
	n := 0
	for _, err := range s.AllKeys(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("stored %d entries for one block under three CIDs", n)
	}
}

func TestLockedSameProcess(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "is a daemon running?") {
		t.Errorf("error %q does not tell the user what to do", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close = %v", err)
	}
	s2.Close()
}

const lockChildEnv = "TROVE_BLOCKSTORE_LOCK_CHILD"

// TestLockChild is the child half of TestLockedOtherProcess: it only does
// something when that test runs it with the environment variable set.
func TestLockChild(t *testing.T) {
	dir := os.Getenv(lockChildEnv)
	if dir == "" {
		t.Skip("helper for TestLockedOtherProcess")
	}
	s, err := Open(dir, Options{})
	switch {
	case errors.Is(err, ErrLocked):
		fmt.Println("RESULT: locked")
	case err == nil:
		s.Close()
		fmt.Println("RESULT: opened")
	default:
		fmt.Println("RESULT: error", err)
	}
}

func TestLockedOtherProcess(t *testing.T) {
	dir := t.TempDir()
	child := func() string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$", "-test.v")
		cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		for line := range strings.Lines(string(out)) {
			if r, ok := strings.CutPrefix(line, "RESULT: "); ok {
				return strings.TrimSpace(r)
			}
		}
		t.Fatalf("child printed no result:\n%s", out)
		return ""
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := child(); got != "locked" {
		t.Fatalf("child while we hold the repo: %s", got)
	}
	s.Close()
	if got := child(); got != "opened" {
		t.Fatalf("child after we closed the repo: %s", got)
	}
}

func TestDurability(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{BatchBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	bs := dag(t, "durable", 40, 32<<10)
	b := s.NewBatch()
	putAll(t, b, bs)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err == nil {
		t.Fatal("second Commit succeeded")
	}
	discarded := dag(t, "discarded", 3, 100)
	d := s.NewBatch()
	putAll(t, d, discarded)
	d.Discard()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	for _, x := range bs {
		got, err := s.Get(ctx, x.c)
		if err != nil || !bytes.Equal(got, x.data) {
			t.Fatalf("after reopen Get(%s) = %v", x.c, err)
		}
	}
	mustHave(t, s, discarded, false)
}

func corrupt(t *testing.T, s *Store, c cid.Cid) {
	t.Helper()
	err := s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(blockKey(c.Hash()))
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		v[len(v)/2] ^= 1
		return txn.Set(blockKey(c.Hash()), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVerifying(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	good := bytes.Repeat([]byte("good"), 1000)
	bad := bytes.Repeat([]byte("rots"), 1000)
	gc, bc := rawCid(t, good), rawCid(t, bad)
	putAll(t, s, []blk{{gc, good}, {bc, bad}})
	corrupt(t, s, bc)

	if _, err := s.Get(ctx, bc); err != nil {
		t.Fatalf("unverified Get of corrupt block = %v (store should not check)", err)
	}
	s.Close()
	sv := openT(t, dir, Options{Verify: true})
	if got, err := sv.Get(ctx, gc); err != nil || !bytes.Equal(got, good) {
		t.Fatalf("verifying Get of good block = %v", err)
	}
	_, err := sv.Get(ctx, bc)
	if !errors.Is(err, block.ErrCorrupt) || !strings.Contains(err.Error(), bc.String()) {
		t.Fatalf("verifying Get of corrupt block = %v, want ErrCorrupt naming %s", err, bc)
	}
	if _, err := sv.AppendBlock(ctx, bc, []byte("prefix")); !errors.Is(err, block.ErrCorrupt) {
		t.Fatalf("verifying AppendBlock of corrupt block = %v", err)
	}
	if got, err := sv.AppendBlock(ctx, gc, []byte("prefix")); err != nil || !bytes.Equal(got, append([]byte("prefix"), good...)) {
		t.Fatalf("verifying AppendBlock of good block = %v", err)
	}
	if _, err := sv.Get(ctx, rawCid(t, []byte("nope"))); !errors.Is(err, block.ErrNotFound) {
		t.Fatalf("verifying Get of absent block = %v", err)
	}
}

type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message)
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// Badger's chatter goes to the configured slog logger, not to stderr.
func TestBadgerLogsToSlog(t *testing.T) {
	rec := &logRecorder{}
	s := openT(t, t.TempDir(), Options{Logger: slog.New(rec)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !slices.ContainsFunc(rec.msgs, func(m string) bool { return strings.HasPrefix(m, "badger: ") }) {
		t.Fatalf("no badger messages reached slog: %q", rec.msgs)
	}
}

func TestUseAfterClose(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := []byte("late")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := s.Put(ctx, rawCid(t, d), d); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Get(ctx, rawCid(t, d)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
}

// Lend hands out the stored bytes themselves (a value-log block from the
// mmap), checks them when verifying, and a store with every loan returned
// closes normally.
func TestLend(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	small := bytes.Repeat([]byte("small"), 10)
	big := bytes.Repeat([]byte("a 1 MiB value goes to the value log "), 30000)
	rot := bytes.Repeat([]byte("rots"), 1000)
	sc, bc, rc := rawCid(t, small), rawCid(t, big), rawCid(t, rot)
	putAll(t, s, []blk{{sc, small}, {bc, big}, {rc, rot}})
	for _, b := range []blk{{sc, small}, {bc, big}} {
		got, release, err := s.Lend(ctx, b.c)
		if err != nil || !bytes.Equal(got, b.data) {
			t.Fatalf("Lend %d bytes = %d bytes, %v", len(b.data), len(got), err)
		}
		release()
		release() // a second call does nothing
	}
	if _, _, err := s.Lend(ctx, rawCid(t, []byte("nope"))); !errors.Is(err, block.ErrNotFound) {
		t.Fatalf("Lend of absent block = %v", err)
	}
	corrupt(t, s, rc)
	s.Close()
	sv := openT(t, dir, Options{Verify: true})
	if _, _, err := sv.Lend(ctx, rc); !errors.Is(err, block.ErrCorrupt) {
		t.Fatalf("verifying Lend of corrupt block = %v", err)
	}
	if err := sv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sv.Lend(ctx, sc); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lend after Close = %v", err)
	}
}
