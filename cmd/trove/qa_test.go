package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/trove-p2p/trove/block"
	carv1 "github.com/trove-p2p/trove/car"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// Regression tests for what a fresh-eyes pass over the CLI found.

// Every command a user can run, cobra's generated completion commands
// included, shows an example in --help; non-runnable groups are covered
// through their children.
func TestEveryRunnableCommandHasExample(t *testing.T) {
	root := newRootCmd(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv})
	n := 0
	walk(root, func(c *cobra.Command) {
		if !c.Runnable() || c.Name() == "help" || c.Name() == "__complete" || c.Name() == "__completeNoDesc" {
			return
		}
		n++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example", c.CommandPath())
		}
	})
	// Sanity check: the walk reached the leaves (add, pin add, completion bash...).
	if n < 30 {
		t.Errorf("walked only %d runnable commands", n)
	}
	out := mustTrove(t, t.TempDir(), nil, "completion", "bash", "--help")
	if !strings.Contains(out, "Examples:") {
		t.Errorf("completion bash --help shows no example:\n%s", out)
	}
}

// A malformed CID, path or ticket is reported once, in plain words, with
// exit 3, and nothing of go-cid's doubled "invalid cid: invalid cid:".
func TestBadCIDMessages(t *testing.T) {
	repo := t.TempDir()
	dir := strings.TrimSpace(mustTrove(t, repo, strings.NewReader("x"), "add", "-q", "-w", "-"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cat", "bafybad"}, `invalid CID "bafybad": varints malformed`},
		{[]string{"ls", "bafybad/x"}, `invalid CID "bafybad": varints malformed`},
		{[]string{"get", "/ipfs/bafybad", "-o", "x"}, `invalid CID "bafybad"`},
		{[]string{"get", dir + "/../x"}, `bad path "` + dir + `/../x": name ".."`},
		{[]string{"cat", dir + "//x"}, `bad path "` + dir + `//x": empty name`},
		{[]string{"cat", "/tmp/x"}, `bad path "/tmp/x": only CID/path and /ipfs/CID/path`},
		{[]string{"cat", ""}, `no CID in ""`},
		{[]string{"get", "trove://garbage"}, `invalid ticket "trove://garbage"`},
		{[]string{"pin", "add", "Qm123"}, `invalid CID "Qm123"`},
		{[]string{"pin", "rm", dir, "bafybad"}, `invalid CID "bafybad"`},
		{[]string{"block", "stat", "trove://x"}, `is a ticket; this command takes a CID`},
		{[]string{"block", "get", "zz"}, `invalid CID "zz"`},
		{[]string{"dag", "export", "bafybad"}, `invalid CID "bafybad"`},
		{[]string{"share", "bafybad"}, `invalid CID "bafybad"`},
		{[]string{"routing", "findprovs", "bafybad"}, `invalid CID "bafybad"`},
	} {
		out, errs, code := trove(t, repo, nil, tc.args...)
		if code != exitBadCID {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, exitBadCID, errs)
		}
		if out != "" {
			t.Errorf("%v: printed %q on stdout", tc.args, out)
		}
		if !strings.Contains(errs, tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, errs, tc.want)
		}
		if l := strings.ToLower(errs); strings.Count(l, "invalid cid") > 1 || strings.Count(l, "bad path") > 1 {
			t.Errorf("%v: doubled message %q", tc.args, errs)
		}
	}
	// A bad CID among good ones refuses the whole command before it
	// changes anything: the good pin is still there.
	if pins := mustTrove(t, repo, nil, "pin", "ls"); !strings.Contains(pins, dir) {
		t.Errorf("pin rm with one bad CID removed the good pin: %q", pins)
	}
}

// A mistyped subcommand is a usage error (exit 2), never the group's help
// with exit 0, which made `trove pin remove X` in a script look done.
func TestUnknownSubcommand(t *testing.T) {
	repo := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nosuch"}, `unknown command "nosuch" for "trove"`},
		{[]string{"ad", "x"}, `did you mean add`},
		{[]string{"pin", "remove", "x"}, `unknown command "remove" for "trove pin"`},
		{[]string{"pin", "rmm", "x"}, `did you mean rm?`},
		{[]string{"repo", "stats"}, `unknown command "stats" for "trove repo"`},
		{[]string{"config", "get", "x"}, `unknown command "get" for "trove config"`},
		{[]string{"routing", "find", "x"}, `unknown command "find" for "trove routing"`},
		{[]string{"help", "nosuch"}, `no help topic "nosuch"`},
		{[]string{"help", "pin", "remove"}, `no help topic "pin remove"`},
	} {
		out, errs, code := trove(t, repo, nil, tc.args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitUsage)
		}
		if out != "" {
			t.Errorf("%v: printed %q on stdout", tc.args, out)
		}
		if !strings.Contains(errs, tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, errs, tc.want)
		}
	}
	// A group alone still shows its help and succeeds.
	for _, args := range [][]string{{}, {"pin"}, {"dag"}, {"help"}, {"help", "pin"}} {
		out, _, code := trove(t, repo, nil, args...)
		if code != exitOK || !strings.Contains(out, "Available Commands:") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
}

// Backquotes in a pflag usage string name the flag's value, so
// "see `trove share`" turned --ticket into "--ticket trove share" in
// --help, as if the boolean took an argument.
func TestHelpShowsBooleansWithoutValue(t *testing.T) {
	root := newRootCmd(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv})
	walk(root, func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() == "bool" && strings.Contains(f.Usage, "`") {
				t.Errorf("%s --%s: backquote in usage %q makes help show a value name", c.CommandPath(), f.Name, f.Usage)
			}
		})
	})
	out := mustTrove(t, t.TempDir(), nil, "add", "--help")
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "--ticket") && strings.Contains(l, "--ticket trove") {
			t.Errorf("add --help: %q", l)
		}
	}
}

// A directory without -r and two arguments with one base name are ways of
// calling add wrong (exit 2, like a bad flag), and add nothing.
func TestAddUsageMistakes(t *testing.T) {
	repo := t.TempDir()
	src := t.TempDir()
	for _, p := range []string{"d/f", "a/same", "b/same"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, p), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// DiskBytes follows Badger's files, which change on their own; the
	// counts are what an add would change.
	counts := func() string {
		var st struct{ Blocks, Bytes, Pins int64 }
		if err := json.Unmarshal([]byte(mustTrove(t, repo, nil, "repo", "stat", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%+v", st)
	}
	before := counts()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add", filepath.Join(src, "d")}, "use -r"},
		{[]string{"add", filepath.Join(src, "a/same"), filepath.Join(src, "b/same")}, "duplicate top-level name"},
		{[]string{"add", "-r", filepath.Join(src, "a"), filepath.Join(src, "b", "..", "a")}, "duplicate top-level name"},
	} {
		out, errs, code := trove(t, repo, nil, tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errs, exitUsage, tc.want)
		}
	}
	if after := counts(); after != before {
		t.Errorf("refused adds changed the repo:\n%s\n%s", before, after)
	}
}

// Unpinning what is not pinned names the CID once.
func TestPinRmNotPinnedMessage(t *testing.T) {
	repo := t.TempDir()
	c := strings.TrimSpace(mustTrove(t, repo, strings.NewReader("x"), "add", "-q", "--pin=false", "-"))
	_, errs, code := trove(t, repo, nil, "pin", "rm", c)
	if code != exitNotFound {
		t.Errorf("exit %d, want %d", code, exitNotFound)
	}
	if n := strings.Count(errs, c); n != 1 {
		t.Errorf("stderr names the CID %d times: %q", n, errs)
	}
}

// Through a daemon: argument mistakes are caught by the CLI with the same
// words and exit codes as offline, every --json output parses, and
// findprovs on content only this node has explains the empty answer.
func TestDaemonQA(t *testing.T) {
	offline, online := t.TempDir(), t.TempDir()
	d := startInProcessDaemon(t, online)
	t.Chdir(t.TempDir())
	src := t.TempDir()
	if err := os.Mkdir(filepath.Join(src, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"cat", "bafybad"},
		{"get", "trove://garbage"},
		{"pin", "remove", "x"},
		{"add", filepath.Join(src, "d")},
		{"connect", "/ip4/127.0.0.1/tcp/1"},
	} {
		_, offErr, offCode := trove(t, offline, nil, args...)
		_, onErr, onCode := trove(t, online, nil, args...)
		if offCode != onCode || offErr != onErr {
			t.Errorf("%v: offline exit %d %q, daemon exit %d %q", args, offCode, offErr, onCode, onErr)
		}
		if onCode == exitOK || onCode == exitError {
			t.Errorf("%v: exit %d, want a specific code", args, onCode)
		}
	}

	c := strings.TrimSpace(mustTrove(t, online, strings.NewReader("only here"), "add", "-q", "-"))
	dir := strings.TrimSpace(mustTrove(t, online, strings.NewReader("x"), "add", "-q", "-w", "-"))
	empty := t.TempDir() // offline, nothing pinned: lists must still be arrays
	for _, tc := range []struct {
		repo  string
		args  []string
		array bool // docs/cli.md promises a JSON array, never null
	}{
		{online, []string{"id"}, false}, {online, []string{"peers"}, true}, {online, []string{"stats"}, false},
		{online, []string{"repo", "stat"}, false}, {online, []string{"pin", "ls"}, true}, {online, []string{"gc"}, false},
		{online, []string{"block", "stat", c}, false}, {online, []string{"share", c}, false}, {online, []string{"config", "show"}, false},
		{online, []string{"add", "-n", "-"}, false}, {online, []string{"ls", dir}, true}, {online, []string{"get", dir, "-o", "out"}, false},
		{empty, []string{"pin", "ls"}, true}, {empty, []string{"gc"}, false}, {empty, []string{"repo", "stat"}, false},
		{empty, []string{"config", "show"}, false}, {empty, []string{"add", "-q", "-"}, true},
	} {
		out := mustTrove(t, tc.repo, strings.NewReader("x"), append([]string{"--json"}, tc.args...)...)
		dec := json.NewDecoder(strings.NewReader(out))
		n := 0
		for dec.More() {
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Errorf("--json %v: %v in %q", tc.args, err, out)
				break
			}
			if _, ok := v.([]any); tc.array && !ok {
				t.Errorf("--json %v: %q is not an array", tc.args, out)
			}
			n++
		}
		if n == 0 {
			t.Errorf("--json %v printed no JSON: %q", tc.args, out)
		}
	}

	car := mustTrove(t, online, nil, "dag", "export", dir)
	var imp []struct{ Roots []string }
	if err := json.Unmarshal([]byte(mustTrove(t, offline, strings.NewReader(car), "--json", "dag", "import", "-")), &imp); err != nil || len(imp) != 1 || len(imp[0].Roots) != 1 || imp[0].Roots[0] != dir {
		t.Errorf("dag import --json of the daemon's export: %v %+v", err, imp)
	}

	// A lone node's DHT query ends at once: the note must not claim it
	// looked for the whole --timeout.
	out, errs, code := trove(t, online, nil, "routing", "findprovs", "--timeout", "30s", c)
	if code != exitOK || out != "" || !strings.Contains(errs, "this node is never listed") || strings.Contains(errs, d.P2P().ID().String()) ||
		!strings.Contains(errs, "the search ended after") || strings.Contains(errs, "30s") {
		t.Errorf("findprovs of content only this node has: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

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

// One mistake, one hint: a locked repo and a missing daemon used to print
// the same question two or three times.
func TestOneHintPerMistake(t *testing.T) {
	locked := t.TempDir()
	n, err := node.Open(context.Background(), locked, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, args := range [][]string{
		{"repo", "stat"},
		{"daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"},
	} {
		_, errs, code := trove(t, locked, nil, args...)
		if code != exitLocked {
			t.Errorf("%v on a locked repo: exit %d, %q", args, code, errs)
		}
		if c := strings.Count(errs, "daemon running"); c != 1 || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v on a locked repo: %d hints in %q", args, c, errs)
		}
	}
	_, errs, code := trove(t, t.TempDir(), nil, "id")
	if code != exitError || strings.Count(errs, "daemon") != 2 || strings.Contains(errs, "on this repo on") {
		t.Errorf("id without a daemon: exit %d, %q", code, errs)
	}
}

// Reading the wrong kind of node, or a missing one, names the CID once
// ("cat X: X is a directory" said it twice), offline and through a daemon.
func TestReadErrorsNameCIDOnce(t *testing.T) {
	offline, online := t.TempDir(), t.TempDir()
	startInProcessDaemon(t, online)
	missing := "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
	for _, repo := range []string{offline, online} {
		dir := strings.TrimSpace(mustTrove(t, repo, strings.NewReader("x"), "add", "-q", "-w", "-"))
		file := strings.TrimSpace(mustTrove(t, repo, strings.NewReader("x"), "add", "-q", "-"))
		for _, tc := range []struct {
			args []string
			cid  string
		}{
			{[]string{"cat", dir}, dir},
			{[]string{"cat", "/ipfs/" + dir + "/"}, dir},
			{[]string{"ls", file}, file},
		} {
			_, errs, code := trove(t, repo, nil, tc.args...)
			if code == exitOK || strings.Count(errs, tc.cid) != 1 {
				t.Errorf("%v: exit %d, stderr %q names the CID %d times", tc.args, code, errs, strings.Count(errs, tc.cid))
			}
		}
		if _, errs, _ := trove(t, repo, nil, "ls", file); !strings.Contains(errs, file+" is a file: not a directory") {
			t.Errorf("ls of a raw-leaf file: %q", errs)
		}
		if _, errs, code := trove(t, repo, nil, "block", "stat", missing); code != exitNotFound || strings.Count(errs, missing) != 1 {
			t.Errorf("block stat of a missing block: exit %d, %q", code, errs)
		}
	}
	// Offline only: through a daemon, cat of a missing CID searches the
	// network first.
	if _, errs, code := trove(t, offline, nil, "cat", missing); code != exitNotFound || strings.Count(errs, missing) != 1 {
		t.Errorf("cat of a missing block: exit %d, %q", code, errs)
	}
}

// A wrong argument count shows how the command is called.
func TestArgCountShowsUsage(t *testing.T) {
	repo := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add"}, "usage: trove add [flags] PATH..."},
		{[]string{"cat", "a", "b"}, "usage: trove cat CID[/path]"},
		{[]string{"config", "set", "Transfer.MaxUpload"}, "usage: trove config set KEY VALUE"},
		{[]string{"gc", "now"}, "takes 0 argument(s), got 1"},
	} {
		out, errs, code := trove(t, repo, nil, tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", tc.args, code, out, errs, tc.want)
		}
	}
}

// Malformed daemon flag values are usage errors (exit 2) refused before
// the repo is touched, not a generic failure after it was opened.
func TestDaemonBadFlags(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--listen", "garbage"}, `--listen "garbage"`},
		{[]string{"--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/1.2.3/tcp/1"}, `--listen "/ip4/1.2.3/tcp/1"`},
		{[]string{"--bootstrap", "/ip4/192.0.2.7/tcp/4801"}, `/p2p/<peer ID>`},
		{[]string{"--dht-mode", "bogus"}, `want auto, server or client`},
		{[]string{"--api", "notaport"}, `want HOST:PORT`},
		{[]string{"--max-upload", "lots"}, `--max-upload: bad rate`},
		{[]string{"--max-upload-per-peer", "-1MB/s"}, `--max-upload-per-peer`},
		{[]string{"--max-download", "fast"}, `--max-download`},
	} {
		repo := filepath.Join(t.TempDir(), "repo")
		out, errs, code := trove(t, repo, nil, append([]string{"daemon", "--no-mdns"}, tc.flags...)...)
		if code != exitUsage || out != "" || !strings.Contains(errs, tc.want) {
			t.Errorf("daemon %v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.flags, code, out, errs, tc.want)
		}
		if _, err := os.Stat(repo); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("daemon %v created the repo before refusing its flags", tc.flags)
		}
	}
}

// A malformed --peer is exit 2 for get, cat and ls, offline and through a
// daemon alike.
func TestBadPeerFlag(t *testing.T) {
	offline, online := t.TempDir(), t.TempDir()
	startInProcessDaemon(t, online)
	t.Chdir(t.TempDir())
	for _, repo := range []string{offline, online} {
		c := strings.TrimSpace(mustTrove(t, repo, strings.NewReader("x"), "add", "-q", "-w", "-"))
		for _, cmd := range []string{"get", "cat", "ls"} {
			for _, p := range []string{"garbage", "/ip4/127.0.0.1/tcp/1"} {
				out, errs, code := trove(t, repo, nil, cmd, c, "--peer", p)
				if code != exitUsage || out != "" || !strings.Contains(errs, "--peer") {
					t.Errorf("%s --peer %s: exit %d, stdout %q, stderr %q", cmd, p, code, out, errs)
				}
			}
		}
	}
}

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
