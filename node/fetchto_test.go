package node

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/trove-p2p/trove/node/api"
)

// TestFetchTo: a client of the daemon's own user on the unix socket has
// the daemon download and write the output itself (progress includes the
// bytes written, the result both halves, the DAG ends pinned); a client on
// the TCP API is refused with ErrWriteRefused, so it writes the output
// itself; a relative output path is a bad request.
func TestFetchTo(t *testing.T) {
	data := randomData(5<<20+3, 21)
	a, root := seed(t, data, DaemonOptions{})
	dir := t.TempDir()
	b := startDaemon(t, dir, DaemonOptions{APIAddr: "127.0.0.1:0"})
	r := dialRemote(t, dir)
	if r.c.Addr().Network != "unix" {
		t.Fatalf("dialled %v, want the unix socket", r.c.Addr())
	}
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out.bin")
	var wrote atomic.Int64
	var progress atomic.Int32
	res, err := r.FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root, Peers: []string{peerAddr(a)}}, Out: out}, func(p FetchProgress) {
		if p.Wrote > 0 {
			wrote.Store(p.Wrote)
		} else {
			progress.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("output: %d bytes, %v; want the %d bytes seeded", len(got), err, len(data))
	}
	if res.Get.Bytes != int64(len(data)) || res.Get.Files != 1 || res.Get.Path != out || res.Fetch.Pin != "recursive" {
		t.Errorf("result %+v", res)
	}
	if wrote.Load() != int64(len(data)) {
		t.Errorf("last Wrote event %d, want %d", wrote.Load(), len(data))
	}
	if got := pinKind(t, b.Node(), root); got != "recursive" {
		t.Errorf("pin after FetchTo: %q", got)
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 1 {
		t.Errorf("output dir holds %d entries, want just the file", len(ents))
	}

	// Again: the output exists, so without Force it is refused.
	if _, err := r.FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root}, Out: out}, nil); !errors.Is(err, os.ErrExist) {
		t.Errorf("second FetchTo onto the same path: %v, want exists", err)
	}
	if _, err := r.FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root}, Out: "rel/out"}, nil); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("relative output: %v, want a bad request", err)
	}

	rt := NewRemote(dialTCP(t, b, dir))
	other := filepath.Join(t.TempDir(), "other.bin")
	if _, err := rt.FetchTo(ctx, FetchToArgs{FetchArgs: FetchArgs{Path: root}, Out: other}, nil); !errors.Is(err, ErrWriteRefused) {
		t.Errorf("FetchTo over TCP: %v, want ErrWriteRefused", err)
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused FetchTo wrote %s: %v", other, err)
	}
}
