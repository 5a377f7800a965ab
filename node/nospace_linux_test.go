package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/trove-p2p/trove/blockstore"
)

// TestDaemonFullDisk runs a daemon whose repo is on an 80 MiB tmpfs that
// other data fills to its last 24 MiB, so after a 16 MiB reserve
// (Datastore.MinFreeSpace) about 8 MiB can be stored. A 12 MiB add, dag
// import and get each fail with
// ErrNoSpace (exit 10) through the API, pin nothing as complete, and the
// daemon keeps serving; once the other data is removed the same three
// succeed and repo verify is clean.
func TestDaemonFullDisk(t *testing.T) {
	ctx := context.Background()
	disk := t.TempDir()
	if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=80m"); err != nil {
		t.Skipf("cannot mount a small filesystem (needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(disk, syscall.MNT_DETACH) })
	other := filepath.Join(disk, "other-data")
	if err := os.WriteFile(other, make([]byte, 56<<20), 0o644); err != nil {
		t.Fatal(err)
	}

	const size = 12 << 20
	addData, carData, getData := countingData(size, 41), countingData(size, 42), countingData(size, 43)
	src := openNode(t, t.TempDir(), Options{})
	res, err := src.Add(ctx, ReaderEntry(bytes.NewReader(carData)), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var car bytes.Buffer
	if err := src.DagExport(ctx, res.Roots[0], &car); err != nil {
		t.Fatal(err)
	}
	src.Close()
	s, getRoot := seed(t, getData, DaemonOptions{})

	dir := filepath.Join(disk, "repo")
	n := openNode(t, dir, Options{})
	n.repo.Config.Datastore.MinFreeSpace = 16 << 20
	if err := n.repo.SaveConfig(n.repo.Config); err != nil {
		t.Fatal(err)
	}
	n.Close()
	d := startDaemon(t, dir, DaemonOptions{})
	r := dialRemote(t, dir)
	noSpace := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, blockstore.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%s on a full disk: %v, want ErrNoSpace", what, err)
		}
		pins, perr := r.PinLs(ctx)
		if perr != nil {
			t.Fatalf("daemon after %s: %v", what, perr)
		}
		for _, p := range pins {
			if p.Type != "partial" {
				t.Fatalf("%s pinned %s as %s on a full disk", what, p.Cid, p.Type)
			}
		}
	}
	_, err = r.Add(ctx, ReaderEntry(bytes.NewReader(addData)), AddOptions{})
	noSpace("add", err)
	_, err = r.DagImport(ctx, bytes.NewReader(car.Bytes()), DagImportOptions{})
	noSpace("dag import", err)
	_, err = d.Node().Fetch(ctx, FetchArgs{Path: getRoot, Peers: []string{peerAddr(s)}}, nil)
	noSpace("get", err)
	if _, err := r.RepoStat(ctx); err != nil {
		t.Fatalf("daemon not serving after the disk filled: %v", err)
	}

	if err := os.Remove(other); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Add(ctx, ReaderEntry(bytes.NewReader(addData)), AddOptions{}); err != nil {
		t.Fatalf("add after freeing space: %v", err)
	}
	if _, err := r.DagImport(ctx, bytes.NewReader(car.Bytes()), DagImportOptions{}); err != nil {
		t.Fatalf("dag import after freeing space: %v", err)
	}
	if _, err := d.Node().Fetch(ctx, FetchArgs{Path: getRoot, Peers: []string{peerAddr(s)}}, nil); err != nil {
		t.Fatalf("get after freeing space: %v", err)
	}
	if !bytes.Equal(catBytes(t, d.Node(), getRoot), getData) {
		t.Fatal("content differs")
	}
	if v, err := r.RepoVerify(ctx, RepoVerifyOptions{}); err != nil || !v.Clean() {
		t.Fatalf("repo verify after freeing space: %+v, %v", v, err)
	}
}

// countingData is n bytes in which no two 8-byte words repeat (for one
// seed): unique blocks at any chunk size, much faster than randomData for
// tens of MiB.
func countingData(n int, seed uint64) []byte {
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], uint64(i)*0x9e3779b97f4a7c15^seed)
	}
	return b[:n]
}
