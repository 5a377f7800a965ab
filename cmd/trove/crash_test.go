//go:build crash

package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trove-p2p/trove/node"
)

// TestCrashPoints is the crash tier (go test -tags crash -run
// TestCrashPoints ./cmd/trove/; TROVE_CRASH_ROUNDS sets the number of
// rounds, default 30; TROVE_CRASH_SEED picks the sequence). Each round starts add, dag import, gc or pin rm as a
// real process on one repo and SIGKILLs it after a random delay, then
// checks that the repo opens, `repo verify` is clean (so no pin claims a
// DAG with holes), every file an earlier command reported added is intact,
// and that running the killed command again completes.
func TestCrashPoints(t *testing.T) {
	rounds := 30
	if v, err := strconv.Atoi(os.Getenv("TROVE_CRASH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	bin := filepath.Join(t.TempDir(), "trove")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	repo := filepath.Join(t.TempDir(), "repo")
	work := t.TempDir()
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, append([]string{"--repo", repo}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	must := func(args ...string) string {
		t.Helper()
		out, errs, code := run(args...)
		if code != 0 {
			t.Fatalf("trove %v: exit %d: %s", args, code, errs)
		}
		return out
	}
	// A CAR to import, made in a repo of its own.
	carRepo := filepath.Join(t.TempDir(), "car-repo")
	carSrc := filepath.Join(work, "car-src")
	os.WriteFile(carSrc, fileData(6<<20, 999), 0o644)
	out, err := exec.Command(bin, "--repo", carRepo, "add", "-q", carSrc).Output()
	if err != nil {
		t.Fatal(err)
	}
	carRoot := strings.TrimSpace(string(out))
	carData, err := exec.Command(bin, "--repo", carRepo, "dag", "export", carRoot).Output()
	if err != nil {
		t.Fatal(err)
	}
	carFile := filepath.Join(work, "in.car")
	os.WriteFile(carFile, carData, 0o644)

	type added struct {
		root string
		data []byte
	}
	var done []added
	seed := uint64(7)
	if v, err := strconv.ParseUint(os.Getenv("TROVE_CRASH_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	ops := []string{"add", "dag import", "gc", "pin rm"}
	killed := map[string]int{}
	for round := range rounds {
		op := ops[rng.IntN(len(ops))]
		var args []string
		var data []byte
		switch op {
		case "add":
			data = fileData(4<<20+rng.IntN(4<<20), uint64(round))
			p := filepath.Join(work, fmt.Sprintf("f%d", round))
			os.WriteFile(p, data, 0o644)
			args = []string{"add", "-q", p}
		case "dag import":
			args = []string{"dag", "import", carFile}
		case "gc":
			args = []string{"gc"}
		case "pin rm":
			if len(done) == 0 {
				continue
			}
			args = []string{"pin", "rm", done[rng.IntN(len(done))].root}
		}
		cmd := exec.Command(bin, append([]string{"--repo", repo}, args...)...)
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		werr := cmd.Wait()
		if werr != nil {
			killed[op]++
		} else if op == "add" {
			// It finished before the kill: it reported the file added.
			done = append(done, added{strings.TrimSpace(stdout.String()), data})
		}

		// The repo opens and is consistent.
		vout, verrs, code := run("--json", "repo", "verify")
		var v node.RepoVerifyResult
		if jerr := json.Unmarshal([]byte(vout), &v); jerr != nil || code != 0 {
			t.Fatalf("round %d (%s killed): repo verify exit %d: %v\n%s\n%s", round, op, code, jerr, vout, verrs)
		}
		for _, a := range done {
			if got := must("cat", a.root); got != string(a.data) {
				t.Fatalf("round %d (%s killed): reported-added %s differs", round, op, a.root)
			}
		}
		// Running it again completes (a pin rm killed after its write
		// finds the pin gone: exit 4, which is its answer for that).
		out, errs, code := run(args...)
		if code != 0 && !(op == "pin rm" && code == exitNotFound) {
			t.Fatalf("round %d: trove %v again: exit %d: %s", round, args, code, errs)
		}
		if op == "add" && werr != nil {
			done = append(done, added{strings.TrimSpace(out), data})
		}
		if op == "pin rm" {
			must("pin", "add", args[2]) // keep it checked in later rounds
		}
	}
	n := 0
	for _, k := range killed {
		n += k
	}
	t.Logf("%d rounds, %d processes killed mid-command: %v", rounds, n, killed)
}

// fileData is n bytes unique to seed, cheap to make.
func fileData(n int, seed uint64) []byte {
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], uint64(i)*0x9e3779b97f4a7c15^seed)
	}
	return b[:n]
}
