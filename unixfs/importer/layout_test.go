package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// kuboLayout is a direct transcription of the shape of boxo's balanced
// Layout (top-down: fill a root, then make it the first child of a deeper
// root, filling each new subtree recursively). The importer builds the tree
// bottom-up while streaming; this checks the two agree beyond depth 1,
// which the published vectors do not reach.
func kuboLayout(t *testing.T, fi *fileImporter, leaves []link) link {
	ctx := context.Background()
	b := &balanced{fi: fi, max: fi.r.maxLinks}
	i := 0
	next := func() link { i++; return leaves[i-1] }
	done := func() bool { return i == len(leaves) }
	var fill func(children []link, depth int) link
	fill = func(children []link, depth int) link {
		for len(children) < fi.r.maxLinks && !done() {
			if depth == 1 {
				children = append(children, next())
			} else {
				children = append(children, fill(nil, depth-1))
			}
		}
		l, err := b.parent(ctx, children)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	root := next()
	for depth := 1; !done(); depth++ {
		root = fill([]link{root}, depth)
	}
	return root
}

func TestBalancedMatchesKuboLayout(t *testing.T) {
	const chunk = 3
	for _, maxLinks := range []int{2, 3, 5} {
		for _, legacy := range []bool{false, true} {
			p := Params{ChunkSize: chunk, MaxLinks: maxLinks, DagPBLeaves: legacy, CIDv0: legacy}
			fi, err := newFileImporter(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			for nLeaves := 1; nLeaves <= 130; nLeaves++ {
				data := make([]byte, nLeaves*chunk-nLeaves%2) // short last chunk half the time
				for i := range data {
					data[i] = byte(i * 7)
				}
				var leaves []link
				for off := 0; off < len(data); off += chunk {
					l, err := fi.leaf(context.Background(), data[off:min(off+chunk, len(data))])
					if err != nil {
						t.Fatal(err)
					}
					leaves = append(leaves, l)
				}
				want := kuboLayout(t, fi, leaves)
				sink := newMemSink()
				got, err := ImportReader(context.Background(), bytes.NewReader(data), p, sink)
				if err != nil {
					t.Fatal(err)
				}
				if !got.Cid.Equals(want.cid) || got.Tsize != want.tsize || got.Size != uint64(len(data)) {
					t.Fatalf("maxLinks %d legacy %v leaves %d: got %s/%d, want %s/%d",
						maxLinks, legacy, nLeaves, got.Cid, got.Tsize, want.cid, want.tsize)
				}
				var out bytes.Buffer
				sink.readAll(t, got.Cid, &out)
				if !bytes.Equal(out.Bytes(), data) {
					t.Fatalf("maxLinks %d legacy %v leaves %d: DAG does not reassemble", maxLinks, legacy, nLeaves)
				}
			}
		}
	}
}

// Kubo's documented `echo "hello world" | ipfs add` result: a single
// dag-pb File leaf under the legacy profile.
func TestLegacyHelloWorld(t *testing.T) {
	p, err := ParamsFor(ProfileV0_2015, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ImportReader(context.Background(), bytes.NewReader([]byte("hello world\n")), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Cid.String(); got != "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o" {
		t.Fatalf("got %s", got)
	}
}

var errInjected = errors.New("injected fault")

// failSink is a working in-memory sink that fails from the n-th Put on.
type failSink struct {
	*memSink
	left int
}

func (f *failSink) Put(ctx context.Context, c cid.Cid, data []byte) error {
	f.mu.Lock()
	f.left--
	fail := f.left < 0
	f.mu.Unlock()
	if fail {
		return errInjected
	}
	return f.memSink.Put(ctx, c, data)
}

// failReader yields n bytes, then an error.
type failReader struct{ n int }

func (r *failReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errInjected
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}

// cancelReader cancels its context after n bytes and keeps producing data.
type cancelReader struct {
	n      int
	cancel context.CancelFunc
}

func (r *cancelReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cancel()
	}
	r.n -= len(p)
	return len(p), nil
}

func TestFaults(t *testing.T) {
	p := Params{ChunkSize: 1024, MaxLinks: 4}
	before := runtime.NumGoroutine()
	for _, tc := range []struct {
		name string
		run  func() error
		want error
	}{
		{"sink fails first put", func() error {
			_, err := ImportReader(context.Background(), bytes.NewReader(make([]byte, 100)), p, &failSink{memSink: newMemSink()})
			return err
		}, errInjected},
		{"sink fails mid-file", func() error {
			_, err := ImportReader(context.Background(), bytes.NewReader(make([]byte, 64<<10)), p, &failSink{memSink: newMemSink(), left: 20})
			return err
		}, errInjected},
		{"sink fails on root", func() error {
			// 4 leaves + 1 root: the fifth Put fails.
			_, err := ImportReader(context.Background(), bytes.NewReader(make([]byte, 4096)), p, &failSink{memSink: newMemSink(), left: 4})
			return err
		}, errInjected},
		{"reader fails at once", func() error {
			_, err := ImportReader(context.Background(), &failReader{}, p, nil)
			return err
		}, errInjected},
		{"reader fails mid-file", func() error {
			_, err := ImportReader(context.Background(), &failReader{n: 50 << 10}, p, nil)
			return err
		}, errInjected},
		{"cancelled mid-file", func() error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := ImportReader(ctx, &cancelReader{n: 20 << 10, cancel: cancel}, p, nil)
			return err
		}, context.Canceled},
		{"dir builder sink fails on directory", func() error {
			b := NewDirBuilder(context.Background(), p, &failSink{memSink: newMemSink(), left: 1}, DirOptions{})
			if _, _, err := b.AddFile("a", bytes.NewReader([]byte("x"))); err != nil {
				return fmt.Errorf("unexpected: %v", err)
			}
			_, err := b.Finish()
			return err
		}, errInjected},
		{"bad params", func() error {
			_, err := ImportReader(context.Background(), bytes.NewReader(nil), Params{CIDv0: true, Hash: 0x1e}, nil)
			return err
		}, ErrParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Every pipeline goroutine must be gone once the call returns.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines before, %d after", before, n)
	}
}

func TestParamsFor(t *testing.T) {
	one, zero, yes, no, k := 1, 0, true, false, 4096
	for _, tc := range []struct {
		name    string
		profile string
		o       Overrides
		want    Params
		wantErr bool
	}{
		{"default", "", Overrides{}, Params{}, false},
		{"v1-2025", ProfileV1_2025, Overrides{}, Params{}, false},
		{"v0-2015", ProfileV0_2015, Overrides{}, Params{CIDv0: true, DagPBLeaves: true, ChunkSize: 256 << 10, MaxLinks: 174, ShardByLinkSize: true}, false},
		{"v0 + cid v1 implies raw leaves", ProfileV0_2015, Overrides{CidVersion: &one},
			Params{ChunkSize: 256 << 10, MaxLinks: 174, ShardByLinkSize: true}, false},
		{"v0 + cid v1 + explicit no raw leaves", ProfileV0_2015, Overrides{CidVersion: &one, RawLeaves: &no},
			Params{DagPBLeaves: true, ChunkSize: 256 << 10, MaxLinks: 174, ShardByLinkSize: true}, false},
		{"v0 + blake3 implies cid v1", ProfileV0_2015, Overrides{Hash: "blake3"},
			Params{Hash: 0x1e, ChunkSize: 256 << 10, MaxLinks: 174, ShardByLinkSize: true}, false},
		{"v1 + cid v0 keeps raw leaves", ProfileV1_2025, Overrides{CidVersion: &zero}, Params{CIDv0: true}, false},
		{"v1 + raw leaves off + chunk", "", Overrides{RawLeaves: &no, ChunkSize: &k}, Params{DagPBLeaves: true, ChunkSize: 4096}, false},
		{"raw leaves on", ProfileV0_2015, Overrides{RawLeaves: &yes},
			Params{CIDv0: true, ChunkSize: 256 << 10, MaxLinks: 174, ShardByLinkSize: true}, false},
		{"cid v0 + blake3", "", Overrides{CidVersion: &zero, Hash: "blake3"}, Params{}, true},
		{"unknown profile", "unixfs-v2", Overrides{}, Params{}, true},
		{"unknown hash", "", Overrides{Hash: "md5"}, Params{}, true},
		{"huge chunk", "", Overrides{ChunkSize: new(int(4 << 20))}, Params{}, true},
		{"one link", "", Overrides{MaxLinks: &one}, Params{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParamsFor(tc.profile, tc.o)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseChunker(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"", 0, true}, {"default", 0, true}, {"size-262144", 262144, true}, {"size-1", 1, true},
		{"size-0", 0, false}, {"size--5", 0, false}, {"size-", 0, false}, {"rabin", 0, false},
		{"buzhash", 0, false}, {"size-99999999", 0, false}, {"size-12x", 0, false},
	} {
		got, err := ParseChunker(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseChunker(%q) = %d, %v", tc.in, got, err)
		}
	}
}

// The bounded pipeline must not read ahead without limit: a reader that
// counts how far it got when the first Put blocks shows the queue bound.
type blockingSink struct {
	release chan struct{}
}

func (s *blockingSink) Put(ctx context.Context, _ cid.Cid, _ []byte) error {
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type countingReader struct {
	r    io.Reader
	read chan int64
	n    int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	select {
	case c.read <- c.n:
	default:
	}
	return n, err
}

func TestBoundedReadAhead(t *testing.T) {
	const chunk = 4096
	p := Params{ChunkSize: chunk}
	sink := &blockingSink{release: make(chan struct{})}
	cr := &countingReader{r: &failReader{n: 1 << 30}, read: make(chan int64, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := ImportReader(ctx, cr, p, sink)
		done <- err
	}()
	// Let the reader run into the bound, then look at how far it got.
	var last int64
	for {
		select {
		case n := <-cr.read:
			last = n
			continue
		case <-time.After(200 * time.Millisecond):
		}
		break
	}
	limit := int64(3*runtime.GOMAXPROCS(0)+8) * chunk
	cancel()
	if last > limit {
		t.Fatalf("read %d bytes ahead with every Put blocked; bound is %d", last, limit)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// rootType imports the named empty files into one directory and returns the
// root's UnixFS type and block length.
func rootType(t *testing.T, p Params, names []string) (pb.DataType, int) {
	t.Helper()
	sink := newMemSink()
	b := NewDirBuilder(context.Background(), p, sink, DirOptions{})
	for _, n := range names {
		if _, _, err := b.AddFile(n, bytes.NewReader(nil)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	blk := sink.get(t, c)
	n, err := pb.Unmarshal(blk)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := pb.UnmarshalFS(n.Data)
	if err != nil {
		t.Fatal(err)
	}
	return fs.Type, len(blk)
}

// The HAMT switch is "strictly larger than 256 KiB" under both measures:
// a directory exactly at the threshold stays basic, one byte more shards.
func TestShardThresholdBoundary(t *testing.T) {
	const limit = DefaultShardThreshold
	emptyRaw, err := ImportReader(context.Background(), bytes.NewReader(nil), Params{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cidLen := emptyRaw.Cid.ByteLen()
	name := func(i, l int) string { return fmt.Sprintf("%0*d", l, i) }

	t.Run("links estimate", func(t *testing.T) {
		p := paramSet(t, "v1-256k")
		// 2048 entries of (92-byte name + 36-byte CID) = 262144 exactly.
		l := limit/2048 - cidLen
		var names []string
		for i := range 2048 {
			names = append(names, name(i, l))
		}
		if typ, _ := rootType(t, p, names); typ != pb.TDirectory {
			t.Fatalf("at the threshold: %v", typ)
		}
		names[0] += "x"
		if typ, _ := rootType(t, p, names); typ != pb.THAMTShard {
			t.Fatalf("one byte over: %v", typ)
		}
	})
	t.Run("block size", func(t *testing.T) {
		// Grow a directory entry by entry, then stretch the last name so
		// the encoded basic directory is exactly the threshold.
		size := func(names []string) int {
			n := pb.Node{Data: []byte{8, 1}, HasData: true}
			for _, nm := range names {
				n.Links = append(n.Links, pb.Link{Cid: emptyRaw.Cid, Name: nm, HasName: true, HasTsize: true})
			}
			return n.EncodedSize()
		}
		var names []string
		for i := 0; size(names) < limit-400; i++ {
			names = append(names, name(i, 92))
		}
		last := len(names)
		for l := 1; ; l++ {
			try := append(names[:last:last], name(last, l))
			if s := size(try); s == limit {
				names = try
				break
			} else if s > limit {
				t.Fatalf("cannot hit %d exactly (l=%d gives %d)", limit, l, s)
			}
		}
		typ, n := rootType(t, Params{}, names)
		if typ != pb.TDirectory || n != limit {
			t.Fatalf("at the threshold: %v of %d bytes", typ, n)
		}
		names[last] += "x"
		if typ, _ := rootType(t, Params{}, names); typ != pb.THAMTShard {
			t.Fatalf("one byte over: %v", typ)
		}
	})
}

// blake3 reaches every block: leaves and dag-pb nodes alike (memSink
// verifies each with block.Verify, which hashes by the CID's function).
func TestBlake3(t *testing.T) {
	p, err := ParamsFor(ProfileV0_2015, Overrides{Hash: "blake3"})
	if err != nil {
		t.Fatal(err)
	}
	p.ChunkSize = 1000
	data := aesCTR(10_000)
	sink := newMemSink()
	res, err := ImportReader(context.Background(), bytes.NewReader(data), p, sink)
	if err != nil {
		t.Fatal(err)
	}
	if pre := res.Cid.Prefix(); pre.MhType != block.HashBLAKE3 || pre.Version != 1 || pre.Codec != block.CodecDagPB {
		t.Fatalf("root prefix %+v", pre)
	}
	var out bytes.Buffer
	sink.readAll(t, res.Cid, &out)
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("DAG does not reassemble")
	}
	n, err := pb.Unmarshal(sink.get(t, res.Cid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range n.Links {
		if pre := l.Cid.Prefix(); pre.MhType != block.HashBLAKE3 || pre.Codec != block.CodecRaw {
			t.Fatalf("leaf prefix %+v", pre)
		}
	}
}

// Files of sizes around every buffer boundary (scratch, chunk, spare
// reuse), imported back to back through one DirBuilder: each must
// reassemble from the stored blocks, which fails if a buffer the sink keeps
// is reused for the next file.
func TestBufferOwnership(t *testing.T) {
	sizes := []int{0, 1, smallFile - 1, smallFile, smallFile + 1, 300000, 1 << 20, 1<<20 + 1, 5<<19 + 3, 200000, 70000}
	for _, p := range []Params{{}, {DagPBLeaves: true}, {ChunkSize: smallFile / 2}} {
		sink := newMemSink()
		b := NewDirBuilder(context.Background(), p, sink, DirOptions{})
		stream := aesCTR(8 << 20)
		inputs := map[string][]byte{}
		got := map[string]cid.Cid{}
		off := 0
		for i, n := range sizes {
			data := stream[off : off+n]
			off += n
			name := fmt.Sprintf("f%02d", i)
			inputs[name] = data
			c, size, err := b.AddFile(name, bytes.NewReader(data))
			if err != nil || size != uint64(n) {
				t.Fatalf("%s: %v, size %d", name, err, size)
			}
			got[name] = c
		}
		if _, err := b.Finish(); err != nil {
			t.Fatal(err)
		}
		for name, data := range inputs {
			var out bytes.Buffer
			sink.readAll(t, got[name], &out)
			if !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("%+v: %s (%d bytes) does not reassemble", p, name, len(data))
			}
			oh, err := ImportReader(context.Background(), bytes.NewReader(data), p, nil)
			if err != nil || !oh.Cid.Equals(got[name]) {
				t.Fatalf("%+v: %s only-hash gives %s, stored %s", p, name, oh.Cid, got[name])
			}
		}
	}
}
