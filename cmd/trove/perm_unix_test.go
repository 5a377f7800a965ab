//go:build unix

package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPermissionDenied: a file the user may not read fails add with the
// permission exit code. Root ignores file modes, and CI runs as root, so
// there the test runs itself again as nobody.
func TestPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 && os.Getenv("TROVE_TEST_AS_NOBODY") != "1" {
		rerunAsNobody(t, "TestPermissionDenied")
		return
	}
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := trove(t, t.TempDir(), nil, "add", f); code != exitPermission {
		t.Errorf("exit %d, want %d; stderr %s", code, exitPermission, errs)
	}
}

// rerunAsNobody runs the named test of this test binary as uid/gid 65534,
// from a copy nobody may execute and with a temp dir nobody may write.
func rerunAsNobody(t *testing.T, name string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "trove-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	// Modes are set after creation so the umask cannot narrow them.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "trove.test")
	if err := copyExecutable(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "TROVE_TEST_AS_NOBODY=1", "TMPDIR="+tmp, "HOME="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("%s as nobody: %v\n%s", name, err, out)
	}
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
