package node

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/trove-p2p/trove/node/api"
)

// TestTarByPath: an add stream written with files by path carries their
// paths, not their bytes, and reads back as the same entries where local
// files may be opened; elsewhere, and for paths that are not absolute
// regular files, it is refused.
func TestTarByPath(t *testing.T) {
	src := t.TempDir()
	big := randomData(300<<10, 41)
	if err := os.MkdirAll(filepath.Join(src, "d", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"d/a.bin": big, "d/sub/b.txt": []byte("bee")}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var tarred bytes.Buffer
	if err := writeTar(&tarred, FileEntries([]string{filepath.Join(src, "d")}, true), true); err != nil {
		t.Fatal(err)
	}
	if tarred.Len() > 16<<10 {
		t.Fatalf("the by-path stream is %d bytes: it carries file contents", tarred.Len())
	}
	got := map[string][]byte{}
	for e, err := range tarEntries(bytes.NewReader(tarred.Bytes()), true) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == EntryFile {
			b, err := io.ReadAll(e.Content)
			if err != nil {
				t.Fatal(err)
			}
			got[e.Path] = b
		}
	}
	if len(got) != 2 || !bytes.Equal(got["d/a.bin"], big) || string(got["d/sub/b.txt"]) != "bee" {
		t.Fatalf("read back %d files", len(got))
	}
	refused := false
	for e, err := range tarEntries(bytes.NewReader(tarred.Bytes()), false) {
		if err == nil && e.Kind == EntryFile {
			t.Fatalf("a stream naming files read without local: %s", e.Path)
		}
		refused = errors.Is(err, ErrReadRefused)
	}
	if !refused {
		t.Fatal("a stream naming files was not refused without local")
	}

	for _, tc := range []struct {
		name, path string
	}{
		{"relative", "d/a.bin"},
		{"directory", src},
		{"missing", filepath.Join(src, "nope")},
	} {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		if err := tw.WriteHeader(&tar.Header{Name: "x", Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX, PAXRecords: map[string]string{paxPath: tc.path}}); err != nil {
			t.Fatal(err)
		}
		tw.Close()
		n := 0
		var last error
		for e, err := range tarEntries(&b, true) {
			if err == nil && e.Kind == EntryFile {
				n++
			}
			last = err
		}
		if n != 0 || last == nil {
			t.Errorf("%s path %q: %d files, error %v", tc.name, tc.path, n, last)
		}
	}
}

// TestAddLocalFilesThroughDaemon: an add through the daemon's unix socket
// with LocalFiles has the daemon read the files (same CIDs as offline);
// over the TCP API the client sends the bytes instead, and a request that
// insists on paths there is refused.
func TestAddLocalFilesThroughDaemon(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	data := randomData(2<<20+5, 42)
	file := filepath.Join(src, "f.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := openNode(t, t.TempDir(), Options{}).Add(ctx, FileEntries([]string{src}, true), AddOptions{OnlyHash: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d := startDaemon(t, dir, DaemonOptions{APIAddr: "127.0.0.1:0"})
	r := dialRemote(t, dir)
	var progress int64
	res, err := r.Add(ctx, FileEntries([]string{src}, true), AddOptions{LocalFiles: true, Progress: func(b int64) { progress = b }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Roots[0] != want.Roots[0] || progress != int64(len(data)) {
		t.Fatalf("add by path: root %s, progress %d; want %s, %d", res.Roots[0], progress, want.Roots[0], len(data))
	}
	if !bytes.Equal(catBytes(t, d.Node(), res.Roots[0]+"/f.bin"), data) {
		t.Fatal("the daemon stored other bytes")
	}

	c := dialTCP(t, d, dir)
	rt := NewRemote(c)
	if res, err := rt.Add(ctx, FileEntries([]string{src}, true), AddOptions{LocalFiles: true}); err != nil || res.Roots[0] != want.Roots[0] {
		t.Fatalf("add over TCP: %+v, %v", res, err)
	}
	var b bytes.Buffer
	if err := writeTar(&b, FileEntries([]string{file}, false), true); err != nil {
		t.Fatal(err)
	}
	_, err = epAdd.Upload(ctx, c, AddOptions{LocalFiles: true}, api.Body{Reader: &b, ContentType: api.ContentTar}, func(AddProgress) error { return nil })
	if !errors.Is(err, ErrReadRefused) {
		t.Fatalf("add by path over TCP: %v, want ErrReadRefused", err)
	}
}
