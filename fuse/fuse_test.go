//go:build linux

package fuse_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-multihash"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/fuse"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/unixfs/pb"
	"golang.org/x/sys/unix"
)

// TestMountTree mounts an offline repo and checks what ordinary tools see
// of an imported tree: the pinned root listed at the top, every file
// byte-identical (diff -r), real sizes and st_blocks, read-only modes,
// the mounting user as owner, symlinks as symlinks, a HAMT directory
// listed and looked up, the CID as an xattr, and CIDs in other forms.
func TestMountTree(t *testing.T) {
	src := writeTree(t)
	n := openNode(t)
	root := addPath(t, n, src, node.AddOptions{})
	m := mountNode(t, n, node.Source{Offline: true}, fuse.Options{})
	mnt := filepath.Join(m.Dir(), root.String())

	names, err := os.ReadDir(m.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0].Name() != root.String() {
		t.Fatalf("ls of the mount = %v, want the one pinned root %s", names, root)
	}

	// diff -r compares every byte of every file, the directory
	// structure both ways, and symlinks as links (not their targets).
	out, err := exec.Command("diff", "-r", "--no-dereference", src, mnt).CombinedOutput()
	if err != nil {
		t.Fatalf("diff -r %s %s: %v\n%s", src, mnt, err, out)
	}

	for _, rel := range []string{"a.txt", "empty", "big.bin", "sub/b.txt", "with space/ü.txt"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(mnt, rel), &st); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(filepath.Join(src, rel))
		if st.Size != fi.Size() || st.Blocks != (fi.Size()+511)/512 {
			t.Errorf("%s: size %d blocks %d, want %d and %d", rel, st.Size, st.Blocks, fi.Size(), (fi.Size()+511)/512)
		}
		if st.Mode != unix.S_IFREG|0o444 {
			t.Errorf("%s: mode %o, want regular 0444", rel, st.Mode)
		}
		if st.Uid != uint32(os.Getuid()) || st.Gid != uint32(os.Getgid()) {
			t.Errorf("%s: owner %d:%d, want the mounting user %d:%d", rel, st.Uid, st.Gid, os.Getuid(), os.Getgid())
		}
	}
	for _, rel := range []string{"", "sub", "emptydir", "hamt"} {
		fi, err := os.Lstat(filepath.Join(mnt, rel))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o555 {
			t.Errorf("%q: mode %v, want a 0555 directory", rel, fi.Mode())
		}
	}
	for rel, target := range map[string]string{"link": "a.txt", "sub/abs-link": "/etc/passwd"} {
		fi, err := os.Lstat(filepath.Join(mnt, rel))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.Readlink(filepath.Join(mnt, rel))
		if fi.Mode()&fs.ModeSymlink == 0 || err != nil || got != target {
			t.Errorf("%s: mode %v, readlink %q %v; want a symlink to %q", rel, fi.Mode(), got, err, target)
		}
	}

	// The HAMT: a lookup straight to one name, and a full listing.
	hamt := filepath.Join(mnt, "hamt")
	sharded, err := n.Content(node.Source{Offline: true}).Stat(context.Background(), mustResolve(t, n, root.String()+"/hamt"))
	if err != nil || !sharded.Sharded {
		t.Fatalf("the test tree's hamt directory is not sharded (%+v, %v); raise hamtEntries", sharded, err)
	}
	name := fmt.Sprintf("entry-%05d-with-a-name-long-enough-to-shard.txt", hamtEntries-7)
	if b, err := os.ReadFile(filepath.Join(hamt, name)); err != nil || string(b) != fmt.Sprintf("entry %d\n", hamtEntries-7) {
		t.Errorf("HAMT lookup: %q, %v", b, err)
	}
	if ents, err := os.ReadDir(hamt); err != nil || len(ents) != hamtEntries {
		t.Errorf("HAMT listing: %d entries, %v; want %d", len(ents), err, hamtEntries)
	}

	// xattr user.trove.cid is each entry's CID. (Linux keeps user.*
	// attributes off symlinks, so those have none.)
	for _, rel := range []string{"", "sub/deep/c.md", "hamt/" + name, "emptydir"} {
		want := mustResolve(t, n, strings.TrimSuffix(root.String()+"/"+rel, "/")).String()
		buf := make([]byte, 128)
		sz, err := unix.Lgetxattr(filepath.Join(mnt, rel), fuse.XattrCID, buf)
		if err != nil || string(buf[:sz]) != want {
			t.Errorf("%q: xattr %s = %q, %v; want %s", rel, fuse.XattrCID, buf[:max(sz, 0)], err, want)
		}
	}

	// The same content by other spellings of its CID: base36 CIDv1, and
	// the CIDv0 a Kubo-era import produces.
	b36, err := root.StringOfBase(multibase.Base36)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(m.Dir(), b36, "a.txt")); err != nil || string(b) != "alpha\n" {
		t.Errorf("base36 CID: %q, %v", b, err)
	}
	v0 := addPath(t, n, filepath.Join(src, "sub", "b.txt"), node.AddOptions{Profile: "unixfs-v0-2015"})
	if v0.Version() != 0 {
		t.Fatalf("v0 profile gave %s", v0)
	}
	want, _ := os.ReadFile(filepath.Join(src, "sub", "b.txt"))
	if b, err := os.ReadFile(filepath.Join(m.Dir(), v0.String())); err != nil || !bytes.Equal(b, want) {
		t.Errorf("CIDv0 %s: %d bytes, %v", v0, len(b), err)
	}

	// Names that are not CIDs, and CIDs of content that is nowhere.
	sum, _ := multihash.Sum([]byte("stored nowhere"), multihash.SHA2_256, -1)
	absent := cid.NewCidV1(cid.Raw, sum)
	for _, name := range []string{"not-a-cid", ".hidden", absent.String()} {
		if _, err := os.Stat(filepath.Join(m.Dir(), name)); errnoOf(err) != syscall.ENOENT {
			t.Errorf("stat %s: %v, want ENOENT", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(mnt, "no-such-name")); errnoOf(err) != syscall.ENOENT {
		t.Errorf("missing name in a directory: %v, want ENOENT", err)
	}

	var sfs unix.Statfs_t
	if err := unix.Statfs(mnt, &sfs); err != nil || sfs.Bsize <= 0 || sfs.Namelen != 255 {
		t.Errorf("statfs: %+v, %v", sfs, err)
	}
	if out, err := exec.Command("df", m.Dir()).CombinedOutput(); err != nil {
		t.Errorf("df: %v\n%s", err, out)
	}
}

func mustResolve(t *testing.T, n *node.Node, p string) cid.Cid {
	t.Helper()
	c, err := n.Content(node.Source{Offline: true}).Resolve(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMountRanges reads byte ranges at odd offsets, across block
// boundaries and past the end, and has 16 readers read the whole file at
// once; every result is compared by hash with the source bytes.
func TestMountRanges(t *testing.T) {
	const size = 5<<20 + 777 // five 1 MiB leaves and a tail
	data := randomData(size, 2)
	// Not openNode: the end of the test closes the node itself, and a
	// Close that hangs must fail the test, not its cleanup.
	n, err := node.Open(context.Background(), t.TempDir(), node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	closing := false
	t.Cleanup(func() {
		if !closing {
			n.Close()
		}
	})
	c := addBytes(t, n, data)
	m := mountNode(t, n, node.Source{Offline: true}, fuse.Options{})
	path := filepath.Join(m.Dir(), c.String())

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct{ off, n int64 }{
		{0, 1},
		{1, 4095},
		{4097, 131073},
		{1<<20 - 3, 7},             // straddles the first leaf boundary
		{3<<20 - 12345, 2<<20 + 1}, // spans three leaves
		{size - 10, 10},
		{size - 10, 100}, // runs past the end
		{size, 10},       // at the end
	} {
		buf := make([]byte, tc.n)
		got, err := f.ReadAt(buf, tc.off)
		end := min(tc.off+tc.n, size)
		wantN := int(end - tc.off)
		if got != wantN || (err != nil && !(errors.Is(err, io.EOF) && wantN < int(tc.n))) {
			t.Errorf("ReadAt(%d, %d) = %d, %v; want %d bytes", tc.n, tc.off, got, err, wantN)
			continue
		}
		if sha256.Sum256(buf[:got]) != sha256.Sum256(data[tc.off:end]) {
			t.Errorf("ReadAt(%d, %d): bytes differ from the source", tc.n, tc.off)
		}
	}

	want := sha256.Sum256(data)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.Open(path)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			h := sha256.New()
			// Odd buffer sizes so readers hit the file at different
			// offsets at the same time.
			if _, err := io.CopyBuffer(h, f, make([]byte, 4096*(i+1)+i)); err != nil {
				errs <- err
				return
			}
			if [32]byte(h.Sum(nil)) != want {
				errs <- fmt.Errorf("reader %d: hash differs", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// The replies were lent from the store's value log; a loan never
	// returned would hold the store's Close for ever.
	f.Close()
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	closing = true
	closed := make(chan error, 1)
	go func() { closed <- n.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the store's Close still waits 10 s after unmounting: a read's loan was never returned")
	}
}

// TestMountReadOnly: every way of changing the tree fails with EROFS, and
// leaves the content as it was.
func TestMountReadOnly(t *testing.T) {
	src := writeTree(t)
	n := openNode(t)
	root := addPath(t, n, src, node.AddOptions{})
	m := mountNode(t, n, node.Source{Offline: true}, fuse.Options{})
	mnt := filepath.Join(m.Dir(), root.String())
	file := filepath.Join(mnt, "a.txt")
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"open for writing", func() error {
			f, err := os.OpenFile(file, os.O_WRONLY, 0)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"truncate", func() error { return os.Truncate(file, 0) }},
		{"create", func() error {
			f, err := os.Create(filepath.Join(mnt, "new.txt"))
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"create at the top", func() error { return os.WriteFile(filepath.Join(m.Dir(), "x"), nil, 0o644) }},
		{"mkdir", func() error { return os.Mkdir(filepath.Join(mnt, "d"), 0o755) }},
		{"rename", func() error { return os.Rename(file, filepath.Join(mnt, "b.txt")) }},
		{"remove", func() error { return os.Remove(file) }},
		{"rmdir", func() error { return os.Remove(filepath.Join(mnt, "emptydir")) }},
		{"chmod", func() error { return os.Chmod(file, 0o644) }},
		{"symlink", func() error { return os.Symlink("a.txt", filepath.Join(mnt, "l2")) }},
		{"setxattr", func() error { return unix.Setxattr(file, "user.x", []byte("1"), 0) }},
	} {
		if err := tc.op(); errnoOf(err) != syscall.EROFS {
			t.Errorf("%s: %v, want EROFS", tc.name, err)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "alpha\n" {
		t.Errorf("after the attempts: %q, %v", b, err)
	}
}

// TestMountUnmount: Unmount ends the mount and Done says so; an outside
// `fusermount -u` is noticed; a busy mount (a file held open) is detached
// rather than left behind.
func TestMountUnmount(t *testing.T) {
	n := openNode(t)
	c := addBytes(t, n, []byte("hello\n"))
	for _, tc := range []struct {
		name   string
		end    func(t *testing.T, m *fuse.Mountpoint)
		reason string
	}{
		{"Unmount", func(t *testing.T, m *fuse.Mountpoint) {
			if err := m.Unmount(); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"fusermount -u", func(t *testing.T, m *fuse.Mountpoint) {
			bin, err := exec.LookPath("fusermount3")
			if err != nil {
				if bin, err = exec.LookPath("fusermount"); err != nil {
					t.Skip("no fusermount to unmount with")
				}
			}
			if out, err := exec.Command(bin, "-u", m.Dir()).CombinedOutput(); err != nil {
				t.Fatalf("%s -u: %v\n%s", bin, err, out)
			}
		}, ""},
		{"busy", func(t *testing.T, m *fuse.Mountpoint) {
			f, err := os.Open(filepath.Join(m.Dir(), c.String()))
			if err != nil {
				t.Fatal(err)
			}
			// The open file makes a plain unmount fail with EBUSY; the
			// lazy detach removes the mount from the tree at once and
			// the mount ends when the file closes.
			errc := make(chan error, 1)
			go func() { errc <- m.Unmount() }()
			waitFor(t, 5*time.Second, "the busy mount to leave the tree", func() bool { return !mounted(m.Dir()) })
			f.Close()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mountNode(t, n, node.Source{Offline: true}, fuse.Options{})
			if !mounted(m.Dir()) {
				t.Fatal("not in mountinfo after Mount")
			}
			tc.end(t, m)
			select {
			case <-m.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done not closed after the mount ended")
			}
			if mounted(m.Dir()) {
				t.Error("still mounted")
			}
			// The directory is usable again: a new mount succeeds.
			m2, err := n.Mount(m.Dir(), node.Source{Offline: true}, fuse.Options{})
			if err != nil {
				t.Fatalf("mount again: %v", err)
			}
			m2.Unmount()
		})
	}
}

// TestMountErrors: each way a mount fails is an error that names the
// problem, and leaves nothing mounted.
func TestMountErrors(t *testing.T) {
	needFUSE(t)
	n := openNode(t)
	base := t.TempDir()
	file := filepath.Join(base, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	full := filepath.Join(base, "full")
	os.MkdirAll(filepath.Join(full, "something"), 0o755)
	live := filepath.Join(base, "live")
	os.Mkdir(live, 0o755)
	m, err := n.Mount(live, node.Source{Offline: true}, fuse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmount()
	for _, tc := range []struct {
		name, dir string
		is        error
		says      string
	}{
		{"missing", filepath.Join(base, "nope"), fs.ErrNotExist, "does not exist"},
		{"a file", file, syscall.ENOTDIR, "not a directory"},
		{"not empty", full, fuse.ErrBusy, "not empty"},
		{"already mounted", live, fuse.ErrBusy, "already a mount point"},
	} {
		_, err := n.Mount(tc.dir, node.Source{Offline: true}, fuse.Options{})
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want %v saying %q", tc.name, err, tc.is, tc.says)
		}
	}
}

// TestMountStale: a mount whose process was killed (kill -9) leaves a
// dead mount point ("transport endpoint is not connected"); mounting
// there again clears it and works.
func TestMountStale(t *testing.T) {
	needFUSE(t)
	repo := t.TempDir()
	n, err := node.Open(context.Background(), repo, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := addBytes(t, n, []byte("survives\n"))
	n.Close()
	dir := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(dir, 0o755)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TROVE_FUSE_HELPER=mount", "TROVE_FUSE_REPO="+repo, "TROVE_FUSE_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 64)
	k, _ := out.Read(line)
	if !strings.HasPrefix(string(line[:k]), "mounted") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q", line[:k])
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	if _, err := os.ReadDir(dir); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("after kill -9 the mount point says %v, want ENOTCONN (the test needs a stale mount)", err)
	}

	// The helper's repo is free again (the kill released its lock): the
	// new mount serves it.
	n = openNodeAt(t, repo)
	c2 := addBytes(t, n, []byte("fresh\n"))
	log, logs := newLogger(t)
	m, err := n.Mount(dir, node.Source{Offline: true}, fuse.Options{Logger: log})
	if err != nil {
		t.Fatalf("mount over a stale trove mount: %v", err)
	}
	defer m.Unmount()
	for want, k := range map[string]cid.Cid{"survives\n": c, "fresh\n": c2} {
		if b, err := os.ReadFile(filepath.Join(dir, k.String())); err != nil || string(b) != want {
			t.Errorf("read after clearing: %q, %v; want %q", b, err, want)
		}
	}
	if !strings.Contains(logs.String(), "stale") {
		t.Errorf("clearing a stale mount was not logged:\n%s", logs)
	}
}

// TestMountUnixFSMetadata: a node that records a UnixFS mode and mtime
// shows them (write bits cleared); one that does not shows the defaults.
func TestMountUnixFSMetadata(t *testing.T) {
	n := openNode(t)
	put := func(fsn *pb.FSNode) cid.Cid {
		t.Helper()
		data := (&pb.Node{Data: fsn.Marshal(), HasData: true}).Marshal()
		c, err := block.Sum(1, block.CodecDagPB, block.HashSHA256, data)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Blockstore().Put(context.Background(), c, data); err != nil {
			t.Fatal(err)
		}
		return c
	}
	mtime := time.Unix(1700000000, 0)
	script := put(&pb.FSNode{Type: pb.TFile, Data: []byte("#!/bin/sh\n"), Mode: 0o755, HasMode: true, Mtime: &pb.Mtime{Seconds: mtime.Unix()}})
	private := put(&pb.FSNode{Type: pb.TFile, Data: []byte("secret"), Mode: 0o600, HasMode: true})
	plain := put(&pb.FSNode{Type: pb.TFile, Data: []byte("plain")})
	m := mountNode(t, n, node.Source{Offline: true}, fuse.Options{})
	for _, tc := range []struct {
		c     cid.Cid
		perm  fs.FileMode
		mtime time.Time
	}{
		{script, 0o555, mtime},
		{private, 0o400, time.Unix(0, 0)},
		{plain, 0o444, time.Unix(0, 0)},
	} {
		fi, err := os.Stat(filepath.Join(m.Dir(), tc.c.String()))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tc.perm || !fi.ModTime().Equal(tc.mtime) {
			t.Errorf("%s: mode %v mtime %v, want %v %v", tc.c, fi.Mode(), fi.ModTime(), tc.perm, tc.mtime)
		}
	}
}
