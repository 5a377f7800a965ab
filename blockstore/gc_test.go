package blockstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"golang.org/x/sync/errgroup"
)

func sumLen(bs []blk) (n int64) {
	for _, b := range bs {
		n += int64(len(b.data))
	}
	return n
}

func TestGCPinKinds(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	rec := dag(t, "recursive", 5, 100)
	direct := dag(t, "direct", 3, 100)
	partial := dag(t, "partial", 4, 100)
	garbage := dag(t, "garbage", 6, 100)
	sessionOnly := dag(t, "session", 2, 100)
	for _, d := range [][]blk{rec, direct, partial, garbage} {
		putAll(t, s, d)
	}
	// The partial download has its root and half its leaves.
	for _, b := range partial[:2] {
		if err := s.Delete(ctx, b.c); err != nil {
			t.Fatal(err)
		}
	}
	ss := s.Session()
	putAll(t, ss, sessionOnly)

	root := func(d []blk) cid.Cid { return d[len(d)-1].c }
	for _, p := range []struct {
		c cid.Cid
		o PinOptions
	}{{root(rec), PinOptions{}}, {root(direct), PinOptions{Kind: PinDirect}}, {root(partial), PinOptions{Kind: PinPartial}}} {
		if err := s.Pin(ctx, p.c, p.o); err != nil {
			t.Fatal(err)
		}
	}

	res, err := s.GC(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantGone := append(append([]blk(nil), garbage...), direct[:3]...)
	if res.Blocks != len(wantGone) || res.Bytes != sumLen(wantGone) || res.Missing != 2 {
		t.Fatalf("GC = %+v, want %d blocks, %d bytes, 2 missing", res, len(wantGone), sumLen(wantGone))
	}
	mustHave(t, s, rec, true)
	mustHave(t, s, direct[3:], true)
	mustHave(t, s, partial[2:], true)
	mustHave(t, s, sessionOnly, true)
	mustHave(t, s, wantGone, false)

	// Ending the session without pinning makes its blocks garbage.
	ss.End()
	if res, err = s.GC(ctx, GCOptions{}); err != nil || res.Blocks != len(sessionOnly) {
		t.Fatalf("GC after End = %+v, %v", res, err)
	}
	// Unpinning makes a DAG garbage; a second GC finds nothing more.
	if err := s.Unpin(ctx, root(rec)); err != nil {
		t.Fatal(err)
	}
	if res, err = s.GC(ctx, GCOptions{}); err != nil || res.Blocks != len(rec) {
		t.Fatalf("GC after Unpin = %+v, %v", res, err)
	}
	if res, err = s.GC(ctx, GCOptions{}); err != nil || res.Blocks != 0 {
		t.Fatalf("idle GC = %+v, %v", res, err)
	}
}

func TestGCUnknownCodecStops(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	garbage := dag(t, "garbage", 2, 10)
	putAll(t, s, garbage)
	d := []byte{0xa0}
	// dag-jose: a codec trove cannot see links in.
	c, _ := cid.Prefix{Version: 1, Codec: 0x85, MhType: block.HashSHA256, MhLength: -1}.Sum(d)
	putAll(t, s, []blk{{c, d}})
	if err := s.Pin(ctx, c, PinOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx, GCOptions{}); !errors.Is(err, block.ErrUnsupported) {
		t.Fatalf("GC with a dag-jose pin = %v, want ErrUnsupported", err)
	}
	mustHave(t, s, garbage, true) // nothing swept after a failed mark
	// A caller-supplied walker that knows the codec lets GC proceed.
	leaf := func(cid.Cid, []byte) ([]cid.Cid, error) { return nil, nil }
	if res, err := s.GC(ctx, GCOptions{Links: leaf}); err != nil || res.Blocks != len(garbage) {
		t.Fatalf("GC with custom Links = %+v, %v", res, err)
	}
}

// TestGCConcurrentImport runs importers, readers and repeated GCs together.
// Importers write DAGs (sharing one leaf, which GC keeps deleting while
// unpinned) through sessions, pin the root and end the session; some
// abandon their DAG instead. Nothing pinned or in flight may be lost and
// abandoned data must be collected in the end.
func TestGCConcurrentImport(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{BatchBytes: 8 << 10})
	const importers, dagsEach = 6, 8
	shared := []byte("a leaf every importer writes")
	sharedCid := rawCid(t, shared)

	var (
		mu       sync.Mutex
		pinned   [][]blk
		gcs      atomic.Int64
		reads    atomic.Int64
		stop     = make(chan struct{})
		readable = dag(t, "readable", 4, 4<<10)
	)
	putAll(t, s, readable)
	if err := s.Pin(ctx, readable[len(readable)-1].c, PinOptions{Name: "r"}); err != nil {
		t.Fatal(err)
	}

	var bg errgroup.Group
	bg.Go(func() error { // GC loop
		for {
			select {
			case <-stop:
				return nil
			default:
			}
			if _, err := s.GC(ctx, GCOptions{SkipReclaim: gcs.Load()%3 != 0}); err != nil {
				return err
			}
			gcs.Add(1)
		}
	})
	bg.Go(func() error { // reader: pinned data stays readable during GC
		for {
			select {
			case <-stop:
				return nil
			default:
			}
			for _, b := range readable {
				got, err := s.Get(ctx, b.c)
				if err != nil {
					return fmt.Errorf("read during GC: %w", err)
				}
				if !bytes.Equal(got, b.data) {
					return fmt.Errorf("read during GC: wrong bytes for %s", b.c)
				}
				reads.Add(1)
			}
		}
	})

	var g errgroup.Group
	for i := range importers {
		g.Go(func() error {
			for j := range dagsEach {
				d := dag(t, fmt.Sprintf("imp%d/%d", i, j), 6, 2<<10)
				d = append([]blk{{sharedCid, shared}}, d...)
				// The root must link to the shared leaf for it to be
				// kept, so rebuild the root with it.
				d = withExtraLink(t, d)
				ss := s.Session()
				var p block.Putter = ss
				var b *Batch
				if j%2 == 0 {
					b = ss.NewBatch()
					p = b
				}
				for _, x := range d {
					if err := p.Put(ctx, x.c, x.data); err != nil {
						return err
					}
					time.Sleep(50 * time.Microsecond) // let GCs interleave
				}
				if b != nil {
					if err := b.Commit(); err != nil {
						return err
					}
				}
				// Everything written through the open session must be
				// present, whatever GCs ran meanwhile.
				for _, x := range d {
					if ok, err := s.Has(ctx, x.c); err != nil || !ok {
						return fmt.Errorf("in-flight block %s lost (has=%v, err=%v)", x.c, ok, err)
					}
				}
				if j%4 == 3 { // abandoned import
					ss.End()
					continue
				}
				if err := s.Pin(ctx, d[len(d)-1].c, PinOptions{}); err != nil {
					return err
				}
				ss.End()
				mu.Lock()
				pinned = append(pinned, d)
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		close(stop)
		bg.Wait()
		t.Fatal(err)
	}
	close(stop)
	if err := bg.Wait(); err != nil {
		t.Fatal(err)
	}
	if gcs.Load() < 2 || reads.Load() == 0 {
		t.Fatalf("only %d GCs and %d reads overlapped the import; test proves nothing", gcs.Load(), reads.Load())
	}
	t.Logf("%d GCs and %d reads ran during the import", gcs.Load(), reads.Load())

	if _, err := s.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, b := range readable {
		want[string(b.c.Hash())] = true
	}
	for _, d := range pinned {
		mustHave(t, s, d, true)
		for _, b := range d {
			want[string(b.c.Hash())] = true
		}
	}
	n := 0
	for mh, err := range s.AllKeys(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if !want[string(mh)] {
			t.Errorf("garbage %x survived the final GC", mh)
		}
		n++
	}
	if n != len(want) {
		t.Fatalf("%d blocks stored, want %d", n, len(want))
	}
}

// withExtraLink rebuilds the dag-pb root of d (last element) so that it also
// links to d[0].
func withExtraLink(t *testing.T, d []blk) []blk {
	t.Helper()
	leaves := d[:len(d)-1]
	var links []cid.Cid
	for _, b := range leaves {
		links = append(links, b.c)
	}
	root := pbRoot(t, links)
	return append(leaves, root)
}

func TestGCReclaimsValueLog(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{ValueLogFileSize: 1 << 20})
	keep := dag(t, "keep", 8, 64<<10)
	garbage := dag(t, "garbage", 160, 64<<10)
	b := s.NewBatch()
	putAll(t, b, garbage)
	putAll(t, b, keep)
	if err := s.Pin(ctx, keep[len(keep)-1].c, PinOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	before := s.vlogBytes()
	res, err := s.GC(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after := s.vlogBytes()
	t.Logf("value log %d -> %d bytes; GC %+v", before, after, res)
	if res.Blocks != len(garbage) {
		t.Fatalf("GC deleted %d blocks, want %d", res.Blocks, len(garbage))
	}
	// At least half the garbage must be gone from disk; the file being
	// written and partly-live files may legitimately remain.
	if before-after < sumLen(garbage)/2 || res.Reclaimed != before-after {
		t.Fatalf("value log shrank by %d bytes (reported %d), want >= %d", before-after, res.Reclaimed, sumLen(garbage)/2)
	}
	for _, x := range keep {
		got, err := s.Get(ctx, x.c)
		if err != nil || !bytes.Equal(got, x.data) {
			t.Fatalf("kept block %s after reclaim: %v", x.c, err)
		}
	}
}

// Pinning a DAG that no session protects, while GCs run back to back: a
// GC may take it before Pin is called (it was garbage then), but whatever is
// complete when Pin returns must stay complete: no GC that read the pins
// before the pin existed may still be sweeping.
func TestPinExistingDuringGC(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	stop := make(chan struct{})
	var bg errgroup.Group
	bg.Go(func() error {
		for {
			select {
			case <-stop:
				return nil
			default:
			}
			if _, err := s.GC(ctx, GCOptions{SkipReclaim: true}); err != nil {
				return err
			}
			time.Sleep(time.Millisecond)
		}
	})
	complete := func(d []blk) bool {
		for _, b := range d {
			if ok, err := s.Has(ctx, b.c); err != nil || !ok {
				return false
			}
		}
		return true
	}
	var kept [][]blk
	for i := range 60 {
		d := dag(t, fmt.Sprintf("existing%d", i), 40, 64)
		ss := s.Session()
		putAll(t, ss, d)
		ss.End() // from here on only the pin can save it
		time.Sleep(time.Duration(i%4) * 300 * time.Microsecond)
		if err := s.Pin(ctx, d[len(d)-1].c, PinOptions{}); err != nil {
			t.Fatal(err)
		}
		if complete(d) {
			kept = append(kept, d)
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	if err := bg.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(kept) == 0 {
		t.Fatal("no DAG was complete after Pin; test proves nothing")
	}
	t.Logf("%d of 60 DAGs complete at pin time", len(kept))
	for _, d := range kept {
		mustHave(t, s, d, true)
	}
}

// TestGCFollowsDagCBORLinks: a raw block reachable only through a pinned
// dag-cbor block's link survives GC; an unreferenced one does not.
func TestGCFollowsDagCBORLinks(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	kept, _ := cid.Prefix{Version: 1, Codec: block.CodecRaw, MhType: block.HashSHA256, MhLength: -1}.Sum([]byte("kept"))
	gone, _ := cid.Prefix{Version: 1, Codec: block.CodecRaw, MhType: block.HashSHA256, MhLength: -1}.Sum([]byte("gone"))
	d := append([]byte{0xa1, 0x61, 'l', 0xd8, 0x2a, 0x58, byte(kept.ByteLen() + 1), 0x00}, kept.Bytes()...)
	root, _ := cid.Prefix{Version: 1, Codec: 0x71, MhType: block.HashSHA256, MhLength: -1}.Sum(d)
	putAll(t, s, []blk{{kept, []byte("kept")}, {gone, []byte("gone")}, {root, d}})
	if err := s.Pin(ctx, root, PinOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := s.GC(ctx, GCOptions{SkipReclaim: true}); err != nil || res.Blocks != 1 {
		t.Fatalf("GC = %+v, %v; want 1 block swept", res, err)
	}
	mustHave(t, s, []blk{{kept, nil}, {root, nil}}, true)
	mustHave(t, s, []blk{{gone, nil}}, false)
}
