package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/node/p2p"
	"github.com/trove-p2p/trove/node/repo"
)

func newInitCmd(e *env) *cobra.Command {
	var swarmKey bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a repo with a new identity",
		Long: `Create a repo: an editable config file (see docs/config.md), an Ed25519
identity key (mode 0600) and the block store directory. Other commands
create the repo on first use, so init is only needed to choose the moment.

--swarm-key also writes swarm.key (mode 0600), a random pre-shared key:
the node then connects only to nodes holding the same file, i.e. a private
swarm. Copy the file into the other repos before starting their daemons.`,
		Example: "  trove init\n  trove --repo /srv/trove init\n  trove init --swarm-key",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := e.anyRepoPath()
			if err != nil {
				return err
			}
			r, err := repo.Init(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "initialized trove repo at %s\npeer identity: %s\n", r.Path, r.PeerID)
			if swarmKey {
				key, err := p2p.EncodeSwarmKey(p2p.GenerateSwarmKey())
				if err != nil {
					return err
				}
				if err := r.WriteSwarmKey(key); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "private swarm key: %s (copy it into every repo of the swarm)\n", r.SwarmKeyPath())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&swarmKey, "swarm-key", false, "also create swarm.key: this node will only talk to nodes with the same key")
	return cmd
}

func newAddCmd(e *env) *cobra.Command {
	var (
		o                node.AddOptions
		recursive, quiet bool
		pin              bool
		cidVersion       int
		rawLeaves        bool
		maxLinks         int
		progress         bool
		ticket           bool
		noCopy           bool
	)
	cmd := &cobra.Command{
		Use:   "add [flags] PATH...",
		Short: "Import files or directories and pin them",
		Long: `Import files (or, with -r, directories; "-" reads stdin) into the repo and
print "added <cid> <path>" for every entry, directories after their
contents. Output appears only once the data is durable on disk, and each
top-level entry is pinned recursively unless --pin=false. An interrupted
add pins nothing; its partial blocks go at the next gc.

--profile picks the DAG layout (unixfs-v1-2025: CIDv1, raw leaves, 1 MiB
chunks; unixfs-v0-2015: Kubo's historic CIDv0 layout); the other layout
flags override single settings of the profile.

--nocopy adds one file without copying its bytes into the repo: the repo
keeps references into the file (path, offset, length, inode, size, mtime)
and re-reads and re-hashes them on every read. The file must then stay as
it is: once it is changed, moved or deleted its blocks count as missing
(never served corrupt) and trove repo verify --repair drops the
references. Needs raw leaves (the default profile).`,
		Example: `  trove add notes.txt
  trove add -r -q photos/
  echo hello | trove add -
  trove add --profile unixfs-v0-2015 --only-hash big.iso
  trove add --nocopy big.iso`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			if fl.Changed("cid-version") {
				o.CidVersion = &cidVersion
			}
			if fl.Changed("raw-leaves") {
				o.RawLeaves = &rawLeaves
			}
			if fl.Changed("max-links") {
				o.MaxLinks = &maxLinks
			}
			o.NoPin = !pin
			var entries iter.Seq2[node.Entry, error]
			if noCopy {
				abs, err := noCopyPath(args, recursive)
				if err != nil {
					return err
				}
				o.NoCopy = abs // the node reads the file itself
			} else {
				var err error
				if entries, err = addEntries(cmd.Context(), e, args, recursive); err != nil {
					return err
				}
			}
			var bar *progressBar
			if progress && isTerminal(e.stderr) {
				bar = newProgressBar(e.stderr)
				o.Progress = bar.update
			}
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				if ticket && o.OnlyHash {
					return usageError{fmt.Errorf("--ticket shares stored content; it cannot go with --only-hash")}
				}
				if err := needTicketDaemon(b, ticket); err != nil {
					return err
				}
				// Through the daemon, name local files by path so that it
				// reads them itself; a daemon that will not (another user,
				// the TCP API) gets the bytes.
				o.LocalFiles = !noCopy && !slices.Contains(args, "-")
				res, err := b.Add(ctx, entries, o)
				if errors.Is(err, node.ErrReadRefused) {
					o.LocalFiles = false
					res, err = b.Add(ctx, entries, o)
				}
				bar.finish()
				if err != nil {
					return err
				}
				if err := printAdded(e, res, quiet); err != nil || !ticket {
					return err
				}
				return printTickets(ctx, e, b, res.Roots)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&recursive, "recursive", "r", false, "add directories recursively")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the root CID(s)")
	f.BoolVarP(&o.OnlyHash, "only-hash", "n", false, "compute CIDs without storing anything")
	f.BoolVar(&pin, "pin", true, "pin the added roots")
	f.BoolVarP(&o.Wrap, "wrap", "w", false, "wrap everything in one directory")
	f.BoolVarP(&o.Hidden, "hidden", "H", false, "include files whose name starts with '.'")
	f.StringVar(&o.Profile, "profile", "", "import profile: unixfs-v1-2025 or unixfs-v0-2015 (default from config)")
	// Layout flags default to "whatever the profile says"; only flags the
	// user actually set override it.
	f.IntVar(&cidVersion, "cid-version", 0, "CID version of the DAG nodes, 0 or 1 (default from profile)")
	f.BoolVar(&rawLeaves, "raw-leaves", false, "store file chunks as raw blocks (default from profile)")
	f.StringVar(&o.Chunker, "chunker", "", "chunking: size-N, N bytes per chunk (default from profile)")
	f.IntVar(&maxLinks, "max-links", 0, "most children per file node (default from profile)")
	f.StringVar(&o.Hash, "hash", "", "hash function: sha2-256 or blake3 (default from profile)")
	f.BoolVar(&progress, "progress", true, "show a progress bar when stderr is a terminal")
	f.BoolVar(&ticket, "ticket", false, "also print a trove:// ticket per root (needs the daemon; see trove share)")
	f.BoolVar(&noCopy, "nocopy", false, "keep the file's bytes only in the file: the repo stores references to it (one file)")
	return cmd
}

// noCopyPath checks add --nocopy's arguments and returns the file's
// absolute path, which the daemon, in another working directory, can open.
func noCopyPath(args []string, recursive bool) (string, error) {
	if len(args) != 1 || args[0] == "-" || recursive {
		return "", usageError{errors.New("add --nocopy takes exactly one file (not stdin, not -r)")}
	}
	abs, err := filepath.Abs(args[0])
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", usageError{fmt.Errorf("add --nocopy: %s is not a regular file", args[0])}
	}
	return abs, nil
}

// addEntries turns the PATH arguments into one add stream: "-" is stdin,
// anything else is walked on disk.
func addEntries(ctx context.Context, e *env, args []string, recursive bool) (iter.Seq2[node.Entry, error], error) {
	stdin := slices.Index(args, "-")
	if stdin >= 0 && len(args) > 1 {
		return nil, usageError{fmt.Errorf("add: \"-\" (stdin) cannot be combined with other paths")}
	}
	if stdin >= 0 {
		return node.ReaderEntry(cancelable(ctx, e.stdin)), nil
	}
	return node.FileEntries(args, recursive), nil
}

func printAdded(e *env, res node.AddResult, quiet bool) error {
	if e.json {
		if quiet {
			return e.printJSON(res.Roots)
		}
		return e.printJSON(res)
	}
	if quiet {
		for _, r := range res.Roots {
			fmt.Fprintln(e.stdout, r)
		}
		return nil
	}
	for _, a := range res.Entries {
		if a.Name == "" {
			fmt.Fprintf(e.stdout, "added %s\n", a.Cid)
			continue
		}
		fmt.Fprintf(e.stdout, "added %s %s\n", a.Cid, a.Name)
	}
	return nil
}

func newCatCmd(e *env) *cobra.Command {
	var peers []string
	cmd := &cobra.Command{
		Use:     "cat CID[/path]|trove://TICKET",
		Short:   "Write a file's contents to stdout",
		Long:    "Write the contents of the file a CID (or a path inside a directory CID) names to stdout.",
		Example: "  trove cat bafkrei...\n  trove cat bafybei.../docs/readme.txt > readme.txt",
		Args:    cidArgs(exactArgs(1), true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPeerFlags(peers); err != nil {
				return err
			}
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				p, err := prepareRead(ctx, e, b, args[0], peers)
				if err != nil {
					return err
				}
				_, err = b.Cat(ctx, p, e.stdout)
				return offlineHint(b, err)
			})
		},
	}
	cmd.Flags().StringArrayVar(&peers, "peer", nil, "peer multiaddr ending in /p2p/ID to fetch from, repeatable (needs the daemon)")
	return cmd
}

func newLsCmd(e *env) *cobra.Command {
	var peers []string
	cmd := &cobra.Command{
		Use:   "ls CID[/path]|trove://TICKET",
		Short: "List a directory",
		Long: `List the entries of the directory a CID (or path) names: CID, size and name,
directories marked with a trailing "/". Sharded (HAMT) directories list
in name order like plain ones.`,
		Example: "  trove ls bafybei...\n  trove ls --json bafybei.../sub",
		Args:    cidArgs(exactArgs(1), true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPeerFlags(peers); err != nil {
				return err
			}
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				p, err := prepareRead(ctx, e, b, args[0], peers)
				if err != nil {
					return err
				}
				ents, err := b.Ls(ctx, p)
				if err != nil {
					return offlineHint(b, err)
				}
				if e.json {
					return e.printJSON(ents)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 1, ' ', 0)
				for _, en := range ents {
					name := en.Name
					if en.Type == "directory" {
						name += "/"
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\n", en.Cid, en.Size, name)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringArrayVar(&peers, "peer", nil, "peer multiaddr ending in /p2p/ID to fetch from, repeatable (needs the daemon)")
	return cmd
}

func newGetCmd(e *env) *cobra.Command {
	var o node.GetOptions
	var out string
	var progress bool
	var peers []string
	cmd := &cobra.Command{
		Use:   "get CID[/path]|trove://TICKET [-o OUT]",
		Short: "Write a file or a whole tree to the local filesystem",
		Long: `Write the file, symlink or directory tree a CID names to OUT (default: a
new entry named after the CID, or after the last path component, in the
current directory). OUT ending in a slash is a directory to write into:
it is created if missing (its parent must exist) and the entry gets its
default name inside it, whatever the CID names; a file, a tree alike.
Existing files are never overwritten without --force, and names that
would escape OUT are refused.

With a daemon running, blocks missing from the repo are downloaded from
every peer that has them at once (connected peers, --peer hints, the DHT;
a trove:// ticket names its peers and skips the DHT), pinned, and
announced; each file is written as its blocks arrive. An interrupted get
resumes where it stopped. Without a daemon
only the local repo is read.

--nocopy (one file only) makes the output file the repo's only copy of
its bytes: the repo keeps references into it. Through a daemon that
writes the output itself (for its own user, on its unix socket) the
downloaded leaves go straight into the file and never into the repo;
offline, or where the daemon does not write for you, they are stored
first and replaced once the file is complete, so the disk holds the
bytes twice until then (their space comes back at the next gc). The file
must then not change; see trove add --help.`,
		Example: "  trove get bafybei... -o photos\n  trove get bafybei... -o restored/\n  trove get bafybei.../a/b.txt --force -o b.txt\n  trove get trove://AEB... --peer /ip4/192.0.2.7/tcp/4801/p2p/12D3KooW...",
		Args:    cidArgs(exactArgs(1), true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPeerFlags(peers); err != nil {
				return err
			}
			lp, err := localPath(args[0])
			if err != nil {
				return err
			}
			if out == "-" {
				// Many tools read "-" as stdout; get silently creating a
				// file named "-" surprised users who meant cat.
				return usageError{errors.New(`get writes to disk and -o - would create a file named "-": use trove cat for stdout, or -o ./- if you want that name`)}
			}
			if out == "" {
				out = defaultOutName(lp)
			}
			into, made, err := outputDir(out)
			if err != nil {
				return fmt.Errorf("get %s: write %s: %w", lp, out, err)
			}
			if into != "" {
				out = filepath.Join(into, defaultOutName(lp))
				if made {
					// Bad input loses nothing and leaves nothing: a
					// directory this get created stays only if the
					// get wrote something into it.
					defer func() { os.Remove(into) }()
				}
			}
			_, statErr := os.Lstat(out)
			existed := statErr == nil
			if existed && !o.Force {
				// Refuse before the daemon downloads (and pins) what
				// could not be written anyway.
				return fmt.Errorf("get %s: write %s: %w", lp, out, fs.ErrExist)
			}
			if st, err := os.Stat(filepath.Dir(out)); !existed && err != nil {
				// Likewise a missing parent directory (exit 5)...
				return fmt.Errorf("get %s: write %s: %w", lp, out, err)
			} else if !existed && !st.IsDir() {
				// ... or a parent that is a file.
				return fmt.Errorf("get %s: write %s: %s is not a directory", lp, out, filepath.Dir(out))
			}
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				// On a daemon, the output is written while it downloads
				// (transfer.go).
				res, err := getTo(ctx, e, b, args[0], peers, progress, out, o)
				if err != nil && ctx.Err() != nil && !existed {
					if _, serr := os.Lstat(out); serr == nil {
						return partialOutput{path: out, err: err}
					}
				}
				if o.Force && errors.Is(err, fs.ErrExist) {
					return forcedExist{err}
				}
				if err != nil {
					return offlineHint(b, err)
				}
				if e.json {
					return e.printJSON(res)
				}
				fmt.Fprintf(e.stderr, "saved %s to %s\n", res.Cid, res.Path)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write (default: name from the CID path)")
	cmd.Flags().BoolVarP(&o.Force, "force", "f", false, "overwrite existing files")
	cmd.Flags().BoolVar(&progress, "progress", true, "show a progress bar when stderr is a terminal")
	cmd.Flags().StringArrayVar(&peers, "peer", nil, "peer multiaddr ending in /p2p/ID to fetch from, repeatable (needs the daemon)")
	cmd.Flags().BoolVar(&o.NoCopy, "nocopy", false, "make the output file the repo's only copy of its bytes (one file)")
	return cmd
}

func newPinCmd(e *env) *cobra.Command {
	pin := &cobra.Command{
		Use:   "pin",
		Short: "Keep content from garbage collection",
		Long:  "Pins mark DAGs that gc must keep. `trove add` and `trove dag import` pin what they store.",
		Example: `  trove pin add bafybei...
  trove pin ls --json
  trove pin rm bafybei...`,
	}
	var po node.PinAddOptions
	add := &cobra.Command{
		Use:   "add CID[/path]...",
		Short: "Pin DAGs (recursively by default)",
		Long: `Pin each DAG. A recursive pin is refused if any block of the DAG is
missing, since a pin over a hole would protect nothing.`,
		Example: "  trove pin add bafybei...\n  trove pin add --direct --name cover bafkrei...",
		Args:    cidArgs(minArgs(1), false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				var done []node.PinInfo
				for _, a := range args {
					p, err := b.PinAdd(ctx, a, po)
					if err != nil {
						return err
					}
					done = append(done, p)
				}
				return printPins(e, done, "pinned")
			})
		},
	}
	add.Flags().BoolVar(&po.Direct, "direct", false, "pin only the named block")
	add.Flags().StringVar(&po.Name, "name", "", "label shown by pin ls")
	rm := &cobra.Command{
		Use:     "rm CID...",
		Short:   "Remove pins",
		Long:    "Remove pins; the content stays until the next gc.",
		Example: "  trove pin rm bafybei...",
		Args:    cidArgs(minArgs(1), false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				var done []node.PinInfo
				for _, a := range args {
					p, err := b.PinRm(ctx, a)
					if err != nil {
						return err
					}
					done = append(done, p)
				}
				return printPins(e, done, "unpinned")
			})
		},
	}
	ls := &cobra.Command{
		Use:     "ls",
		Short:   "List pins",
		Long:    "List every pin: CID, type (recursive, direct, partial) and name.",
		Example: "  trove pin ls\n  trove pin ls --json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				pins, err := b.PinLs(ctx)
				if err != nil {
					return err
				}
				return printPins(e, pins, "")
			})
		},
	}
	pin.AddCommand(add, rm, ls)
	return pin
}

func printPins(e *env, pins []node.PinInfo, verb string) error {
	if pins == nil {
		pins = []node.PinInfo{}
	}
	if e.json {
		return e.printJSON(pins)
	}
	for _, p := range pins {
		switch {
		case verb != "":
			fmt.Fprintf(e.stdout, "%s %s\n", verb, p.Cid)
		case p.Name != "":
			fmt.Fprintf(e.stdout, "%s %s %s\n", p.Cid, p.Type, p.Name)
		default:
			fmt.Fprintf(e.stdout, "%s %s\n", p.Cid, p.Type)
		}
	}
	return nil
}

func newGCCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Delete unpinned blocks",
		Long: `Delete every block not reachable from a pin. Imports running at the same
time (in a daemon) are safe.

Disk space comes back one value-log file (256 MiB) at a time, and never
from the file being written: after deleting less than that, "Reclaimed"
is 0 and repo stat's DiskBytes stays until later writes fill the file.`,
		Example: "  trove gc\n  trove gc --json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				r, err := b.GC(ctx)
				if err != nil {
					return err
				}
				if e.json {
					return e.printJSON(r)
				}
				fmt.Fprintf(e.stdout, "removed %d blocks (%d bytes)\n", r.Blocks, r.Bytes)
				if r.Refs > 0 {
					fmt.Fprintf(e.stdout, "removed %d references to files (--nocopy)\n", r.Refs)
				}
				if r.Missing > 0 {
					fmt.Fprintln(e.stderr, missingNote(ctx, b, r.Missing))
				}
				return nil
			})
		},
	}
}

func newRepoCmd(e *env) *cobra.Command {
	r := &cobra.Command{
		Use:     "repo",
		Short:   "Inspect the repo",
		Long:    "Commands about the repo itself.",
		Example: "  trove repo stat",
	}
	r.AddCommand(&cobra.Command{
		Use:   "stat",
		Short: "Show block, byte and pin counts",
		Long: `Show the repo path, peer ID, number of blocks and their bytes, pins and disk use.
Refs and RefBytes count blocks kept as references into your files (add or
get --nocopy) and the bytes they stand for, which the repo does not hold.`,
		Example: "  trove repo stat\n  trove repo stat --json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				s, err := b.RepoStat(ctx)
				if err != nil {
					return err
				}
				if e.json {
					return e.printJSON(s)
				}
				fmt.Fprintf(e.stdout, "Path:      %s\nPeerID:    %s\nBlocks:    %d\nBytes:     %d\nPins:      %d\nDiskBytes: %d\n",
					s.Path, s.PeerID, s.Blocks, s.Bytes, s.Pins, s.DiskBytes)
				if s.Refs > 0 {
					fmt.Fprintf(e.stdout, "Refs:      %d\nRefBytes:  %d\n", s.Refs, s.RefBytes)
				}
				return nil
			})
		},
	}, newRepoVerifyCmd(e))
	return r
}

func newRepoVerifyCmd(e *env) *cobra.Command {
	var o node.RepoVerifyOptions
	var progress bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Re-hash every block and check that pinned DAGs are complete",
		Long: `Read every block in the repo and check it against its hash, then walk
every recursive and direct pin and report those whose DAG has blocks that
are absent or corrupt ("dangling" pins; partial pins of downloads in
progress are skipped). Works offline and, through a running daemon, while
it serves.

--repair deletes the corrupt blocks, so that trove get (with the daemon)
downloads good copies from peers; pins are kept. The daemon never serves a
block that fails its hash, repaired or not.

Blocks kept as references into your files (add or get --nocopy) are read
from those files and re-hashed too; a reference whose file was changed,
moved or deleted is reported as stale (its block counts as missing), and
--repair drops it.

Exit status: 0 if the repo is clean; 9 if corrupt blocks remain (run again
with --repair); 4 if pins lack blocks or stale references remain (after
--repair too, until a get fetches them again).`,
		Example: `  trove repo verify
  trove repo verify --repair
  trove repo verify --json | jq .Dangling`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var bar *progressBar
			if progress && isTerminal(e.stderr) {
				bar = newProgressBar(e.stderr)
				o.Progress = func(p node.VerifyProgress) {
					bar.setTotal(p.TotalBytes)
					bar.update(p.Bytes)
				}
			}
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				res, err := b.RepoVerify(ctx, o)
				if bar != nil && res.Blocks > 0 {
					bar.finish()
				}
				if err != nil {
					return err
				}
				if e.json {
					if err := e.printJSON(res); err != nil {
						return err
					}
				} else {
					printVerify(e, res)
				}
				return verifyError(res)
			})
		},
	}
	cmd.Flags().BoolVar(&o.Repair, "repair", false, "delete corrupt blocks and stale references so that a later get refetches them")
	cmd.Flags().BoolVar(&progress, "progress", true, "show a progress bar when stderr is a terminal")
	return cmd
}

func printVerify(e *env, r node.RepoVerifyResult) {
	fmt.Fprintf(e.stdout, "verified %d blocks (%s) in %.1fs\n", r.Blocks, humanBytes(float64(r.Bytes)), r.Seconds)
	for _, b := range r.CorruptBlocks {
		fmt.Fprintf(e.stdout, "corrupt %s: %s\n", b.Cid, b.Error)
	}
	if r.Removed > 0 {
		fmt.Fprintf(e.stdout, "removed %d corrupt blocks\n", r.Removed)
	}
	if r.Refs > 0 {
		fmt.Fprintf(e.stdout, "checked %d references to files\n", r.Refs)
	}
	for _, s := range r.StaleList {
		fmt.Fprintf(e.stdout, "stale reference %s into %s: %s\n", s.Cid, s.Path, s.Error)
	}
	if r.RefsDropped > 0 {
		fmt.Fprintf(e.stdout, "dropped %d stale references\n", r.RefsDropped)
	}
	for _, d := range r.Dangling {
		fmt.Fprintf(e.stdout, "dangling %s %s: %d missing, %d corrupt (first %s)\n", d.Type, d.Cid, d.Missing, d.Corrupt, d.First)
	}
	if r.Corrupt > len(r.CorruptBlocks) || r.DanglingPins > len(r.Dangling) {
		fmt.Fprintf(e.stdout, "(%d corrupt blocks and %d dangling pins in all; the first 1000 of each are listed)\n", r.Corrupt, r.DanglingPins)
	}
}

// verifyError turns what verify found into the command's exit status:
// corruption still in the repo first (9), then pins with holes (4).
func verifyError(r node.RepoVerifyResult) error {
	switch {
	case r.Corrupt > r.Removed:
		return fmt.Errorf("repo verify: %d corrupt blocks (trove repo verify --repair drops them): %w", r.Corrupt-r.Removed, block.ErrCorrupt)
	case r.StaleRefs > r.RefsDropped:
		return fmt.Errorf("repo verify: %d references to files that changed (trove repo verify --repair drops them): %w", r.StaleRefs-r.RefsDropped, block.ErrNotFound)
	case r.DanglingPins > 0:
		return fmt.Errorf("repo verify: %d pins lack blocks; with the daemon running, trove get CID fetches them again: %w", r.DanglingPins, block.ErrNotFound)
	}
	return nil
}

func newBlockCmd(e *env) *cobra.Command {
	bc := &cobra.Command{
		Use:     "block",
		Short:   "Read raw blocks",
		Long:    "Commands on single blocks, below the file layer.",
		Example: "  trove block stat bafkrei...\n  trove block get bafkrei... > b.bin",
	}
	bc.AddCommand(&cobra.Command{
		Use:     "get CID",
		Short:   "Write a block's raw bytes to stdout",
		Long:    "Write one block's bytes, as stored, to stdout.",
		Example: "  trove block get bafkrei... | xxd | head",
		Args:    cidArgs(exactArgs(1), false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				_, err := b.BlockGet(ctx, args[0], e.stdout)
				return err
			})
		},
	}, &cobra.Command{
		Use:     "stat CID",
		Short:   "Show a block's size and codec",
		Long:    "Show a block's CID, size in bytes and codec.",
		Example: "  trove block stat bafkrei...\n  trove block stat --json bafkrei...",
		Args:    cidArgs(exactArgs(1), false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				s, err := b.BlockStat(ctx, args[0])
				if err != nil {
					return err
				}
				if e.json {
					return e.printJSON(s)
				}
				fmt.Fprintf(e.stdout, "Cid:   %s\nSize:  %d\nCodec: %s\n", s.Cid, s.Size, s.Codec)
				return nil
			})
		},
	})
	return bc
}

func newDagCmd(e *env) *cobra.Command {
	dc := &cobra.Command{
		Use:     "dag",
		Short:   "Move whole DAGs as CAR files",
		Long:    "Export and import DAGs as CAR v1 archives, the IPFS interchange format.",
		Example: "  trove dag export bafybei... > f.car\n  trove dag import f.car",
	}
	var io_ node.DagImportOptions
	var pin bool
	imp := &cobra.Command{
		Use:   "import FILE.car...",
		Short: "Import CAR archives and pin their roots",
		Long: `Import CAR v1 archives ("-" reads stdin). Every block is verified against
its CID; the roots are pinned recursively unless --pin=false, and an
archive whose roots name an incomplete DAG is an error. With --pin=false
(or --pin-roots=false) nothing is pinned and the archive may hold a partial
DAG, as gateway test fixtures do.`,
		Example: "  trove dag import f.car\n  trove dag import --pin-roots=false fixtures.car\n  curl -s https://host/x.car | trove dag import -",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			io_.NoPin = !pin
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				var all []node.DagImportResult
				for _, a := range args {
					r, closeFn, err := openInput(ctx, e, a)
					if err != nil {
						return err
					}
					res, err := b.DagImport(ctx, r, io_)
					closeFn()
					if err != nil {
						return fmt.Errorf("%s: %w", a, err)
					}
					all = append(all, res)
					if !e.json {
						for _, root := range res.Roots {
							fmt.Fprintf(e.stdout, "imported %s (%d blocks)\n", root, res.Blocks)
						}
					}
				}
				if e.json {
					return e.printJSON(all)
				}
				return nil
			})
		},
	}
	imp.Flags().BoolVar(&pin, "pin", true, "pin the archive roots")
	// Kubo's name for the same switch, so scripts written for it work.
	imp.Flags().BoolVar(&pin, "pin-roots", true, "same as --pin (Kubo's name); --pin-roots=false imports a partial DAG unpinned")
	dc.AddCommand(&cobra.Command{
		Use:   "export CID[/path]",
		Short: "Write a DAG to stdout as a CAR v1 archive",
		Long: `Write the DAG under a CID to stdout as a CAR v1 archive, blocks in
depth-first order. Every block must be present.`,
		Example: "  trove dag export bafybei... > f.car",
		Args:    cidArgs(exactArgs(1), false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withBackend(cmd, func(ctx context.Context, b backend) error {
				return b.DagExport(ctx, args[0], e.stdout)
			})
		},
	}, imp)
	return dc
}

// pinLister lists pins, all missingNote needs.
type pinLister interface {
	PinLs(ctx context.Context) ([]node.PinInfo, error)
}

// missingNote explains gc's count of blocks pinned DAGs lack. A get that
// is running or was interrupted holds a partial pin over what it has so
// far, so its missing blocks are expected; "warning: pinned DAGs lack N
// blocks" alone, printed during every download, read as lost data.
func missingNote(ctx context.Context, b pinLister, missing int) string {
	partial := 0
	if pins, err := b.PinLs(ctx); err == nil {
		for _, p := range pins {
			if p.Type == "partial" {
				partial++
			}
		}
	}
	if partial == 0 {
		return fmt.Sprintf("warning: pinned DAGs lack %d blocks", missing)
	}
	return fmt.Sprintf("note: pinned DAGs lack %d blocks; %d partial pin(s) of running or interrupted gets (trove pin ls) are expected to until the get completes", missing, partial)
}

// partialOutput is a get interrupted while it wrote a tree: the part
// written stays, so running the same get again is refused (exit 8) unless
// --force, which the generic "running it again resumes" did not say.
type partialOutput struct {
	path string
	err  error
}

func (p partialOutput) Error() string { return p.err.Error() }

func (p partialOutput) Unwrap() []error { return []error{context.Canceled, p.err} }
