package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-p2p/trove/node"
)

func repoStatJSON(t *testing.T, repo string) node.RepoStat {
	t.Helper()
	var st node.RepoStat
	if err := json.Unmarshal([]byte(mustTrove(t, repo, nil, "repo", "stat", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestAddNoCopyCLI runs add --nocopy offline, then breaks the file and
// checks what cat and repo verify say.
func TestAddNoCopyCLI(t *testing.T) {
	repo := t.TempDir()
	mustTrove(t, repo, nil, "init")
	src := t.TempDir()
	writeRandomFiles(t, src, map[string]int{"big.bin": 3<<20 + 17})
	file := filepath.Join(src, "big.bin")
	data, _ := os.ReadFile(file)

	root := strings.TrimSpace(mustTrove(t, repo, nil, "add", "-q", "--nocopy", file))
	if got := mustTrove(t, repo, nil, "cat", root); got != string(data) {
		t.Fatal("cat differs from the file")
	}
	if st := repoStatJSON(t, repo); st.Refs != 4 || st.RefBytes != int64(len(data)) || st.Bytes > 4096 {
		t.Fatalf("repo stat after add --nocopy: %+v", st)
	}
	if out := mustTrove(t, repo, nil, "repo", "stat"); !strings.Contains(out, "Refs:      4") {
		t.Errorf("repo stat does not show the references:\n%s", out)
	}

	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(file, later, later); err != nil {
		t.Fatal(err)
	}
	out, errs, code := trove(t, repo, nil, "cat", root)
	if code != exitNotFound || len(out) != 0 {
		t.Fatalf("cat of a touched file: exit %d, %d bytes out, %q", code, len(out), errs)
	}
	out, _, code = trove(t, repo, nil, "repo", "verify")
	if code != exitNotFound || !strings.Contains(out, "stale reference") {
		t.Fatalf("repo verify: exit %d\n%s", code, out)
	}
	out, _, code = trove(t, repo, nil, "repo", "verify", "--repair")
	if code != exitNotFound || !strings.Contains(out, "dropped 4 stale references") {
		t.Fatalf("repo verify --repair: exit %d (want %d: the pin lacks blocks)\n%s", code, exitNotFound, out)
	}
	if st := repoStatJSON(t, repo); st.Refs != 0 {
		t.Fatalf("after repair: %+v", st)
	}
}

func TestAddNoCopyUsage(t *testing.T) {
	repo := t.TempDir()
	mustTrove(t, repo, nil, "init")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"add", "--nocopy", "-r", dir},
		{"add", "--nocopy", dir},
		{"add", "--nocopy", "-"},
		{"add", "--nocopy", filepath.Join(dir, "a"), filepath.Join(dir, "b")},
	} {
		if _, errs, code := trove(t, repo, nil, args...); code != exitUsage {
			t.Errorf("trove %v: exit %d, %q; want %d", args, code, errs, exitUsage)
		}
	}
	file := filepath.Join(dir, "f")
	os.WriteFile(file, []byte("x"), 0o644)
	if _, errs, code := trove(t, repo, nil, "add", "--nocopy", "--profile", "unixfs-v0-2015", file); code == 0 || !strings.Contains(errs, "raw leaves") {
		t.Errorf("add --nocopy with dag-pb leaves: exit %d, %q", code, errs)
	}
}

// TestNoCopyThroughDaemons: add --nocopy through a seeding daemon, then
// get --nocopy through another daemon that downloads it from the first.
func TestNoCopyThroughDaemons(t *testing.T) {
	seedRepo := t.TempDir()
	seed := startInProcessDaemon(t, seedRepo)
	src := t.TempDir()
	writeRandomFiles(t, src, map[string]int{"big.bin": 5<<20 + 3})
	file := filepath.Join(src, "big.bin")
	data, _ := os.ReadFile(file)
	root := strings.TrimSpace(mustTrove(t, seedRepo, nil, "add", "-q", "--nocopy", file))
	if st := repoStatJSON(t, seedRepo); st.Refs != 6 || st.Bytes > 4096 {
		t.Fatalf("seeder after add --nocopy: %+v", st)
	}
	seedAddr := seed.P2P().Addrs()[0].String() + "/p2p/" + seed.P2P().ID().String()

	repo := t.TempDir()
	startInProcessDaemon(t, repo)
	out := filepath.Join(t.TempDir(), "out.bin")
	mustTrove(t, repo, nil, "get", "--nocopy", root, "--peer", seedAddr, "-o", out)
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get --nocopy wrote other bytes (%v)", err)
	}
	st := repoStatJSON(t, repo)
	if st.Refs != 6 || st.RefBytes != int64(len(data)) || st.Bytes > 4096 {
		t.Fatalf("after get --nocopy: %+v", st)
	}
	if got := mustTrove(t, repo, nil, "cat", root); got != string(data) {
		t.Fatal("cat through the references differs")
	}
	// gc gives the copies' space back and keeps the pinned references.
	mustTrove(t, repo, nil, "gc")
	if st := repoStatJSON(t, repo); st.Refs != 6 {
		t.Fatalf("after gc: %+v", st)
	}
}
