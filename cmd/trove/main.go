// Command trove is the command-line front end of the trove node: it parses
// flags, calls one method of the node (the running daemon's API client when
// a daemon serves the repo, else an offline *node.Node opened on it),
// prints the result and maps the error to an exit code.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/node/api"
	"github.com/trove-p2p/trove/node/repo"
	"github.com/trove-p2p/trove/unixfs/importer"
)

// Exit codes, documented in docs/cli.md. Scripts depend on them, so they
// never change meaning; new kinds get new numbers.
const (
	exitOK          = 0
	exitError       = 1   // anything not listed below
	exitUsage       = 2   // bad flags or arguments
	exitBadCID      = 3   // a CID (or CID path) that does not parse
	exitNotFound    = 4   // content not in the repo
	exitNoFile      = 5   // a local file or directory does not exist
	exitPermission  = 6   // the OS denied access to a local file
	exitLocked      = 7   // another process holds the repo
	exitExists      = 8   // refusing to overwrite (get without --force, init twice)
	exitCorrupt     = 9   // a stored block no longer matches its CID
	exitNoSpace     = 10  // the disk (the repo's, or get's output) is full
	exitInterrupted = 130 // Ctrl-C, as shells report SIGINT
)

// usageError marks mistakes in the command line itself.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// exitCode is the ONE place errors become exit codes. It already knows the
// sentinels the daemon API client returns (package api), so a command
// exits the same way whether it ran offline or through a daemon. Order matters where
// kinds nest: a bad CID is checked before "not found", and trove's
// content-not-found before the OS's file-not-found.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.Is(err, importer.ErrParams), errors.Is(err, api.ErrBadRequest),
		// Both are mistakes in how add was called, not in the files:
		// a directory without -r, two arguments with one base name.
		errors.Is(err, node.ErrIsDir), errors.Is(err, node.ErrDuplicateName):
		return exitUsage
	case errors.Is(err, context.Canceled), errors.Is(err, api.ErrStopping):
		// A daemon that stops cancels what it was doing for us: that
		// is an interruption too, though not ours.
		return exitInterrupted
	case errors.Is(err, node.ErrBadCID), errors.Is(err, api.ErrBadCID):
		return exitBadCID
	case errors.Is(err, blockstore.ErrLocked), errors.Is(err, api.ErrLocked), errors.Is(err, api.ErrDaemonRunning):
		return exitLocked
	case errors.Is(err, syscall.ENOSPC):
		// blockstore.ErrNoSpace (the repo's reserve reached) matches it
		// too, also through the daemon's API.
		return exitNoSpace
	case errors.Is(err, block.ErrCorrupt):
		return exitCorrupt
	case errors.Is(err, block.ErrNotFound):
		return exitNotFound
	case errors.Is(err, fs.ErrNotExist):
		return exitNoFile
	case errors.Is(err, fs.ErrPermission):
		return exitPermission
	case errors.Is(err, fs.ErrExist), errors.Is(err, repo.ErrExists):
		return exitExists
	}
	return exitError
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal starts a clean shutdown, restore the
		// default handling so a second Ctrl-C kills a stuck process.
		<-ctx.Done()
		stop()
	}()
	stopProfile := startProfile(os.Getenv("TROVE_CPUPROFILE"))
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	stopProfile()
	os.Exit(code)
}

// run executes one command line and returns its exit code. Tests call it
// in-process with buffers.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := newRootCmd(&env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: %w", context.Canceled, err)
		}
		fmt.Fprintln(stderr, "Error:", message(err))
	}
	return exitCode(err)
}

// forcedExist is an "exists" error from a get that already had --force,
// so the usual hint to add --force would send the user in a circle.
type forcedExist struct{ error }

func (f forcedExist) Unwrap() error { return f.error }

// message adds the hint a user needs for the common failures, where the
// error does not carry one already (blockstore.ErrLocked asks whether a
// daemon runs; adding ours printed three hints for one mistake).
func message(err error) string {
	var po partialOutput
	switch {
	case errors.As(err, &po):
		return fmt.Sprintf("interrupted while writing %s, which keeps what was written; run the same get with --force to finish it (fetched blocks are kept)", po.path)
	case errors.Is(err, api.ErrStopping):
		return "the daemon stopped while this command ran (an unfinished add or import pins nothing; an unfinished get keeps what it fetched, so running it again once the daemon runs resumes)"
	case errors.Is(err, context.Canceled):
		return "interrupted (an unfinished add or import pins nothing; an unfinished get keeps what it fetched for Transfer.KeepPartial, so running it again resumes)"
	case errors.As(err, new(forcedExist)):
		return err.Error() + " (--force replaces files and merges directories, but never puts a file where a directory is, or the reverse)"
	case errors.Is(err, fs.ErrExist) && !errors.Is(err, repo.ErrExists):
		return err.Error() + " (use --force to overwrite)"
	}
	return err.Error()
}

// startProfile writes a CPU profile of this process to path when path is
// set ($TROVE_CPUPROFILE): the daemon has /debug/pprof on its API socket,
// but a client command (the writing half of a get) has no server to ask.
func startProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trove: TROVE_CPUPROFILE:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "trove: TROVE_CPUPROFILE:", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
