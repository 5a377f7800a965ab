//go:build linux

package fuse_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/fuse"
	"github.com/trove-p2p/trove/node"
)

func init() {
	// The EINTR helper reads on the main thread, where a signal sent to
	// the process is delivered; see helperRead.
	runtime.LockOSThread()
}

// TestMain doubles as the helper processes some tests need: a reader that
// reports the errno of one blocked read, and a mount that is killed.
func TestMain(m *testing.M) {
	switch os.Getenv("TROVE_FUSE_HELPER") {
	case "read":
		helperRead(os.Getenv("TROVE_FUSE_FILE"))
	case "mount":
		helperMount(os.Getenv("TROVE_FUSE_REPO"), os.Getenv("TROVE_FUSE_DIR"))
	}
	os.Exit(m.Run())
}

// helperRead opens a file, says so, and reads once with a bare read(2)
// (no retry on EINTR, unlike os.File), printing the outcome. SIGUSR1 is
// caught so that it interrupts the read instead of killing the process.
func helperRead(path string) {
	usr := make(chan os.Signal, 1)
	signal.Notify(usr, syscall.SIGUSR1)
	fd, err := syscall.Open(path, syscall.O_RDONLY, 0)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	fmt.Println("reading")
	buf := make([]byte, 64<<10)
	n, err := syscall.Read(fd, buf)
	if err != nil {
		fmt.Println("errno:", int(err.(syscall.Errno)))
	} else {
		fmt.Println("read:", n)
	}
	os.Exit(0)
}

// helperMount mounts a repo's content and waits to be killed.
func helperMount(repo, dir string) {
	n, err := node.Open(context.Background(), repo, node.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	if _, err := n.Mount(dir, node.Source{Offline: true}, fuse.Options{}); err != nil {
		fmt.Println("mount:", err)
		os.Exit(1)
	}
	fmt.Println("mounted")
	select {}
}

// needFUSE skips the test where a real mount is impossible, saying why.
func needFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no FUSE on this machine (%v); the mount tests need /dev/fuse", err)
	}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			if _, err := exec.LookPath("fusermount"); err != nil {
				t.Skip("not root and no fusermount3/fusermount: install fuse3 to run the mount tests")
			}
		}
	}
}

// syncBuffer keeps a mount's log lines for assertions.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newLogger sends a mount's logs to the test log and keeps them.
func newLogger(t *testing.T) (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(io.MultiWriter(buf, tWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// mountNode mounts n's content (through src) on a fresh directory and
// unmounts it when the test ends.
func mountNode(t *testing.T, n *node.Node, src node.Source, o fuse.Options) *fuse.Mountpoint {
	t.Helper()
	needFUSE(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if o.Logger == nil {
		o.Logger, _ = newLogger(t)
	}
	m, err := n.Mount(dir, src, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return m
}

func openNode(t *testing.T) *node.Node {
	t.Helper()
	return openNodeAt(t, t.TempDir())
}

func openNodeAt(t *testing.T, repo string) *node.Node {
	t.Helper()
	n, err := node.Open(context.Background(), repo, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func addPath(t *testing.T, n *node.Node, p string, o node.AddOptions) cid.Cid {
	t.Helper()
	res, err := n.Add(context.Background(), node.FileEntries([]string{p}, true), o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cid.Decode(res.Roots[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func addBytes(t *testing.T, n *node.Node, data []byte) cid.Cid {
	t.Helper()
	res, err := n.Add(context.Background(), node.ReaderEntry(bytes.NewReader(data)), node.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cid.Decode(res.Roots[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// hamtEntries is enough names of this length to push a directory past the
// importer's 256 KiB sharding threshold.
const hamtEntries = 3500

// writeTree makes a tree with every kind of entry the mount shows: small,
// empty and multi-block files, nested and empty directories, relative and
// absolute symlinks, and a directory big enough to become a HAMT.
func writeTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	files := map[string][]byte{
		"a.txt":              []byte("alpha\n"),
		"empty":              nil,
		"big.bin":            randomData(3<<20+12345, 1),
		"sub/b.txt":          bytes.Repeat([]byte("bravo "), 50000),
		"sub/deep/c.md":      []byte("# charlie\n"),
		"with space/ü.txt":   []byte("unicode and spaces\n"),
		"sub/deep/more/d.go": []byte("package d\n"),
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(root, "emptydir"), 0o755)
	for i := range hamtEntries {
		p := filepath.Join(root, "hamt", fmt.Sprintf("entry-%05d-with-a-name-long-enough-to-shard.txt", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(fmt.Sprintf("entry %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.txt", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "sub", "abs-link")); err != nil {
		t.Fatal(err)
	}
	return root
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mounted reports whether dir is a mount point, from mountinfo.
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.ReplaceAll(f[4], `\040`, " ") == dir {
			return true
		}
	}
	return false
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}
