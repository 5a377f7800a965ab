//go:build soak

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/node/api"
)

// Resource bounds the soak holds every daemon to at the end of the run,
// relative to the same daemon slot's figures after warm-up. They are set
// from measured runs (docs/reliability.md, "Soak") with room for what is
// legitimately still open at the end: libp2p keeps a few goroutines per
// connection and per DHT query, Badger's caches and Go's heap grow with
// the data seen before the runtime returns memory lazily. A leak of one
// goroutine or fd per operation exceeds them within the default run
// (hundreds of operations), which is what they are there to catch.
const (
	soakGoroutineSlack = 50
	soakFDSlack        = 32
	soakRSSSlack       = 100 << 20
	// soakVlogSlack is how many value-log files a node may hold beyond one
	// per restart: Badger also rotates to a new file when one fills, and gc
	// rewrites live blocks into a fresh one.
	soakVlogSlack = 4
)

// soakItem is something added on one node: a file or a tree kept in the
// source dir, and the root CID add reported for it.
type soakItem struct {
	cid   string
	src   string
	dir   bool
	files []string // relative paths of the files in a tree, for cat
}

// soakNode is one daemon slot: its repo, the running process, and what
// the test knows must be pinned there.
type soakNode struct {
	name string
	repo string
	d    *daemonProc
	// pinned are the items recursively pinned on this node.
	pinned map[string]*soakItem
	// unpinned were unpinned with no gc since, so their blocks are still
	// in the repo and `pin add` must succeed.
	unpinned map[string]*soakItem
	base     soakFigures
}

// soakFigures is one measurement of a daemon process.
type soakFigures struct {
	goroutines int
	fds        int
	rss        int64 // bytes
	vlogs      int   // of fds: Badger value-log files, repo state (see TestSoak)
	fdKinds    string
}

func (f soakFigures) String() string {
	return fmt.Sprintf("goroutines %d, fds %d (%d value-log files), RSS %.1f MiB", f.goroutines, f.fds, f.vlogs, float64(f.rss)/(1<<20))
}

// TestSoak is the soak tier (go test -tags soak -run TestSoak -timeout
// 30m ./cmd/trove/). Three real daemon processes on temp repos do random
// adds, gets from each other, cats, pins, unpins and gcs for TROVE_SOAK
// (default 2m), from a seeded RNG (TROVE_SOAK_SEED), with daemons B and C
// killed with SIGKILL now and then (sometimes in the middle of a get or
// an add, as the getter or as the provider) and restarted on the same
// repo. A is never killed: it serves peers that die under it for the whole
// run, so it is the process a leak of goroutines, fds or memory shows in.
// At the end every node's `repo verify` is clean, its pins are exactly the
// ones the test made, each pinned DAG read back offline is byte-identical
// to its source, and each daemon's goroutines, open fds and RSS are within
// the bounds above of their values after warm-up.
func TestSoak(t *testing.T) {
	dur := 2 * time.Minute
	if v := os.Getenv("TROVE_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("TROVE_SOAK=%q: want a duration such as 10m", v)
		}
		dur = d
	}
	seed := uint64(1)
	if v, err := strconv.ParseUint(os.Getenv("TROVE_SOAK_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	bin := filepath.Join(t.TempDir(), "trove")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	base := t.TempDir()
	srcDir := filepath.Join(base, "src")
	outDir := filepath.Join(base, "out")
	for _, d := range []string{srcDir, outDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	nodes := make([]*soakNode, 3)
	for i, name := range []string{"A", "B", "C"} {
		nodes[i] = &soakNode{name: name, repo: filepath.Join(base, name),
			pinned: map[string]*soakItem{}, unpinned: map[string]*soakItem{}}
	}
	start := func(n *soakNode) {
		t.Helper()
		extra := []string{"--no-gateway"}
		for _, o := range nodes {
			if o != n && o.d != nil && o.d.cmd.ProcessState == nil {
				extra = append(extra, "--bootstrap", o.d.listen[0])
			}
		}
		n.d = startDaemonProc(t, bin, n.repo, extra...)
	}
	for _, n := range nodes {
		start(n)
	}

	// cli runs one command against n's repo (so through its daemon) and
	// kills it if it has not finished within two minutes: a hung command is
	// a failure, reported with what the daemons logged.
	cli := func(n *soakNode, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--repo", n.repo}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		err := waitBounded(cmd, 2*time.Minute)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
			if !ee.Exited() {
				soakDump(t, nodes)
				t.Fatalf("%s: trove %v hung for 2 minutes\nstderr: %s", n.name, args, errb.String())
			}
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	must := func(n *soakNode, args ...string) string {
		t.Helper()
		out, errs, code := cli(n, args...)
		if code != 0 {
			soakDump(t, nodes)
			t.Fatalf("%s: trove %v: exit %d\nstderr: %s", n.name, args, code, errs)
		}
		return out
	}

	ops := map[string]int{}
	kills := map[string]int{}
	killed := map[string]int{} // by node
	var items []*soakItem
	seq := 0
	newOut := func() string {
		seq++
		return filepath.Join(outDir, fmt.Sprintf("o%d", seq))
	}
	// holders are the live nodes that have it pinned, other than except.
	holders := func(it *soakItem, except *soakNode) []*soakNode {
		var hs []*soakNode
		for _, n := range nodes {
			if n != except && n.pinned[it.cid] != nil {
				hs = append(hs, n)
			}
		}
		return hs
	}
	// fetchable are items some node other than n has pinned.
	fetchable := func(n *soakNode) []*soakItem {
		var its []*soakItem
		for _, it := range items {
			if len(holders(it, n)) > 0 {
				its = append(its, it)
			}
		}
		return its
	}
	addArgs := func(it *soakItem) []string {
		if it.dir {
			return []string{"add", "-r", "-q", "--progress=false", it.src}
		}
		return []string{"add", "-q", "--progress=false", it.src}
	}
	newItem := func() *soakItem {
		seq++
		it := &soakItem{src: filepath.Join(srcDir, fmt.Sprintf("s%d", seq))}
		if rng.IntN(3) == 0 {
			it.dir = true
			it.files = soakTree(t, rng, it.src)
		} else {
			soakWrite(t, rng, it.src, soakSize(rng))
		}
		return it
	}
	added := func(n *soakNode, it *soakItem, out string) {
		t.Helper()
		root := strings.TrimSpace(out)
		if it.cid != "" && root != it.cid {
			t.Fatalf("%s: re-adding %s gave %s, first %s", n.name, it.src, root, it.cid)
		}
		if root == "" || strings.Contains(root, "\n") {
			t.Fatalf("%s: add %s printed %q", n.name, it.src, out)
		}
		if it.cid == "" {
			it.cid = root
			items = append(items, it)
		}
		n.pinned[it.cid] = it
		delete(n.unpinned, it.cid)
	}
	// getFrom fetches it onto n naming the holder's current address, and
	// checks that what it wrote is the source.
	getArgs := func(it *soakItem, from *soakNode, out string) []string {
		return []string{"get", it.cid, "-o", out, "--force", "--progress=false", "--peer", from.d.listen[0]}
	}
	checkOut := func(n *soakNode, it *soakItem, out string) {
		t.Helper()
		if it.dir {
			sameTree(t, it.src, out)
		} else {
			soakSameFile(t, it.src, out)
		}
		if t.Failed() {
			t.Fatalf("%s: get %s wrote something other than %s", n.name, it.cid, it.src)
		}
		os.RemoveAll(out)
	}
	gotten := func(n *soakNode, it *soakItem) {
		n.pinned[it.cid] = it
		delete(n.unpinned, it.cid)
	}
	// kill SIGKILLs n's daemon, after running op (a started command) for a
	// random moment if there is one, and starts it again on the same repo.
	kill := func(n *soakNode, what string, op *exec.Cmd) error {
		t.Helper()
		var opErr error
		if op != nil {
			done := make(chan error, 1)
			go func() { done <- op.Wait() }()
			finished := false
			select {
			case opErr = <-done:
				finished = true
			case <-time.After(time.Duration(rng.IntN(600)) * time.Millisecond):
			}
			n.d.cmd.Process.Kill()
			<-n.d.exited
			if !finished {
				select {
				case opErr = <-done:
				case <-time.After(2 * time.Minute):
					op.Process.Kill()
					t.Fatalf("%s: %s did not end within 2 minutes of the daemon's death", n.name, what)
				}
			}
		} else {
			n.d.cmd.Process.Kill()
			<-n.d.exited
		}
		kills[what]++
		killed[n.name]++
		start(n)
		return opErr
	}

	measure := func(n *soakNode) soakFigures {
		t.Helper()
		f, err := soakMeasure(n.repo, n.d.cmd.Process.Pid)
		if err != nil {
			t.Fatalf("%s: measure: %v", n.name, err)
		}
		return f
	}

	began := time.Now()
	warmUp := min(dur/4, 30*time.Second)
	warm := false
	// A kill every 5-15 s: often enough that a 2-minute run restarts
	// daemons several times, mid-transfer included, and rarely enough that
	// most operations run between healthy daemons.
	const killEvery = 10 * time.Second
	var nextKill time.Time
	for time.Since(began) < dur {
		if !warm && time.Since(began) >= warmUp {
			// The baseline: every daemon has added, served, fetched and
			// collected by now; the kills start only after it.
			warm = true
			nextKill = time.Now().Add(killEvery / 2)
			time.Sleep(2 * time.Second)
			for _, n := range nodes {
				n.base = measure(n)
				t.Logf("%s after warm-up (%d ops): %v", n.name, soakSum(ops), n.base)
			}
		}
		n := nodes[rng.IntN(len(nodes))]
		r := rng.IntN(90)
		if warm && time.Now().After(nextKill) {
			r = 90
			nextKill = time.Now().Add(killEvery/2 + time.Duration(rng.Int64N(int64(killEvery))))
		}
		switch {
		case r < 20 || len(items) < 3:
			it := newItem()
			added(n, it, must(n, addArgs(it)...))
			ops["add"]++
		case r < 45:
			its := fetchable(n)
			if len(its) == 0 {
				continue
			}
			it := its[rng.IntN(len(its))]
			hs := holders(it, n)
			out := newOut()
			must(n, getArgs(it, hs[rng.IntN(len(hs))], out)...)
			checkOut(n, it, out)
			gotten(n, it)
			ops["get"]++
		case r < 60:
			// cat from anyone: a file item, or a file inside a tree by
			// path; from a holder when n has it not.
			if len(items) == 0 {
				continue
			}
			it := items[rng.IntN(len(items))]
			hs := holders(it, nil)
			if len(hs) == 0 {
				continue
			}
			path, src := it.cid, it.src
			if it.dir {
				if len(it.files) == 0 {
					continue
				}
				rel := it.files[rng.IntN(len(it.files))]
				path, src = it.cid+"/"+rel, filepath.Join(it.src, rel)
			}
			args := []string{"cat", path}
			if !slices.Contains(hs, n) {
				args = append(args, "--peer", hs[rng.IntN(len(hs))].d.listen[0])
			}
			want, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if got := must(n, args...); sha256.Sum256([]byte(got)) != sha256.Sum256(want) {
				t.Fatalf("%s: cat %s: %d bytes that differ from %s (%d bytes)", n.name, path, len(got), src, len(want))
			}
			ops["cat"]++
		case r < 72:
			// Unpin, but keep everything pinned somewhere so gets go on.
			var its []*soakItem
			for _, it := range n.pinned {
				if len(holders(it, n)) > 0 {
					its = append(its, it)
				}
			}
			if len(its) == 0 {
				continue
			}
			sort.Slice(its, func(i, j int) bool { return its[i].cid < its[j].cid })
			it := its[rng.IntN(len(its))]
			must(n, "pin", "rm", it.cid)
			delete(n.pinned, it.cid)
			n.unpinned[it.cid] = it
			ops["pin rm"]++
		case r < 80:
			// No gc since the unpin, so the blocks are there.
			var its []*soakItem
			for _, it := range n.unpinned {
				its = append(its, it)
			}
			if len(its) == 0 {
				continue
			}
			sort.Slice(its, func(i, j int) bool { return its[i].cid < its[j].cid })
			it := its[rng.IntN(len(its))]
			must(n, "pin", "add", it.cid)
			gotten(n, it)
			ops["pin add"]++
		case r < 90:
			must(n, "gc")
			clear(n.unpinned)
			ops["gc"]++
		default:
			victim := nodes[1+rng.IntN(2)]
			switch rng.IntN(4) {
			case 0:
				kill(victim, "idle", nil)
			case 1:
				// Killed while adding: the add again pins the same root.
				it := newItem()
				cmd := exec.Command(bin, append([]string{"--repo", victim.repo}, addArgs(it)...)...)
				var out bytes.Buffer
				cmd.Stdout = &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				err := kill(victim, "during add", cmd)
				if err == nil {
					added(victim, it, out.String())
				}
				added(victim, it, must(victim, addArgs(it)...))
			default:
				// Killed while getting, or while serving a get: the get
				// again completes and writes the source's bytes.
				getter, provider := victim, nodes[0]
				if rng.IntN(2) == 0 {
					getter, provider = nodes[0], victim
				}
				var its []*soakItem
				for _, it := range fetchable(getter) {
					if provider.pinned[it.cid] != nil && getter.pinned[it.cid] == nil {
						its = append(its, it)
					}
				}
				if len(its) == 0 {
					kill(victim, "idle", nil)
					break
				}
				it := its[rng.IntN(len(its))]
				out := newOut()
				cmd := exec.Command(bin, append([]string{"--repo", getter.repo}, getArgs(it, provider, out)...)...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				what := "getter during get"
				if victim == provider {
					what = "provider during get"
				}
				kill(victim, what, cmd)
				must(getter, getArgs(it, provider, out)...)
				checkOut(getter, it, out)
				gotten(getter, it)
			}
		}
	}
	elapsed := time.Since(began)
	if !warm {
		t.Fatalf("the run (%v) ended before warm-up (%v)", dur, warmUp)
	}

	// Resources: the daemons are idle now; connections to killed peers and
	// finished transfers wind down within libp2p's and the fetcher's
	// timeouts, so wait up to a minute for each to come back in bounds.
	deadline := time.Now().Add(time.Minute)
	ends := make([]soakFigures, len(nodes))
	for i, n := range nodes {
		for {
			ends[i] = measure(n)
			f := ends[i]
			// Value-log files are held apart: Badger starts a new one at
			// every open and keeps it while its blocks are live, so they
			// grow with restarts, not with work. They get a bound of their
			// own, and the fd bound covers everything else.
			maxVlogs := n.base.vlogs + killed[n.name] + soakVlogSlack
			ok := f.goroutines <= n.base.goroutines+soakGoroutineSlack &&
				f.fds-f.vlogs <= n.base.fds-n.base.vlogs+soakFDSlack &&
				f.vlogs <= maxVlogs && f.rss <= n.base.rss+soakRSSSlack
			if ok {
				break
			}
			if time.Now().After(deadline) {
				soakDump(t, nodes)
				t.Errorf("%s: %v [%s] at the end, after warm-up %v [%s]: over the bound (goroutines +%d, fds other than value-log files +%d, value-log files <= %d, RSS +%d MiB)",
					n.name, f, f.fdKinds, n.base, n.base.fdKinds, soakGoroutineSlack, soakFDSlack, maxVlogs, soakRSSSlack>>20)
				break
			}
			time.Sleep(2 * time.Second)
		}
	}

	// Integrity through the daemons: verify clean, pins exactly the model.
	for _, n := range nodes {
		out, errs, code := cli(n, "--json", "repo", "verify", "--progress=false")
		var v node.RepoVerifyResult
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Errorf("%s: repo verify exit %d\n%s\n%s", n.name, code, out, errs)
		}
		var pins []node.PinInfo
		if err := json.Unmarshal([]byte(must(n, "--json", "pin", "ls")), &pins); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, p := range pins {
			got[p.Cid] = p.Type
		}
		for c := range n.pinned {
			if got[c] != "recursive" {
				t.Errorf("%s: %s should be pinned recursively, pin ls says %q", n.name, c, got[c])
			}
		}
		for c, typ := range got {
			if n.pinned[c] == nil {
				t.Errorf("%s: pin ls lists %s (%s), which the test never pinned or unpinned it", n.name, c, typ)
			}
		}
	}
	for _, n := range nodes {
		n.d.stop(t)
	}
	// Offline, a get reads only the repo: every pinned DAG is complete and
	// byte-identical to its source.
	checked := 0
	for _, n := range nodes {
		for _, it := range n.pinned {
			out := newOut()
			must(n, "get", it.cid, "-o", out, "--progress=false")
			checkOut(n, it, out)
			checked++
		}
	}

	t.Logf("seed %d, %v of operations (%v warm-up), %d ops %v, %d kills %v, %d items added, %d pinned DAGs checked offline",
		seed, elapsed.Round(time.Second), warmUp, soakSum(ops), ops, soakSum(kills), kills, len(items), checked)
	for i, n := range nodes {
		t.Logf("%s (killed %d times): after warm-up %v; at the end %v (pid %d)", n.name, killed[n.name], n.base, ends[i], n.d.cmd.Process.Pid)
		t.Logf("%s: fds after warm-up [%s]; at the end [%s]", n.name, n.base.fdKinds, ends[i].fdKinds)
	}
}

func soakSum(m map[string]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}

// soakSize picks a file size: empty, tiny, around the 256 KiB chunk
// boundary, or up to 1.5 MiB, so single-block, multi-block and empty
// files all occur.
func soakSize(rng *rand.Rand) int {
	switch rng.IntN(6) {
	case 0:
		return rng.IntN(2)
	case 1:
		return rng.IntN(4096)
	case 2:
		return 262144 - 1 + rng.IntN(3)
	default:
		return rng.IntN(1536 << 10)
	}
}

func soakWrite(t *testing.T, rng *rand.Rand, path string, n int) {
	t.Helper()
	var key [32]byte
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// soakTree writes a small tree (1-4 files per directory, up to two levels,
// sometimes an empty directory) and returns its files' relative paths.
func soakTree(t *testing.T, rng *rand.Rand, root string) []string {
	t.Helper()
	var files []string
	var mk func(rel string, depth int)
	mk = func(rel string, depth int) {
		if err := os.MkdirAll(filepath.Join(root, rel), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 1 + rng.IntN(4) {
			p := filepath.Join(rel, fmt.Sprintf("f%d.bin", i))
			soakWrite(t, rng, filepath.Join(root, p), soakSize(rng)/3)
			files = append(files, filepath.ToSlash(p))
		}
		if depth < 2 {
			for i := range rng.IntN(3) {
				mk(filepath.Join(rel, fmt.Sprintf("d%d", i)), depth+1)
			}
		}
	}
	mk(".", 0)
	if rng.IntN(3) == 0 {
		if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func soakSameFile(t *testing.T, want, got string) {
	t.Helper()
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	g, err := os.ReadFile(got)
	if err != nil {
		t.Errorf("read %s: %v", got, err)
		return
	}
	if !bytes.Equal(w, g) {
		t.Errorf("%s: %d bytes that differ from %s (%d bytes)", got, len(g), want, len(w))
	}
}

// soakMeasure reads a daemon's goroutine count from its own metrics
// (go_goroutines, through the API socket) and its open fds and RSS from
// /proc, which the process cannot misreport.
func soakMeasure(repo string, pid int) (soakFigures, error) {
	var f soakFigures
	c, err := api.Dial(repo)
	if err != nil {
		return f, err
	}
	defer c.Close()
	body, err := c.Stream(context.Background(), api.Request{Method: "GET", Path: "/debug/metrics/prometheus"})
	if err != nil {
		return f, err
	}
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			g, err := strconv.ParseFloat(v, 64)
			if err != nil {
				body.Close()
				return f, fmt.Errorf("go_goroutines %q: %v", v, err)
			}
			f.goroutines = int(g)
		}
	}
	body.Close()
	if f.goroutines == 0 {
		return f, fmt.Errorf("no go_goroutines in the metrics")
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return f, err
	}
	f.fds = len(fds)
	kinds := map[string]int{}
	for _, e := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		if err != nil {
			continue // closed since the listing
		}
		k, _, _ := strings.Cut(target, ":")
		if strings.HasPrefix(target, "/") {
			k = "file " + filepath.Ext(target)
			if filepath.Ext(target) == ".vlog" {
				f.vlogs++
			}
		}
		kinds[k]++
	}
	var ks []string
	for k, v := range kinds {
		ks = append(ks, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(ks)
	f.fdKinds = strings.Join(ks, ", ")
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return f, err
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return f, fmt.Errorf("VmRSS %q: %v", v, err)
			}
			f.rss = kb << 10
		}
	}
	if f.rss == 0 {
		return f, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return f, nil
}

// soakDump logs the tail of each daemon's stderr and, for live ones, their
// goroutines, so a failure or a leak shows where the daemons were.
func soakDump(t *testing.T, nodes []*soakNode) {
	t.Helper()
	for _, n := range nodes {
		if n.d == nil {
			continue
		}
		logs := n.d.stderr.String()
		if len(logs) > 4000 {
			logs = logs[len(logs)-4000:]
		}
		t.Logf("%s stderr (tail):\n%s", n.name, logs)
		if n.d.cmd.ProcessState != nil {
			continue
		}
		c, err := api.Dial(n.repo)
		if err != nil {
			continue
		}
		body, err := c.Stream(context.Background(), api.Request{Method: "GET", Path: "/debug/pprof/goroutine?debug=1"})
		if err == nil {
			var b bytes.Buffer
			b.ReadFrom(body)
			body.Close()
			s := b.String()
			if len(s) > 12000 {
				s = s[:12000]
			}
			t.Logf("%s goroutines:\n%s", n.name, s)
		}
		c.Close()
	}
}
