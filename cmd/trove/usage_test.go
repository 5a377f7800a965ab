package main

import (
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

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/trove-p2p/trove/node"
)

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

// TestGCHelpOnDiskSpace: gc's help promised to "return the disk space",
// but a gc after deleting a 200 MiB file returned none (the value log is
// reclaimed a 256 MiB file at a time, never the one being written).
func TestGCHelpOnDiskSpace(t *testing.T) {
	out := mustTrove(t, t.TempDir(), nil, "gc", "--help")
	if strings.Contains(out, "return the disk space") || !strings.Contains(out, "256 MiB") {
		t.Errorf("gc --help on disk space:\n%s", out)
	}
}
