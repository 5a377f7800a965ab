//go:build crash

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trove-p2p/trove/internal/crashpoint"
	"github.com/trove-p2p/trove/node"
)

// crashCase is one run of a command with one crash point armed.
type crashCase struct {
	op    string // "add", "dag import", "gc", "pin rm", "get" (offline), "get daemon"
	point string
	nth   int
}

func (c crashCase) String() string { return fmt.Sprintf("%s/%s:%d", c.op, c.point, c.nth) }

// repoState is what a repo holds, compared between a repo that crashed
// and ran the command again and one that ran it once without a crash.
type repoState struct {
	Blocks, Bytes, Pins int64
	PinList             []string // "cid kind", sorted; partial pins' names hold times, so they are left out
}

// TestCrashPointsInjected is the injected half of the crash tier (tag
// crash; `-run TestCrashPoints` runs it with the time-based rounds). For
// each case the real binary runs a command with TROVE_CRASHPOINT set, so
// it SIGKILLs itself at that point (internal/crashpoint); the test
// requires death by SIGKILL, then checks that the repo opens, `repo
// verify` is clean (no recursive or direct pin has a hole: nothing
// half-done is pinned), what earlier commands reported done is intact,
// and that running the command again completes and leaves the repo
// exactly as one run without a crash does (same blocks, bytes and pins).
// For a get through a daemon, the re-run must receive exactly the bytes
// that were missing, and the seeder must have served exactly those.
func TestCrashPointsInjected(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "trove")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	work := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	must := func(repo string, args ...string) string {
		t.Helper()
		out, errs, code := troveBin(t, bin, repo, args...)
		if code != 0 {
			t.Fatalf("trove %v: exit %d: %s", args, code, errs)
		}
		return strings.TrimSpace(out)
	}

	// The setup every local case starts from: a file B reported added
	// (must survive everything), a file P (pin rm's target), and garbage
	// G in 4 KiB chunks, over 512 blocks, so gc deletes in two chunks.
	baseData, pData, xData := fileData(2<<20, 1), fileData(1<<20, 2), fileData(10<<20, 3)
	setup := filepath.Join(work, "setup")
	baseRoot := must(setup, "add", "-q", write("base", baseData))
	pRoot := must(setup, "add", "-q", write("p", pData))
	gRoot := must(setup, "add", "-q", "--chunker", "size-4096", write("g", fileData(3<<20, 4)))
	must(setup, "pin", "rm", gRoot)
	xFile := write("x", xData)
	carRepo := filepath.Join(work, "car-repo")
	carRoot := must(carRepo, "add", "-q", write("car-src", fileData(6<<20, 5)))
	carData, err := exec.Command(bin, "--repo", carRepo, "dag", "export", carRoot).Output()
	if err != nil {
		t.Fatal(err)
	}
	carFile := write("in.car", carData)

	state := func(repo string) repoState {
		t.Helper()
		var st node.RepoStat
		if err := json.Unmarshal([]byte(must(repo, "--json", "repo", "stat")), &st); err != nil {
			t.Fatal(err)
		}
		var pins []node.PinInfo
		if err := json.Unmarshal([]byte(must(repo, "--json", "pin", "ls")), &pins); err != nil {
			t.Fatal(err)
		}
		s := repoState{Blocks: st.Blocks, Bytes: st.Bytes, Pins: st.Pins}
		for _, p := range pins {
			s.PinList = append(s.PinList, p.Cid+" "+p.Type)
		}
		slices.Sort(s.PinList)
		return s
	}
	verifyClean := func(c crashCase, repo string) {
		t.Helper()
		out, errs, code := troveBin(t, bin, repo, "--json", "repo", "verify")
		var v node.RepoVerifyResult
		if jerr := json.Unmarshal([]byte(out), &v); jerr != nil || code != 0 {
			t.Fatalf("%s: repo verify after the crash: exit %d: %v\n%s\n%s", c, code, jerr, out, errs)
		}
	}
	copyRepo := func(dst string) {
		t.Helper()
		if out, err := exec.Command("cp", "-a", setup, dst).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	localArgs := func(op, dir string) []string {
		switch op {
		case "add":
			return []string{"add", "-q", xFile}
		case "dag import":
			return []string{"dag", "import", carFile}
		case "gc":
			return []string{"gc"}
		case "pin rm":
			return []string{"pin", "rm", pRoot}
		case "get":
			return []string{"get", baseRoot, "-o", filepath.Join(dir, "out")}
		}
		panic(op)
	}

	// What one run of each command without a crash leaves.
	ref := map[string]repoState{}
	var xRoot string
	for _, op := range []string{"add", "dag import", "gc", "pin rm", "get"} {
		r := filepath.Join(work, "ref-"+strings.ReplaceAll(op, " ", "-"))
		copyRepo(r)
		out := must(r, localArgs(op, t.TempDir())...)
		if op == "add" {
			xRoot = out
		}
		ref[op] = state(r)
	}

	local := []crashCase{
		{"add", crashpoint.BatchFlushed, 1},
		{"add", crashpoint.BatchFlushed, 2},
		{"add", crashpoint.AddCommitted, 1},
		{"add", crashpoint.PinWritten, 1},
		{"dag import", crashpoint.BatchFlushed, 1},
		{"dag import", crashpoint.ImportCommitted, 1},
		{"dag import", crashpoint.PinWritten, 1},
		{"gc", crashpoint.GCMarked, 1},
		{"gc", crashpoint.GCSwept, 1},
		{"gc", crashpoint.GCSwept, 2},
		{"pin rm", crashpoint.Unpinned, 1},
		{"get", crashpoint.GetBeforeRename, 1},
	}
	tried := map[string]bool{}
	var cases int
	for i, c := range local {
		repo := filepath.Join(work, fmt.Sprintf("case%d", i))
		copyRepo(repo)
		dir := t.TempDir()
		args := localArgs(c.op, dir)
		runArmed(t, bin, repo, c, args...)
		tried[c.point] = true
		cases++

		verifyClean(c, repo)
		for root, data := range map[string][]byte{baseRoot: baseData, pRoot: pData} {
			if got, _, code := troveBin(t, bin, repo, "cat", root); code != 0 || got != string(data) {
				t.Fatalf("%s: %s, added before the crash, differs (exit %d)", c, root, code)
			}
		}
		for _, p := range state(repo).PinList {
			if strings.HasSuffix(p, " partial") {
				t.Errorf("%s: a partial pin after a local command: %s", c, p)
			}
		}
		out := filepath.Join(dir, "out")
		if c.op == "get" {
			if _, err := os.Lstat(out); err == nil {
				t.Errorf("%s: the output exists under its final name before it was complete", c)
			}
		}

		_, errs, code := troveBin(t, bin, repo, args...)
		if code != 0 && !(c.op == "pin rm" && code == exitNotFound) {
			t.Fatalf("%s: trove %v again: exit %d: %s", c, args, code, errs)
		}
		if got := state(repo); !equalState(got, ref[c.op]) {
			t.Errorf("%s: after the crash and a re-run the repo holds %+v; one run without a crash leaves %+v", c, got, ref[c.op])
		}
		if c.op == "get" {
			if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, baseData) {
				t.Errorf("%s: re-run get wrote %d bytes (%v), want the %d added", c, len(got), err, len(baseData))
			}
		}
		if c.op == "add" {
			if got, _, code := troveBin(t, bin, repo, "cat", xRoot); code != 0 || got != string(xData) {
				t.Errorf("%s: the file added again differs (exit %d)", c, code)
			}
		}
		t.Logf("%s: killed, verify clean, re-run left the repo as one clean run does%s", c, leftTemps(t, dir))
	}

	// get through daemons: a seeder S holds F; each case gets F into a
	// fresh repo whose daemon dies at the point.
	fData := make([]byte, 16<<20)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range fData {
		fData[i] = byte(rng.Uint32())
	}
	seedRepo := filepath.Join(work, "seeder")
	fRoot := must(seedRepo, "add", "-q", write("f", fData))
	dag := state(seedRepo) // S holds F's DAG and nothing else
	seeder := startDaemonProc(t, bin, seedRepo)
	defer seeder.stop(t)
	served := func(p string) int64 {
		t.Helper()
		var st struct{ Transfers node.TransferStats }
		if err := json.Unmarshal([]byte(must(seedRepo, "stats", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return st.Transfers.Served[p]
	}
	remote := []crashCase{
		{"get daemon", crashpoint.PinWritten, 1}, // the partial pin, before any leaf
		{"get daemon", crashpoint.FetchStored, 1},
		{"get daemon", crashpoint.FetchStored, 3},
		{"get daemon", crashpoint.FetchStored, 6},
		{"get daemon", crashpoint.FetchComplete, 1},
		{"get daemon", crashpoint.PinWritten, 2}, // the recursive pin
		// The daemon writes a get's output for its own user (FetchTo),
		// so the output's rename happens in the daemon.
		{"get daemon", crashpoint.GetBeforeRename, 1},
	}
	for i, c := range remote {
		repo := filepath.Join(work, fmt.Sprintf("getter%d", i))
		out := filepath.Join(t.TempDir(), "out")
		var env []string
		if c.op == "get daemon" {
			env = []string{crashpoint.Env + "=" + fmt.Sprintf("%s:%d", c.point, c.nth)}
		}
		g := startDaemonProcEnv(t, bin, repo, env)
		args := []string{"--json", "get", fRoot, "--peer", seeder.listen[0], "-o", out}
		{
			cmd := exec.Command(bin, append([]string{"--repo", repo}, args...)...)
			cmd.Stdout, cmd.Stderr = new(bytes.Buffer), new(bytes.Buffer)
			cmd.Start()
			if err := waitBounded(cmd, time.Minute); err == nil {
				t.Fatalf("%s: get succeeded although its daemon was to die", c)
			}
			select {
			case err := <-g.exited:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || !killedBySignal(ee.ProcessState) {
					t.Fatalf("%s: daemon ended with %v, not SIGKILL: the point was not reached\n%s", c, err, g.stderr)
				}
			case <-time.After(time.Minute):
				t.Fatalf("%s: daemon still running after the get failed", c)
			}
		}
		tried[c.point] = true
		cases++

		// Offline now: the repo opens and nothing half-done is pinned.
		verifyClean(c, repo)
		after := state(repo)
		for _, p := range after.PinList {
			if p != fRoot+" partial" && p != fRoot+" recursive" {
				t.Errorf("%s: unexpected pin %s", c, p)
			}
		}
		if got, err := os.ReadFile(out); err == nil && !bytes.Equal(got, fData) {
			t.Errorf("%s: %d bytes under the output's final name, not the file", c, len(got))
		}

		g = startDaemonProc(t, bin, repo)
		before := served(g.peer)
		cmd, events, errb := runGet(t, bin, repo, nil, fRoot, "--peer", seeder.listen[0], "-o", out, "--force")
		if err := waitBounded(cmd, time.Minute); err != nil {
			t.Fatalf("%s: get again: %v\n%s", c, err, errb)
		}
		var fetched getEvent
		for _, ev := range <-events {
			if ev.Type == "fetched" {
				fetched = ev
			}
		}
		delta := served(g.peer) - before
		g.stop(t)
		missing := dag.Bytes - after.Bytes
		if fetched.Received != missing || delta != missing {
			t.Errorf("%s: re-run received %d bytes and the seeder served %d; %d of %d were missing", c, fetched.Received, delta, missing, dag.Bytes)
		}
		if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, fData) {
			t.Errorf("%s: re-run wrote %d bytes (%v), want the file's %d", c, len(got), err, len(fData))
		}
		if got := state(repo); !equalState(got, dag) {
			t.Errorf("%s: after the crash and a re-run the getter holds %+v, want the DAG alone %+v", c, got, dag)
		}
		t.Logf("%s: killed with %d of %d bytes stored (pins %v); re-run received %d, seeder served %d%s", c, after.Bytes, dag.Bytes, after.PinList, fetched.Received, delta, leftTemps(t, filepath.Dir(out)))
	}
	t.Logf("%d crash points tried (%d named points of %d, at several nth hits), each killed by SIGKILL there; failed: %v",
		cases, len(tried), len(crashpoint.Names()), t.Failed())
	if len(tried) != len(crashpoint.Names()) {
		t.Errorf("points never armed: %v", slices.DeleteFunc(crashpoint.Names(), func(n string) bool { return tried[n] }))
	}
}

// leftTemps names the temporary files a killed get left in dir: get
// writes each file under a temporary name and renames it when complete,
// and a process killed in between cannot remove it (docs/reliability.md).
func leftTemps(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".trove-*.tmp"))
	if err != nil || len(m) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d temporary file(s) left in the output directory)", len(m))
}

// runArmed runs the binary with c's point armed and requires that it
// died there, by SIGKILL.
func runArmed(t *testing.T, bin, repo string, c crashCase, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--repo", repo}, args...)...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d", crashpoint.Env, c.point, c.nth))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hung := time.AfterFunc(time.Minute, func() { cmd.Process.Signal(syscall.SIGQUIT) })
	cmd.Wait()
	hung.Stop()
	if !killedBySignal(cmd.ProcessState) {
		t.Fatalf("%s: trove %v ended with %v, not SIGKILL: the point was not reached\n%s", c, args, cmd.ProcessState, errb.String())
	}
}

func killedBySignal(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func equalState(a, b repoState) bool {
	return a.Blocks == b.Blocks && a.Bytes == b.Bytes && a.Pins == b.Pins && slices.Equal(a.PinList, b.PinList)
}
