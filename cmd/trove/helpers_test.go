package main

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/node"
)

// trove runs one command line in-process against repo and returns stdout,
// stderr and the exit code.
func trove(t *testing.T, repo string, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	return troveCtx(t, context.Background(), repo, stdin, args...)
}

func troveCtx(t *testing.T, ctx context.Context, repo string, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	code := run(ctx, append([]string{"--repo", repo}, args...), stdin, &out, &errb)
	return out.String(), errb.String(), code
}

// mustTrove is trove that fails the test on a non-zero exit.
func mustTrove(t *testing.T, repo string, stdin io.Reader, args ...string) string {
	t.Helper()
	out, errs, code := trove(t, repo, stdin, args...)
	if code != 0 {
		t.Fatalf("trove %v: exit %d\nstderr: %s", args, code, errs)
	}
	return out
}

// randomTree writes a tree of random files (sizes from empty to a few
// chunks, so multi-block files and empty files both occur) and returns the
// relative paths of its files and directories.
func randomTree(t *testing.T, dir string, seed uint64) (files, dirs []string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	sizes := []int{0, 1, 100, 4096, 262144 + 7, 1<<20 + 3, 2<<20 + 123}
	var mk func(rel string, depth int)
	mk = func(rel string, depth int) {
		if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
			t.Fatal(err)
		}
		if rel != "." {
			dirs = append(dirs, rel)
		}
		for i := range 1 + rng.IntN(4) {
			name := fmt.Sprintf("f%d-%x.bin", i, rng.Uint32())
			data := make([]byte, sizes[rng.IntN(len(sizes))])
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			p := filepath.Join(rel, name)
			if err := os.WriteFile(filepath.Join(dir, p), data, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, filepath.ToSlash(filepath.Clean(p)))
		}
		if depth < 2 {
			for i := range rng.IntN(3) {
				mk(filepath.Join(rel, fmt.Sprintf("d%d", i)), depth+1)
			}
		}
	}
	mk(".", 0)
	// An empty directory must survive the round trip too.
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	dirs = append(dirs, "empty")
	return files, dirs
}

// sameTree compares two local trees byte for byte, including empty
// directories.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	list := func(root string) map[string]string {
		m := map[string]string{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() {
				m[rel] = "dir"
				return nil
			}
			b, err := os.ReadFile(p)
			m[rel] = string(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	w, g := list(want), list(got)
	if len(w) != len(g) {
		t.Errorf("tree has %d entries, want %d", len(g), len(w))
	}
	for k, v := range w {
		if gv, ok := g[k]; !ok {
			t.Errorf("missing %s", k)
		} else if gv != v {
			t.Errorf("%s differs (%d bytes, want %d)", k, len(gv), len(v))
		}
	}
}

// startInProcessDaemon runs the daemon a `trove daemon` would, in this
// process, so CLI commands run with run() find it through <repo>/api.
func startInProcessDaemon(t *testing.T, repo string) *node.Daemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := node.StartDaemon(ctx, repo, node.DaemonOptions{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func listTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel)
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			b.WriteString(" " + strconv.Itoa(len(data)) + " " + strconv.Itoa(int(crc32.ChecksumIEEE(data))))
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

func mustParseCID(t *testing.T, s string) cid.Cid {
	t.Helper()
	c, err := node.ParseCID(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
