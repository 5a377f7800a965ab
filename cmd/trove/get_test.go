package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	carv1 "github.com/trove-p2p/trove/car"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// memBlocks is a block.Getter over a map, to export a hand-built DAG.
type memBlocks map[cid.Cid][]byte

func (m memBlocks) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	if b, ok := m[c]; ok {
		return b, nil
	}
	return nil, block.NotFound(c)
}

// A DAG whose names try to leave the output directory is refused by get,
// offline and through a daemon, and nothing lands outside -o.
func TestGetHostileNames(t *testing.T) {
	for _, name := range []string{"../escape", "a/b", "..", "/abs"} {
		m := memBlocks{}
		put := func(codec uint64, data []byte) cid.Cid {
			c, err := block.Sum(1, codec, block.HashSHA256, data)
			if err != nil {
				t.Fatal(err)
			}
			m[c] = data
			return c
		}
		good, evil := put(block.CodecRaw, []byte("good")), put(block.CodecRaw, []byte("evil"))
		dir := (&pb.Node{
			Links: []pb.Link{
				{Cid: evil, Name: name, HasName: true, Tsize: 4, HasTsize: true},
				{Cid: good, Name: "ok", HasName: true, Tsize: 4, HasTsize: true},
			},
			Data: (&pb.FSNode{Type: pb.TDirectory}).Marshal(), HasData: true,
		}).Marshal()
		root := put(block.CodecDagPB, dir)
		var car bytes.Buffer
		if err := carv1.Export(context.Background(), m, root, &car); err != nil {
			t.Fatal(err)
		}
		offline, online := t.TempDir(), t.TempDir()
		startInProcessDaemon(t, online)
		for _, repo := range []string{offline, online} {
			mustTrove(t, repo, bytes.NewReader(car.Bytes()), "dag", "import", "-")
			base := t.TempDir()
			t.Chdir(filepath.Join(base))
			if err := os.Mkdir("work", 0o755); err != nil {
				t.Fatal(err)
			}
			t.Chdir(filepath.Join(base, "work"))
			_, errs, code := trove(t, repo, nil, "get", root.String(), "-o", "out")
			if code == exitOK || !strings.Contains(errs, "bad path") {
				t.Errorf("%q: get exit %d, stderr %q; want a refusal naming the bad path", name, code, errs)
			}
			filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if b, _ := os.ReadFile(p); string(b) == "evil" {
						t.Errorf("%q: hostile entry written at %s", name, p)
					}
				}
				return nil
			})
		}
	}
}

// get -o - is refused rather than creating a file named "-".
func TestGetDashOutput(t *testing.T) {
	repo := t.TempDir()
	c := strings.TrimSpace(mustTrove(t, repo, strings.NewReader("x"), "add", "-q", "-"))
	t.Chdir(t.TempDir())
	out, errs, code := trove(t, repo, nil, "get", c, "-o", "-")
	if code != exitUsage || out != "" || !strings.Contains(errs, "trove cat") {
		t.Errorf("get -o -: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, err := os.Lstat("-"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("get -o - created %q: %v", "-", err)
	}
	mustTrove(t, repo, nil, "get", c, "-o", "./-")
	if b, err := os.ReadFile("-"); err != nil || string(b) != "x" {
		t.Errorf("get -o ./-: %q, %v", b, err)
	}
}

// get --force never replaces a directory with a file or a file with a
// directory, keeps what was there, and does not tell the user to add the
// --force they already gave.
func TestGetForceKindMismatch(t *testing.T) {
	repo := t.TempDir()
	dir := strings.TrimSpace(mustTrove(t, repo, strings.NewReader("x"), "add", "-q", "-w", "-"))
	file := strings.TrimSpace(mustTrove(t, repo, strings.NewReader("x"), "add", "-q", "-"))
	t.Chdir(t.TempDir())
	os.MkdirAll("adir/inner", 0o755)
	os.WriteFile("adir/inner/keep", []byte("keep"), 0o644)
	os.WriteFile("afile", []byte("keep"), 0o644)
	for _, tc := range []struct{ cid, out, check string }{
		{file, "adir", "adir/inner/keep"},
		{dir, "afile", "afile"},
	} {
		for _, force := range []bool{false, true} {
			args := []string{"get", tc.cid, "-o", tc.out}
			if force {
				args = append(args, "--force")
			}
			_, errs, code := trove(t, repo, nil, args...)
			if code != exitExists {
				t.Errorf("%v: exit %d, %q", args, code, errs)
			}
			if force == strings.Contains(errs, "use --force") {
				t.Errorf("%v: stderr %q", args, errs)
			}
			if b, err := os.ReadFile(tc.check); err != nil || string(b) != "keep" {
				t.Errorf("%v: %s now %q, %v", args, tc.check, b, err)
			}
		}
	}
}

// TestInterruptedGetCopyNamesForce: Ctrl-C while get writes a tree leaves
// what was written, so a plain rerun is exit 8; the message must say to
// rerun with --force, not that running it again resumes.
func TestInterruptedGetCopyNamesForce(t *testing.T) {
	r := filepath.Join(t.TempDir(), "repo")
	dir := filepath.Join(t.TempDir(), "many")
	os.MkdirAll(dir, 0o755)
	for i := range 300 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), bytes.Repeat([]byte{byte(i)}, 64<<10), 0o644)
	}
	root := strings.TrimSpace(mustTrove(t, r, nil, "add", "-qr", dir))
	for attempt := 0; ; attempt++ {
		out := filepath.Join(t.TempDir(), "out")
		ctx, cancel := context.WithCancel(context.Background())
		go func() { // cancel once the copy has begun
			for ctx.Err() == nil {
				if _, err := os.Stat(filepath.Join(out, "f000")); err == nil {
					cancel()
					return
				}
				time.Sleep(100 * time.Microsecond)
			}
		}()
		_, errs, code := troveCtx(t, ctx, r, nil, "get", root, "-o", out)
		cancel()
		if code == exitOK && attempt < 5 {
			continue // the copy won the race; try again
		}
		if code != exitInterrupted || !strings.Contains(errs, "--force") || strings.Contains(errs, "running it again resumes") {
			t.Fatalf("get interrupted mid-copy: exit %d, %q", code, errs)
		}
		if _, _, code := trove(t, r, nil, "get", root, "-o", out); code != exitExists {
			t.Errorf("plain rerun: exit %d, want %d", code, exitExists)
		}
		mustTrove(t, r, nil, "get", "--force", root, "-o", out)
		sameTree(t, dir, out)
		return
	}
}

// TestGetExistingOutputBeforeFetch: get onto an existing path without
// --force is refused before the daemon downloads anything; it used to
// fetch (and pin) a whole 200 MiB file and only then exit 8.
func TestGetExistingOutputBeforeFetch(t *testing.T) {
	r := filepath.Join(t.TempDir(), "repo")
	mustTrove(t, r, nil, "init")
	startInProcessDaemon(t, r)
	out := filepath.Join(t.TempDir(), "exists")
	os.WriteFile(out, []byte("mine"), 0o644)
	// Nobody has this CID: reaching the fetch would be exit 4.
	missing := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	_, errs, code := trove(t, r, nil, "get", missing, "-o", out)
	if code != exitExists || !strings.Contains(errs, "--force") {
		t.Errorf("get onto an existing file: exit %d, %q", code, errs)
	}
	if b, _ := os.ReadFile(out); string(b) != "mine" {
		t.Errorf("existing file changed: %q", b)
	}
	// So is a missing parent directory (exit 5) or a parent that is a
	// file (exit 1).
	if _, errs, code := trove(t, r, nil, "get", missing, "-o", filepath.Join(t.TempDir(), "no", "x")); code != exitNoFile {
		t.Errorf("get under a missing directory: exit %d, %q", code, errs)
	}
	if _, errs, code := trove(t, r, nil, "get", missing, "-o", filepath.Join(out, "x")); code != exitError || !strings.Contains(errs, "not a directory") {
		t.Errorf("get under a file: exit %d, %q", code, errs)
	}
	if pins := mustTrove(t, r, nil, "pin", "ls"); pins != "" {
		t.Errorf("a refused get left pins: %q", pins)
	}
}

// TestGetNamesUnreachablePeer: get --peer with that peer down said only
// "no peer could deliver it"; like cat and ls it now says which named
// peer could not be reached.
func TestGetNamesUnreachablePeer(t *testing.T) {
	r := filepath.Join(t.TempDir(), "repo")
	mustTrove(t, r, nil, "init")
	startInProcessDaemon(t, r)
	down := "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWLEeQdAgnRQq5G2ioJkikvRzTbsPVQtJbnnd2M95sVLLT"
	_, errs, code := trove(t, r, nil, "get", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "--peer", down, "-o", filepath.Join(t.TempDir(), "x"))
	if code != exitNotFound || !strings.Contains(errs, "could not reach "+down) || strings.Count(errs, "Error:") != 1 {
		t.Errorf("get from a down --peer: exit %d, %q", code, errs)
	}
}
