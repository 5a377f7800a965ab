package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --only-hash stores nothing and pins nothing, offline and through a
// daemon, for stdin and for a tree with hidden files and symlinks; the
// CIDs are those a real add then stores.
func TestOnlyHashStoresNothing(t *testing.T) {
	src := t.TempDir()
	randomTree(t, src, 11)
	os.WriteFile(filepath.Join(src, ".hidden"), []byte("h"), 0o644)
	os.Symlink("empty", filepath.Join(src, "link"))
	offline, online := t.TempDir(), t.TempDir()
	startInProcessDaemon(t, online)
	for _, repo := range []string{offline, online} {
		counts := func() string {
			var st struct{ Blocks, Bytes, Pins int64 }
			if err := json.Unmarshal([]byte(mustTrove(t, repo, nil, "--json", "repo", "stat")), &st); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("%+v", st)
		}
		before := counts()
		hashed := mustTrove(t, repo, nil, "add", "-n", "-r", "-H", src)
		stdin := mustTrove(t, repo, strings.NewReader("stdin only hashed"), "add", "-n", "-q", "-")
		if after := counts(); after != before {
			t.Errorf("add --only-hash changed the repo: %s -> %s", before, after)
		}
		if pins := mustTrove(t, repo, nil, "pin", "ls"); pins != "" {
			t.Errorf("add --only-hash pinned %q", pins)
		}
		if stored := mustTrove(t, repo, nil, "add", "-r", "-H", src); stored != hashed {
			t.Errorf("only-hash printed\n%s\nbut the stored add\n%s", hashed, stored)
		}
		if stored := mustTrove(t, repo, strings.NewReader("stdin only hashed"), "add", "-q", "-"); stored != stdin {
			t.Errorf("stdin: only-hash %q, stored %q", stdin, stored)
		}
		if !strings.Contains(hashed, ".hidden") || !strings.Contains(hashed, "link") {
			t.Errorf("-H -r left out the hidden file or the symlink:\n%s", hashed)
		}
	}
}
