package importer

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// memSink is a real in-memory block store that checks every block against
// its CID as it arrives, and checks the importer's promises to sinks: no
// concurrent Put calls, and every block after the blocks it links to.
type memSink struct {
	mu       sync.Mutex
	blocks   map[string][]byte
	inFlight atomic.Int32
}

func newMemSink() *memSink { return &memSink{blocks: map[string][]byte{}} }

func (m *memSink) Put(_ context.Context, c cid.Cid, data []byte) error {
	if m.inFlight.Add(1) != 1 {
		return fmt.Errorf("concurrent Put of %s", c)
	}
	defer m.inFlight.Add(-1)
	if err := block.Verify(c, data); err != nil {
		return err
	}
	var links []cid.Cid
	if c.Prefix().Codec == block.CodecDagPB {
		var err error
		if links, err = pb.AppendLinks(nil, data); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range links {
		if _, ok := m.blocks[l.KeyString()]; !ok {
			return fmt.Errorf("%s stored before its child %s", c, l)
		}
	}
	m.blocks[c.KeyString()] = data
	return nil
}

func (m *memSink) get(t testing.TB, c cid.Cid) []byte {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blocks[c.KeyString()]
	if !ok {
		t.Fatalf("block %s was never stored", c)
	}
	return b
}

// readAll reassembles a UnixFS file from the sink, following links; it is
// a minimal reader, enough to prove the DAG holds the input.
func (m *memSink) readAll(t testing.TB, c cid.Cid, out *bytes.Buffer) {
	t.Helper()
	b := m.get(t, c)
	if c.Prefix().Codec == block.CodecRaw {
		out.Write(b)
		return
	}
	n, err := pb.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := pb.UnmarshalFS(n.Data)
	if err != nil {
		t.Fatal(err)
	}
	if fs.Type != pb.TFile {
		t.Fatalf("%s: type %v, want file", c, fs.Type)
	}
	out.Write(fs.Data)
	if len(fs.BlockSizes) != len(n.Links) {
		t.Fatalf("%s: %d blocksizes for %d links", c, len(fs.BlockSizes), len(n.Links))
	}
	for _, l := range n.Links {
		m.readAll(t, l.Cid, out)
	}
}

type vectorFile map[string]map[string]string

func loadVectors(t testing.TB) vectorFile {
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	v := vectorFile{}
	for k, m := range raw {
		if k == "generator" {
			continue
		}
		var set map[string]string
		if err := json.Unmarshal(m, &set); err != nil {
			t.Fatal(err)
		}
		v[k] = set
	}
	return v
}

func paramSet(t testing.TB, name string) Params {
	t.Helper()
	var (
		p   Params
		err error
	)
	switch name {
	case "unixfs-v1-2025":
		p, err = ParamsFor(ProfileV1_2025, Overrides{})
	case "v1-256k":
		one, yes := 1, true
		p, err = ParamsFor(ProfileV0_2015, Overrides{CidVersion: &one, RawLeaves: &yes})
	default:
		t.Fatalf("unknown parameter set %q", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func aesCTR(n int) []byte {
	key, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f")
	c, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	buf := make([]byte, n)
	cipher.NewCTR(c, make([]byte, 16)).XORKeyStream(buf, buf)
	return buf
}

func vectorInputs(t testing.TB) map[string][]byte {
	pattern := make([]byte, 1048577)
	for i := range pattern {
		pattern[i] = byte(i)
	}
	in := map[string][]byte{
		"f0_empty":           {},
		"f1_a":               []byte("a"),
		"f2_zeros_262144":    make([]byte, 262144),
		"f3_pattern_1048577": pattern,
		"f4_aesctr_10MiB":    aesCTR(10 << 20),
	}
	for name, want := range map[string]string{
		"f3_pattern_1048577": "607deb6eccbc844880b9d7b523751a4cdba0452727b885c74264bfe1fb7843e2",
		"f4_aesctr_10MiB":    "07267aaada7fdc6f701d90776abff4ed38d589343187d75e87a92ce28c352979",
	} {
		if got := sha256.Sum256(in[name]); hex.EncodeToString(got[:]) != want {
			t.Fatalf("generator for %s is wrong", name)
		}
	}
	return in
}

func TestVectorFiles(t *testing.T) {
	vec := loadVectors(t)
	inputs := vectorInputs(t)
	for set, want := range vec {
		p := paramSet(t, set)
		for name, data := range inputs {
			t.Run(set+"/"+name, func(t *testing.T) {
				sink := newMemSink()
				res, err := ImportReader(context.Background(), bytes.NewReader(data), p, sink)
				if err != nil {
					t.Fatal(err)
				}
				if res.Cid.String() != want[name] {
					t.Fatalf("got %s, want %s", res.Cid, want[name])
				}
				if res.Size != uint64(len(data)) {
					t.Fatalf("size %d, want %d", res.Size, len(data))
				}
				var out bytes.Buffer
				sink.readAll(t, res.Cid, &out)
				if !bytes.Equal(out.Bytes(), data) {
					t.Fatal("DAG does not reassemble to the input")
				}
				// Only-hash must agree with storing.
				oh, err := ImportReader(context.Background(), bytes.NewReader(data), p, nil)
				if err != nil || !oh.Cid.Equals(res.Cid) || oh.Tsize != res.Tsize {
					t.Fatalf("only-hash: %v %v", oh, err)
				}
			})
		}
	}
}

func TestIPIP499HelloWorld(t *testing.T) {
	res, err := ImportReader(context.Background(), bytes.NewReader([]byte("hello world")), Params{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Cid.String(); got != "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e" {
		t.Fatalf("got %s", got)
	}
}

// Published CIDv0 constants every Kubo node knows: the empty file and the
// empty directory under the legacy profile.
func TestLegacyKnownCIDs(t *testing.T) {
	p, err := ParamsFor(ProfileV0_2015, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ImportReader(context.Background(), bytes.NewReader(nil), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Cid.String(); got != "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH" {
		t.Fatalf("empty file: %s", got)
	}
	b := NewDirBuilder(context.Background(), p, nil, DirOptions{})
	c, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String(); got != "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn" {
		t.Fatalf("empty dir: %s", got)
	}
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVectorTree(t *testing.T) {
	root := filepath.Join(t.TempDir(), "tree")
	writeFile(t, filepath.Join(root, "a/b.txt"), []byte("hello\n"))
	writeFile(t, filepath.Join(root, "a/c/d.bin"), bytes.Repeat([]byte{0x42}, 300000))
	writeFile(t, filepath.Join(root, "e"), nil)
	// Hidden entries must not change the CID.
	writeFile(t, filepath.Join(root, ".hidden/x"), []byte("x"))
	writeFile(t, filepath.Join(root, "a/.dot"), []byte("y"))

	for set, want := range loadVectors(t) {
		t.Run(set, func(t *testing.T) {
			got := map[string]string{}
			res, err := ImportPath(context.Background(), root, paramSet(t, set), DirOptions{}, newMemSink(), func(ev Event) {
				if _, dup := got[ev.Path]; dup {
					t.Errorf("%s reported twice", ev.Path)
				}
				got[ev.Path] = ev.Cid.String()
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Cid.String() != want["tree"] || res.Name != "tree" {
				t.Errorf("root %s %q, want %s", res.Cid, res.Name, want["tree"])
			}
			n := 0
			for k, w := range want {
				if k != "tree" && (len(k) < 5 || k[:5] != "tree/") {
					continue
				}
				n++
				if got[k] != w {
					t.Errorf("%s: got %s, want %s", k, got[k], w)
				}
			}
			if len(got) != n {
				t.Errorf("reported %d entries, want %d: %v", len(got), n, got)
			}

			// -w: the same entries, plus a wrapper holding "tree".
			sink := newMemSink()
			wrapped := map[string]string{}
			w, err := ImportPath(context.Background(), root, paramSet(t, set), DirOptions{Wrap: true}, sink, func(ev Event) {
				wrapped[ev.Path] = ev.Cid.String()
			})
			if err != nil {
				t.Fatal(err)
			}
			if wrapped["tree"] != want["tree"] || wrapped[""] != w.Cid.String() || len(wrapped) != n+1 {
				t.Errorf("wrapped events %v", wrapped)
			}
			wn, err := pb.Unmarshal(sink.get(t, w.Cid))
			if err != nil || len(wn.Links) != 1 || wn.Links[0].Name != "tree" || wn.Links[0].Cid.String() != want["tree"] {
				t.Errorf("wrapper %+v, %v", wn, err)
			}
		})
	}
}

// checkHAMTRoot decodes the root to make sure it really is a shard.
func checkHAMTRoot(t *testing.T, sink *memSink, c cid.Cid) {
	t.Helper()
	n, err := pb.Unmarshal(sink.get(t, c))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := pb.UnmarshalFS(n.Data)
	if err != nil {
		t.Fatal(err)
	}
	if fs.Type != pb.THAMTShard || fs.Fanout != 256 || fs.HashType != 0x22 || len(n.Links) == 0 || len(n.Links) > 256 {
		t.Fatalf("root is %+v with %d links", fs, len(n.Links))
	}
}

// TestVectorHAMT feeds the 10000 hamtdir entries to a DirBuilder in a
// shuffled order, which also shows order independence at scale.
func TestVectorHAMT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(10000)
	for set, want := range loadVectors(t) {
		t.Run(set, func(t *testing.T) {
			sink := newMemSink()
			b := NewDirBuilder(context.Background(), paramSet(t, set), sink, DirOptions{})
			for _, i := range order {
				name := fmt.Sprintf("file-%05d", i)
				if _, _, err := b.AddFile(name, strings.NewReader(name+"\n")); err != nil {
					t.Fatal(err)
				}
			}
			c, err := b.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != want["hamtdir"] {
				t.Fatalf("got %s, want %s", c, want["hamtdir"])
			}
			checkHAMTRoot(t, sink, c)
		})
	}
}

// TestVectorHAMTFiles is the same vector through ImportPath on real files;
// creating 10000 files is slow on a busy disk, so -short skips it.
func TestVectorHAMTFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10000 files")
	}
	root := filepath.Join(t.TempDir(), "hamtdir")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 10000 {
		name := fmt.Sprintf("file-%05d", i)
		if err := os.WriteFile(filepath.Join(root, name), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for set, want := range loadVectors(t) {
		t.Run(set, func(t *testing.T) {
			sink := newMemSink()
			events := 0
			res, err := ImportPath(context.Background(), root, paramSet(t, set), DirOptions{}, sink, func(Event) { events++ })
			if err != nil {
				t.Fatal(err)
			}
			if res.Cid.String() != want["hamtdir"] || events != 10001 {
				t.Fatalf("got %s with %d events, want %s with 10001", res.Cid, events, want["hamtdir"])
			}
			checkHAMTRoot(t, sink, res.Cid)
		})
	}
}

// The DirBuilder must not care in which order entries arrive.
func TestDirBuilderOrderIndependent(t *testing.T) {
	type ent struct {
		path, data string
		dir        bool
	}
	ents := []ent{
		{path: "a", dir: true},
		{path: "a/b.txt", data: "hello\n"},
		{path: "a/c/d.bin", data: string(bytes.Repeat([]byte{0x42}, 300000))},
		{path: "e"},
	}
	want := loadVectors(t)["unixfs-v1-2025"]["tree"]
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 3, 0, 1}, {1, 2, 3}} {
		b := NewDirBuilder(context.Background(), Params{}, nil, DirOptions{})
		// Tar streams name the root "./"; it must be accepted and change
		// nothing.
		for _, root := range []string{"./", ".", ""} {
			if err := b.AddDir(root); err != nil {
				t.Fatalf("AddDir(%q): %v", root, err)
			}
		}
		for _, i := range order {
			e := ents[i]
			var err error
			if e.dir {
				err = b.AddDir(e.path)
			} else {
				_, _, err = b.AddFile(e.path, bytes.NewReader([]byte(e.data)))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		c, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if c.String() != want {
			t.Errorf("order %v: got %s, want %s", order, c, want)
		}
	}
}

func TestDirBuilderRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(b *DirBuilder) error
	}{
		{"dotdot", func(b *DirBuilder) error { return b.AddDir("a/../b") }},
		{"absolute", func(b *DirBuilder) error { return b.AddDir("/etc") }},
		{"empty file name", func(b *DirBuilder) error { _, _, err := b.AddFile("", bytes.NewReader(nil)); return err }},
		{"root as file", func(b *DirBuilder) error { _, _, err := b.AddFile("./", bytes.NewReader(nil)); return err }},
		{"dot", func(b *DirBuilder) error { return b.AddDir("a/./b") }},
		{"double slash", func(b *DirBuilder) error { return b.AddDir("a//b") }},
		{"nul", func(b *DirBuilder) error { _, err := b.AddSymlink("a\x00b", "x"); return err }},
		{"file under file", func(b *DirBuilder) error {
			if _, _, err := b.AddFile("f", bytes.NewReader(nil)); err != nil {
				return nil
			}
			_, _, err := b.AddFile("f/g", bytes.NewReader(nil))
			return err
		}},
		{"file over dir", func(b *DirBuilder) error {
			if err := b.AddDir("d"); err != nil {
				return nil
			}
			_, _, err := b.AddFile("d", bytes.NewReader(nil))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(NewDirBuilder(context.Background(), Params{}, nil, DirOptions{})); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestSymlinkAndWrap(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "d/f"), []byte("a"))
	if err := os.Symlink("../nowhere", filepath.Join(dir, "d/link")); err != nil {
		t.Fatal(err)
	}
	sink := newMemSink()
	res, err := ImportPath(context.Background(), filepath.Join(dir, "d"), Params{}, DirOptions{}, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := pb.Unmarshal(sink.get(t, res.Cid))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Links) != 2 || n.Links[0].Name != "f" || n.Links[1].Name != "link" {
		t.Fatalf("links %+v", n.Links)
	}
	ln, err := pb.Unmarshal(sink.get(t, n.Links[1].Cid))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := pb.UnmarshalFS(ln.Data)
	if err != nil || fs.Type != pb.TSymlink || string(fs.Data) != "../nowhere" {
		t.Fatalf("symlink node %+v %v", fs, err)
	}

	// -w on a single file: a directory holding it under its name.
	var events []Event
	w, err := ImportPath(context.Background(), filepath.Join(dir, "d/f"), Params{}, DirOptions{Wrap: true}, sink, func(ev Event) { events = append(events, ev) })
	if err != nil {
		t.Fatal(err)
	}
	wn, err := pb.Unmarshal(sink.get(t, w.Cid))
	if err != nil {
		t.Fatal(err)
	}
	if len(wn.Links) != 1 || wn.Links[0].Name != "f" || !wn.Links[0].Cid.Equals(n.Links[0].Cid) {
		t.Fatalf("wrapper links %+v", wn.Links)
	}
	if len(events) != 2 || events[0].Path != "f" || events[1].Path != "" || !events[1].Cid.Equals(w.Cid) {
		t.Fatalf("events %+v", events)
	}
}

// FuzzSplitPath: whatever the path validator accepts is safe to join under
// a directory, and rebuilding the path from its parts gives it back.
func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"a", "a/b", "./a/b/", "../x", "a//b", "a\x00b", ".hidden/x", "/abs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts, err := splitPath(s)
		if err != nil {
			return
		}
		for _, c := range parts {
			if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "/\x00") {
				t.Fatalf("%q accepted with component %q", s, c)
			}
		}
		j := strings.Join(parts, "/")
		if j != strings.TrimSuffix(strings.TrimPrefix(s, "./"), "/") {
			t.Fatalf("%q split into %q", s, parts)
		}
		if filepath.IsAbs(j) || !filepath.IsLocal(j) {
			t.Fatalf("%q is not local", j)
		}
	})
}

func TestDirBuilderRename(t *testing.T) {
	ctx := context.Background()
	b := NewDirBuilder(ctx, Params{}, nil, DirOptions{})
	if _, _, err := b.AddFile("x", strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.AddFile("d/y", strings.NewReader("y")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, to string }{
		{"nosuch", "z"}, {"x", "d/x"}, {"x", "d"}, {"d", "e"}, {"x", "../z"},
	} {
		if err := b.Rename(tc.from, tc.to); err == nil {
			t.Errorf("Rename(%q, %q) succeeded", tc.from, tc.to)
		}
	}
	if err := b.Rename("x", "z"); err != nil {
		t.Fatal(err)
	}
	// The result must equal a tree built with the final name directly.
	renamed, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	d := NewDirBuilder(ctx, Params{}, nil, DirOptions{})
	d.AddFile("z", strings.NewReader("data"))
	d.AddFile("d/y", strings.NewReader("y"))
	direct, err := d.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if !renamed.Equals(direct) {
		t.Errorf("renamed tree %s, direct %s", renamed, direct)
	}
}
