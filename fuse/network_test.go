//go:build linux

package fuse_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/fuse"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/node/api"
)

// startDaemon runs a daemon on a fresh repo, on loopback only.
func startDaemon(t *testing.T, o node.DaemonOptions) *node.Daemon {
	t.Helper()
	o.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	o.NoMDNS = true
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := node.StartDaemon(ctx, t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// seedPair starts a daemon holding data (with o's settings) and a second,
// empty one connected to it, and returns them with the data's CID.
func seedPair(t *testing.T, data []byte, o node.DaemonOptions) (seeder, reader *node.Daemon, c cid.Cid) {
	t.Helper()
	seeder = startDaemon(t, o)
	c = addBytes(t, seeder.Node(), data)
	reader = startDaemon(t, node.DaemonOptions{})
	if err := reader.P2P().Connect(context.Background(), seeder.P2P().AddrInfo()); err != nil {
		t.Fatal(err)
	}
	return seeder, reader, c
}

func storedBytes(t *testing.T, n *node.Node) int64 {
	t.Helper()
	st, err := n.RepoStat(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Bytes
}

// TestMountRemote reads content only another in-process daemon has: a
// range read fetches the blocks around it and not the file, and a whole
// read returns the seeder's bytes.
func TestMountRemote(t *testing.T) {
	needFUSE(t)
	const size = 24 << 20
	data := randomData(size, 3)
	_, b, c := seedPair(t, data, node.DaemonOptions{})
	m := mountNode(t, b.Node(), node.Source{}, fuse.Options{})
	path := filepath.Join(m.Dir(), c.String())

	before := storedBytes(t, b.Node())
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != size {
		t.Fatalf("remote file stat: %v, %v", fi, err)
	}
	off := int64(17<<20 - 1234)
	buf := make([]byte, 5000)
	if _, err := f.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(buf) != sha256.Sum256(data[off:off+5000]) {
		t.Fatal("range read differs from the seeder's bytes")
	}
	got := storedBytes(t, b.Node()) - before
	// The two leaves the range touches, plus what kernel and file
	// read-ahead take: a few MiB, not the 24 of the file.
	t.Logf("a 5000-byte range read stored %d bytes", got)
	if got <= 0 || got > 12<<20 {
		t.Errorf("a 5000-byte range read stored %d bytes of a %d-byte file", got, size)
	}

	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	if [32]byte(h.Sum(nil)) != sha256.Sum256(data) {
		t.Fatal("whole read through the mount differs from the seeder's file")
	}
}

// stalledPair is a reader daemon whose only provider serves at 1 KB/s:
// the root block arrives, a 1 MiB leaf would take a quarter of an hour.
func stalledPair(t *testing.T) (*node.Daemon, cid.Cid) {
	t.Helper()
	_, b, c := seedPair(t, randomData(4<<20, 4), node.DaemonOptions{Transfer: node.TransferOptions{MaxUpload: "1KB/s"}})
	return b, c
}

// TestMountInterrupt: a read blocked on a provider that never delivers
// ends with EINTR when the reading process gets a signal (the fetch under
// it is cancelled), and Ctrl-C on a blocked cat ends cat at once.
func TestMountInterrupt(t *testing.T) {
	needFUSE(t)
	b, c := stalledPair(t)
	log, logs := newLogger(t)
	m := mountNode(t, b.Node(), node.Source{}, fuse.Options{Logger: log, Timeout: 10 * time.Minute})
	path := filepath.Join(m.Dir(), c.String())

	t.Run("EINTR", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "TROVE_FUSE_HELPER=read", "TROVE_FUSE_FILE="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cmd.Process.Kill()
		sc := bufio.NewScanner(out)
		if !sc.Scan() || sc.Text() != "reading" {
			t.Fatalf("helper: %q", sc.Text())
		}
		time.Sleep(time.Second) // let the read reach the stalled fetch
		start := time.Now()
		cmd.Process.Signal(syscall.SIGUSR1)
		done := make(chan string, 1)
		go func() {
			sc.Scan()
			done <- sc.Text()
		}()
		select {
		case got := <-done:
			if want := "errno: " + strconv.Itoa(int(syscall.EINTR)); got != want {
				t.Fatalf("interrupted read: %q, want %q", got, want)
			}
			t.Logf("read returned EINTR %v after the signal", time.Since(start))
		case <-time.After(10 * time.Second):
			t.Fatal("a blocked read ignored the signal for 10s")
		}
		if !strings.Contains(logs.String(), "interrupted") {
			t.Errorf("the server did not see the interrupt:\n%s", logs)
		}
	})

	t.Run("Ctrl-C on cat", func(t *testing.T) {
		cmd := exec.Command("cat", path)
		cmd.Stdout = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		cmd.Process.Signal(os.Interrupt)
		errc := make(chan error, 1)
		go func() { errc <- cmd.Wait() }()
		select {
		case err := <-errc:
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
				t.Errorf("cat ended with %v, want death by SIGINT", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatal("Ctrl-C did not end a cat blocked on the mount within 10s")
		}
	})
}

// TestMountTimeout: a read that the retrieval timeout cuts short fails
// with EIO, and the log says why.
func TestMountTimeout(t *testing.T) {
	needFUSE(t)
	b, c := stalledPair(t)
	log, logs := newLogger(t)
	m := mountNode(t, b.Node(), node.Source{}, fuse.Options{Logger: log, Timeout: 2 * time.Second})
	start := time.Now()
	_, err := os.ReadFile(filepath.Join(m.Dir(), c.String()))
	if errnoOf(err) != syscall.EIO {
		t.Fatalf("read of stalled content: %v, want EIO", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the 2s timeout took %v to fire", d)
	}
	if !strings.Contains(logs.String(), "retrieval timed out") {
		t.Errorf("no log line for the timeout:\n%s", logs)
	}
}

// TestMountThroughDaemonAPI: the daemon mounts for a client over its API
// and holds the mount while the request lasts; cancelling the client's
// context unmounts before Mount returns, and a daemon that stops ends the
// mounts it holds first (its store outlives them).
func TestMountThroughDaemonAPI(t *testing.T) {
	needFUSE(t)
	d := startDaemon(t, node.DaemonOptions{})
	c := addBytes(t, d.Node(), []byte("served by the daemon\n"))
	client, err := api.DialWith(d.Node().Repo().Path, api.ClientOptions{Kinds: node.Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	r := node.NewRemote(client)
	defer r.Close()

	type outcome struct {
		res node.MountResult
		err error
	}
	hold := func(ctx context.Context, dir string) (<-chan outcome, string) {
		mountedAt := make(chan string, 1)
		done := make(chan outcome, 1)
		go func() {
			res, err := r.Mount(ctx, node.MountArgs{Dir: dir}, func(ev node.MountEvent) { mountedAt <- ev.Dir })
			done <- outcome{res, err}
		}()
		select {
		case got := <-mountedAt:
			return done, got
		case o := <-done:
			t.Fatalf("mount through the daemon: %+v", o)
		case <-time.After(20 * time.Second):
			t.Fatal("no mount event in 20s")
		}
		return nil, ""
	}

	dir := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(dir, 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	done, got := hold(ctx, dir)
	if got != dir {
		t.Errorf("mounted at %q, want %q", got, dir)
	}
	if b, err := os.ReadFile(filepath.Join(dir, c.String())); err != nil || string(b) != "served by the daemon\n" {
		t.Fatalf("read: %q, %v", b, err)
	}
	cancel()
	o := <-done
	if o.err != nil || o.res.Reason != node.MountEndedByClient {
		t.Fatalf("after cancel: %+v, want a clean end on request", o)
	}
	if mounted(dir) {
		t.Fatal("still mounted once Mount returned")
	}

	done, _ = hold(context.Background(), dir)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	o = <-done
	t.Logf("daemon stopped under a held mount: %+v", o)
	if mounted(dir) || o.err != nil || o.res.Reason != node.MountEndedByShutdown {
		t.Fatalf("daemon stopped: %+v, mounted %v", o, mounted(dir))
	}
}
