package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addTree adds src recursively to repo and returns the root CID and the
// CID of the file named file inside it.
func addTree(t *testing.T, repo, src, file string) (root, fileCID string) {
	t.Helper()
	out := mustTrove(t, repo, nil, "add", "-r", src)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == 3 && strings.HasSuffix(f[2], "/"+file) {
			fileCID = f[1]
		}
	}
	root = strings.Fields(lines[len(lines)-1])[1]
	if fileCID == "" {
		t.Fatalf("add printed no line for %s:\n%s", file, out)
	}
	return root, fileCID
}

// TestGetTrailingSlashIsDirectoryToWriteInto pins down what -o DIR/ means
// (docs/cli.md, get): a directory to write into, created when missing,
// the entry named as without -o; offline and through a daemon alike.
func TestGetTrailingSlashIsDirectoryToWriteInto(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	content := strings.Repeat("trailing slash\n", 30000) // several blocks
	if err := os.WriteFile(filepath.Join(src, "sub", "x.txt"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"offline", "daemon"} {
		t.Run(mode, func(t *testing.T) {
			repo := t.TempDir()
			if mode == "daemon" {
				startInProcessDaemon(t, repo)
			}
			root, file := addTree(t, repo, src, "x.txt")
			t.Chdir(t.TempDir())
			if err := os.Mkdir("existing", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile("afile", []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}

			// The README's own example: a tree into a new directory.
			mustTrove(t, repo, nil, "get", root, "-o", "restored/")
			sameTree(t, src, filepath.Join("restored", root))
			// A file into a new directory, named by its CID.
			mustTrove(t, repo, nil, "get", file, "-o", "files/")
			if b, err := os.ReadFile(filepath.Join("files", file)); err != nil || string(b) != content {
				t.Errorf("files/%s: %d bytes, %v; want the file", file, len(b), err)
			}
			// A path into an existing directory, named by its last component.
			mustTrove(t, repo, nil, "get", root+"/sub/x.txt", "-o", "existing/")
			if b, err := os.ReadFile(filepath.Join("existing", "x.txt")); err != nil || string(b) != content {
				t.Errorf("existing/x.txt: %d bytes, %v", len(b), err)
			}
			// Running it again finds the entry there: refused as ever.
			if _, errs, code := trove(t, repo, nil, "get", root, "-o", "restored/"); code != exitExists {
				t.Errorf("second get into restored/: exit %d, want %d; %s", code, exitExists, errs)
			}
			mustTrove(t, repo, nil, "get", root, "-o", "restored/", "--force")

			// Mistakes: nothing written, nothing created.
			if _, errs, code := trove(t, repo, nil, "get", root, "-o", "afile/"); code != exitError || !strings.Contains(errs, "not a directory") {
				t.Errorf("get -o afile/: exit %d, %q; want %d and 'not a directory'", code, errs, exitError)
			}
			if b, _ := os.ReadFile("afile"); string(b) != "keep me" {
				t.Errorf("afile changed to %q", b)
			}
			if _, errs, code := trove(t, repo, nil, "get", root, "-o", "no/such/"); code != exitNoFile {
				t.Errorf("get -o no/such/: exit %d, want %d; %s", code, exitNoFile, errs)
			}
			if _, err := os.Lstat("no"); err == nil {
				t.Error("get -o no/such/ created no/")
			}
			// A get that fails leaves no empty directory behind.
			if _, _, code := trove(t, repo, nil, "get", root+"/no-such-name", "-o", "fresh/"); code != exitNotFound {
				t.Errorf("get of a missing name: exit %d, want %d", code, exitNotFound)
			}
			if _, err := os.Lstat("fresh"); err == nil {
				t.Error("a failed get left fresh/ behind")
			}
		})
	}
}
