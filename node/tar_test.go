package node

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestTarRoundTrip: adding a tree through a tar stream (the daemon path)
// must give exactly the entries and CIDs of adding it directly.
func TestTarRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "t", "sub", "deeper"), 0o755)
	os.MkdirAll(filepath.Join(dir, "t", "empty"), 0o755)
	os.WriteFile(filepath.Join(dir, "t", "a.txt"), bytes.Repeat([]byte("a"), 3<<20), 0o644)
	os.WriteFile(filepath.Join(dir, "t", "sub", "deeper", "z"), nil, 0o644)
	os.Symlink("../a.txt", filepath.Join(dir, "t", "sub", "ln"))
	other := filepath.Join(dir, "single.bin")
	os.WriteFile(other, []byte("single"), 0o644)
	paths := []string{filepath.Join(dir, "t"), other}

	n := openNode(t, t.TempDir(), Options{})
	direct, err := n.Add(ctx, FileEntries(paths, true), AddOptions{OnlyHash: true})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteTar(&buf, FileEntries(paths, true)); err != nil {
		t.Fatal(err)
	}
	viaTar, err := n.Add(ctx, TarEntries(&buf), AddOptions{OnlyHash: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(direct, viaTar) {
		t.Errorf("tar add differs:\n direct %+v\n tar    %+v", direct, viaTar)
	}

	// The unnamed stream survives the trip and is still named by its CID.
	buf.Reset()
	if err := WriteTar(&buf, ReaderEntry(io.LimitReader(strings.NewReader("from stdin"), 100))); err != nil {
		t.Fatal(err)
	}
	res, err := n.Add(ctx, TarEntries(&buf), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || res.Entries[0].Name != res.Entries[0].Cid {
		t.Errorf("unnamed via tar: %+v", res.Entries)
	}
}

func TestTarEntriesRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		hdr  tar.Header
	}{
		{"hard link", tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "x"}},
		{"fifo", tar.Header{Name: "p", Typeflag: tar.TypeFifo}},
		{"char device", tar.Header{Name: "c", Typeflag: tar.TypeChar}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			tw.WriteHeader(&tc.hdr)
			tw.Close()
			var err error
			for _, e := range TarEntries(&buf) {
				err = e
			}
			if !errors.Is(err, ErrBadTar) {
				t.Errorf("err = %v, want ErrBadTar", err)
			}
		})
	}
	var err error
	for _, e := range TarEntries(strings.NewReader("this is not a tar archive at all, just text padding it out")) {
		err = e
	}
	if !errors.Is(err, ErrBadTar) {
		t.Errorf("garbage: %v", err)
	}
}

// FuzzTarEntries feeds arbitrary bytes as an add stream: decoding must
// end in entries or an ErrBadTar, never a panic or an entry without a kind
// Add understands, and hashing what decodes must not panic either.
func FuzzTarEntries(f *testing.F) {
	var buf bytes.Buffer
	WriteTar(&buf, entries(
		Entry{Path: "d", Kind: EntryDir},
		Entry{Path: "d/f", Content: strings.NewReader("content")},
		Entry{Path: "d/l", Kind: EntrySymlink, Target: "f"},
		Entry{Content: strings.NewReader("stdin")},
	))
	f.Add(buf.Bytes())
	// Only-hash never touches the store, so a Node without one is enough
	// and keeps each fuzz worker cheap.
	n := &Node{}
	f.Fuzz(func(t *testing.T, data []byte) {
		for e, err := range TarEntries(bytes.NewReader(data)) {
			if err != nil {
				if !errors.Is(err, ErrBadTar) {
					t.Fatalf("error not ErrBadTar: %v", err)
				}
				break
			}
			if e.Kind != EntryFile && e.Kind != EntryDir && e.Kind != EntrySymlink {
				t.Fatalf("entry kind %d", e.Kind)
			}
			if e.Content != nil {
				io.Copy(io.Discard, e.Content)
			}
		}
		n.Add(context.Background(), TarEntries(bytes.NewReader(data)), AddOptions{OnlyHash: true, Profile: "unixfs-v1-2025"})
	})
}
