package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A --repo that names a file, or a directory with other things in it and
// no trove config, is refused before anything is written there; init may
// still make a repo in such a directory on purpose.
func TestRepoFlagOnForeignPath(t *testing.T) {
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "thesis.tex"), []byte("mine"), 0o644)
	file := filepath.Join(foreign, "thesis.tex")
	for _, repo := range []string{foreign, file} {
		for _, args := range [][]string{{"repo", "stat"}, {"add", "-q", "-"}, {"daemon", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"}, {"config", "show"}, {"id"}} {
			out, errs, code := trove(t, repo, strings.NewReader("x"), args...)
			if code == exitOK || out != "" || !strings.Contains(errs, "not a trove repo") {
				t.Errorf("--repo %s %v: exit %d, stdout %q, stderr %q", repo, args, code, out, errs)
			}
		}
	}
	if ents, _ := os.ReadDir(foreign); len(ents) != 1 {
		t.Errorf("refused commands wrote into %s: %v", foreign, ents)
	}
	mustTrove(t, foreign, nil, "init")
	mustTrove(t, foreign, strings.NewReader("x"), "add", "-q", "-")
	// A new path and an empty directory are still created on first use.
	mustTrove(t, filepath.Join(t.TempDir(), "new"), nil, "repo", "stat")
	mustTrove(t, t.TempDir(), nil, "repo", "stat")
}

// TestConfigCreatesRepoOnFirstUse: --repo "is created on first use", but
// config set and show refused a new path with "repo not initialized".
func TestConfigCreatesRepoOnFirstUse(t *testing.T) {
	r := filepath.Join(t.TempDir(), "new")
	mustTrove(t, r, nil, "config", "set", "Transfer.MaxUpload", "1MB/s")
	if out := mustTrove(t, r, nil, "config", "show"); !strings.Contains(out, `"MaxUpload": "1MB/s"`) {
		t.Errorf("config show after set on a new repo:\n%s", out)
	}
	if out := mustTrove(t, filepath.Join(t.TempDir(), "new2"), nil, "config", "show"); !strings.Contains(out, `"PeerID"`) {
		t.Errorf("config show on a new repo:\n%s", out)
	}
}
