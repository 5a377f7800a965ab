package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/trove-p2p/trove/internal/logging"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/node/api"
	"github.com/trove-p2p/trove/node/repo"
)

// backend is what a command that runs with or without a daemon calls: the
// offline node or the daemon's client, with the same methods, results and
// error kinds, so printing and exit codes are shared.
type backend interface {
	Add(ctx context.Context, entries iter.Seq2[node.Entry, error], o node.AddOptions) (node.AddResult, error)
	Cat(ctx context.Context, path string, w io.Writer) (int64, error)
	Ls(ctx context.Context, path string) ([]node.LsEntry, error)
	Get(ctx context.Context, path, out string, o node.GetOptions) (node.GetResult, error)
	PinAdd(ctx context.Context, path string, o node.PinAddOptions) (node.PinInfo, error)
	PinRm(ctx context.Context, path string) (node.PinInfo, error)
	PinLs(ctx context.Context) ([]node.PinInfo, error)
	GC(ctx context.Context) (node.GCResult, error)
	RepoStat(ctx context.Context) (node.RepoStat, error)
	RepoVerify(ctx context.Context, o node.RepoVerifyOptions) (node.RepoVerifyResult, error)
	BlockGet(ctx context.Context, path string, w io.Writer) (int64, error)
	BlockStat(ctx context.Context, path string) (node.BlockStat, error)
	DagExport(ctx context.Context, path string, w io.Writer) error
	DagImport(ctx context.Context, r io.Reader, o node.DagImportOptions) (node.DagImportResult, error)
	io.Closer
	// daemon is the running daemon, or nil offline. Commands ask it, not
	// the backend's type, whether they may reach the network.
	daemon() daemonOps
}

// daemonOps is what only a daemon adds for the commands that run either
// way: fetching from peers, dialling them, and naming itself for tickets.
type daemonOps interface {
	Fetch(ctx context.Context, a node.FetchArgs, fn func(node.FetchProgress)) (node.FetchResult, error)
	// GetFetched writes a running download's blocks to a local path as
	// they arrive (a streaming get).
	GetFetched(ctx context.Context, root, out string, o node.GetOptions) (node.GetResult, error)
	// FetchTo has the daemon download and write the output itself; it
	// refuses (node.ErrWriteRefused) callers of other users.
	FetchTo(ctx context.Context, a node.FetchToArgs, fn func(node.FetchProgress)) (node.FetchToResult, error)
	Connect(ctx context.Context, addr string) (node.IDResult, error)
	identifier
}

// identifier names the daemon's peer and addresses.
type identifier interface {
	ID(ctx context.Context) (node.IDResult, error)
}

// offline is the repo opened in this process: no network.
type offline struct{ *node.Node }

func (offline) daemon() daemonOps { return nil }

// online is a daemon reached through its API.
type online struct{ *node.Remote }

func (o online) daemon() daemonOps { return o.Remote }

// env is the process environment a command runs in, injectable for
// in-process tests.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	repoFlag  string
	verify    bool
	json      bool
	logLevel  string
	logFormat string
}

// repoPath resolves --repo, $TROVE_PATH, ~/.trove, and refuses a path
// that cannot be a repo before anything is written there (see
// checkRepoDir). Only init, which the user asks for explicitly, uses
// anyRepoPath instead.
func (e *env) repoPath() (string, error) {
	p, err := e.anyRepoPath()
	if err != nil {
		return "", err
	}
	return p, checkRepoDir(p)
}

func (e *env) anyRepoPath() (string, error) {
	p := e.repoFlag
	if p == "" {
		p = e.getenv(repo.EnvPath)
	}
	return repo.DefaultPath(p)
}

// errNotRepo marks a --repo that names something other than a repo, a
// new path or an empty directory.
var errNotRepo = errors.New("not a trove repo")

// checkRepoDir accepts an existing repo, a path that does not exist yet
// and an empty directory. Commands create the repo on first use, so a
// mistyped --repo pointing at, say, a home or project directory used to
// get a config, a key and a block store written into it without a word.
func checkRepoDir(p string) error {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("repo %s: %w: it is a file, not a directory", p, errNotRepo)
	}
	if _, err := os.Stat(filepath.Join(p, repo.ConfigFile)); err == nil {
		return nil
	}
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	defer d.Close()
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("repo %s: %w: the directory has other files and no %q; trove creates a repo only in a new or empty directory (check --repo and $%s, or run `trove init` to make one there)", p, errNotRepo, repo.ConfigFile, repo.EnvPath)
	}
	return nil
}

// logger builds the process logger from --log-level and --log-format.
func (e *env) logger() (*slog.Logger, error) {
	log, err := logging.New(e.stderr, e.logLevel, e.logFormat)
	if err != nil {
		return nil, usageError{err}
	}
	return log, nil
}

// open returns the backend for one command, and is the one place that
// decides: the daemon's API client when a daemon serves this repo, the
// offline node otherwise. Both return the same results and error kinds,
// so output and exit codes do not depend on which one ran.
func (e *env) open(ctx context.Context) (backend, error) {
	p, err := e.repoPath()
	if err != nil {
		return nil, err
	}
	log, err := e.logger()
	if err != nil {
		return nil, err
	}
	c, err := api.DialWith(p, api.ClientOptions{Kinds: node.Kinds()})
	if err == nil {
		log.Debug("using the daemon", "api", c.Addr().String())
		return online{node.NewRemote(c)}, nil
	}
	if !errors.Is(err, api.ErrNoDaemon) {
		return nil, err
	}
	n, err := node.Open(ctx, p, node.Options{Verify: e.verify, Logger: log})
	if err != nil {
		return nil, err
	}
	return offline{n}, nil
}

// openDaemon returns the daemon's client for the commands that only make
// sense on a running node (id, peers, connect, routing, stats).
func (e *env) openDaemon() (*node.Remote, error) {
	p, err := e.repoPath()
	if err != nil {
		return nil, err
	}
	c, err := api.DialWith(p, api.ClientOptions{Kinds: node.Kinds()})
	if errors.Is(err, api.ErrNoDaemon) {
		// api.ErrNoDaemon's own text ("no daemon is running on this
		// repo") read "... on this repo on DIR" here; say it once.
		return nil, noDaemonError{p}
	}
	if err != nil {
		return nil, err
	}
	return node.NewRemote(c), nil
}

// errNeedsDaemon marks a network command run without a daemon.
var errNeedsDaemon = errors.New("this command needs a running daemon")

// noDaemonError is errNeedsDaemon for a repo no daemon serves; it also
// matches api.ErrNoDaemon.
type noDaemonError struct{ repo string }

func (e noDaemonError) Error() string {
	return fmt.Sprintf("%v, and none is running on %s (start one with `trove daemon`)", errNeedsDaemon, e.repo)
}
func (e noDaemonError) Unwrap() []error { return []error{errNeedsDaemon, api.ErrNoDaemon} }

// withDaemon is withBackend for the network-only commands.
func (e *env) withDaemon(cmd *cobra.Command, f func(ctx context.Context, r *node.Remote) error) error {
	r, err := e.openDaemon()
	if err != nil {
		return err
	}
	defer r.Close()
	return daemonLost(true, f(cmd.Context(), r))
}

// withBackend opens the backend, runs f and closes it, keeping the first
// error.
func (e *env) withBackend(cmd *cobra.Command, f func(ctx context.Context, b backend) error) (err error) {
	ctx := cmd.Context()
	b, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := b.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	return daemonLost(b.daemon() != nil, f(ctx, b))
}

// lostDaemonError is a command whose daemon went away while it ran
// (stopped, crashed, killed). The client's own words ("unexpected EOF",
// "api: event stream ended without a result") read like a bug in trove,
// not like a daemon to start again.
type lostDaemonError struct{ error }

func (l lostDaemonError) Unwrap() error { return l.error }

func (l lostDaemonError) Error() string {
	return "the daemon stopped answering mid-command (did it stop or crash?); run the command again once it runs, an interrupted get resumes (" + l.error.Error() + ")"
}

// daemonLost marks err as lostDaemonError when it came through a daemon
// and the connection to it broke; other errors pass unchanged.
func daemonLost(remote bool, err error) error {
	if !remote || err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) {
		return lostDaemonError{err}
	}
	return err
}

// printJSON writes v as one indented JSON document.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "trove",
		Short: "trove: a peer-to-peer, content-addressed file store",
		Long: `trove stores files as content-addressed UnixFS DAGs (IPFS-compatible CIDs)
in a local repo and, with the daemon, shares them with peers.

The repo is --repo DIR, else $TROVE_PATH, else ~/.trove; commands create
it on first use. With a daemon running on the repo, commands go through it.

Exit codes (details in docs/cli.md):
  0 success            5 no such local file     9 stored block corrupt
  1 other error        6 permission denied     10 no space left on disk
  2 usage mistake      7 repo locked          130 interrupted
  3 bad CID or path    8 would overwrite
  4 content not found`,
		Example: `  trove add -r photos/
  trove cat bafy.../readme.txt
  trove get bafy... -o restored/`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&e.repoFlag, "repo", "", "repo directory (default $TROVE_PATH or ~/.trove)")
	pf.BoolVar(&e.verify, "verify", false, "re-hash every block read from the repo")
	pf.BoolVar(&e.json, "json", false, "print structured output as JSON")
	// Commands are quiet by default: storage chatter below warnings is
	// for whoever debugs, not for every `trove cat`.
	pf.StringVar(&e.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	pf.StringVar(&e.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(
		newInitCmd(e), newAddCmd(e), newCatCmd(e), newLsCmd(e), newGetCmd(e),
		newPinCmd(e), newGCCmd(e), newRepoCmd(e), newBlockCmd(e), newDagCmd(e),
		newDaemonCmd(e), newIDCmd(e), newPeersCmd(e), newConnectCmd(e), newRoutingCmd(e), newStatsCmd(e),
		newShareCmd(e), newConfigCmd(e), newMountCmd(e),
	)
	// Cobra's own help command prints the root usage and exits 0 for a
	// topic that does not exist; a typo deserves exit 2 like elsewhere.
	root.SetHelpCommand(&cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  trove help add\n  trove help pin rm",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usageError{fmt.Errorf("no help topic %q; run 'trove --help' for the list", strings.Join(args, " "))}
			}
			return cmd.Help()
		},
	})
	// Cobra's completion command is added lazily at Execute; add it now so
	// it gets examples and the group handling below like every command.
	root.InitDefaultCompletionCmd()
	completionExamples(root)
	walk(root, func(c *cobra.Command) {
		if c.HasSubCommands() && !c.Runnable() {
			groupCmd(c)
		}
	})
	return root
}

// walk calls f on c and every command below it.
func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

// groupCmd makes a command that only holds subcommands (trove, pin, repo,
// block, dag, routing, config) print its help when run alone, and refuse
// an unknown subcommand as a usage error (exit 2). Cobra would otherwise
// print the help and exit 0 for `trove pin remove X`, so a typo in a
// script looked like success.
func groupCmd(c *cobra.Command) {
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
		}
		return usageError{fmt.Errorf("%s; run '%s --help' for the list", msg, cmd.CommandPath())}
	}
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// completionExamples gives cobra's generated completion commands the
// examples every other command has.
func completionExamples(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = "  trove completion bash > /etc/bash_completion.d/trove\n  trove completion zsh > \"${fpath[1]}/_trove\""
		for _, sh := range c.Commands() {
			switch sh.Name() {
			case "bash":
				sh.Example = "  source <(trove completion bash)\n  trove completion bash > /etc/bash_completion.d/trove"
			case "zsh":
				sh.Example = "  trove completion zsh > \"${fpath[1]}/_trove\""
			case "fish":
				sh.Example = "  trove completion fish > ~/.config/fish/completions/trove.fish"
			case "powershell":
				sh.Example = "  trove completion powershell | Out-String | Invoke-Expression"
			}
		}
	}
}

// exactArgs is cobra.ExactArgs with the error marked as a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %d argument(s), got %d (usage: %s)", cmd.CommandPath(), n, len(args), cmd.UseLine())}
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError{fmt.Errorf("%s needs at least %d argument(s), got %d (usage: %s)", cmd.CommandPath(), n, len(args), cmd.UseLine())}
		}
		return nil
	}
}
