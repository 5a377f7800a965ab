package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-p2p/trove/fuse"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/node/api"
)

func newMountCmd(e *env) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "mount DIR",
		Short: "Show any CID as read-only files under DIR until Ctrl-C",
		Long: `Mount a read-only FUSE file system on DIR (an existing empty directory) and
keep it until Ctrl-C or SIGTERM, then unmount. DIR/<cid> is the file or
directory that CID names (CIDv0 or v1, any base), so ls, cat, cp, grep and
media players work on content without downloading it first; ls DIR lists
the pinned roots.

With a daemon running, the daemon mounts DIR and this command holds the
mount: reads fetch missing blocks from peers, only those a read needs.
Without one, the repo's local content is mounted and a missing block reads
as an I/O error. A read that waits longer than --timeout fails with EIO;
Ctrl-C on a blocked reader interrupts it. Details: docs/fuse.md.

Prints "mounted DIR" once the mount is live and "unmounted DIR" at the end;
exit 0 when it ends by Ctrl-C or by an outside fusermount -u.`,
		Example: `  mkdir -p ~/trove && trove mount ~/trove
  # then, in another terminal: ls ~/trove/bafybei.../
  mkdir -p /mnt/trove && trove mount --timeout 10s /mnt/trove`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout < 0 {
				return usageError{errors.New("mount: --timeout must not be negative")}
			}
			dir, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			p, err := e.repoPath()
			if err != nil {
				return err
			}
			log, err := e.logger()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := api.DialWith(p, api.ClientOptions{Kinds: node.Kinds()})
			if err == nil {
				r := node.NewRemote(c)
				defer r.Close()
				return daemonLost(true, e.mountThroughDaemon(ctx, r, dir, timeout))
			}
			if !errors.Is(err, api.ErrNoDaemon) {
				return err
			}
			n, err := node.Open(ctx, p, node.Options{Verify: e.verify, Logger: log})
			if err != nil {
				return err
			}
			defer n.Close()
			if timeout == 0 {
				if timeout, err = n.Repo().Config.Mount.RetrievalTimeout(); err != nil {
					return err
				}
			}
			m, err := n.Mount(dir, node.Source{Offline: true}, fuse.Options{Timeout: timeout, Logger: log.With("component", "fuse")})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "mounted %s\n", m.Dir())
			fmt.Fprintln(e.stderr, "local content only (no daemon runs on this repo); Ctrl-C to unmount")
			select {
			case <-ctx.Done():
			case <-m.Done():
				fmt.Fprintf(e.stderr, "%s was unmounted from outside\n", m.Dir())
			}
			if err := m.Unmount(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "unmounted %s\n", m.Dir())
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "fail a read with EIO after waiting this long for its data (default from config Mount.Timeout, 1m)")
	return cmd
}

// mountThroughDaemon has the daemon mount dir and holds the mount until
// ctx ends.
func (e *env) mountThroughDaemon(ctx context.Context, r *node.Remote, dir string, timeout time.Duration) error {
	res, err := r.Mount(ctx, node.MountArgs{Dir: dir, Timeout: node.Duration(timeout)}, func(ev node.MountEvent) {
		fmt.Fprintf(e.stdout, "mounted %s\n", ev.Dir)
		fmt.Fprintln(e.stderr, "served by the daemon, which fetches missing content from peers; Ctrl-C to unmount")
	})
	if err != nil {
		return err
	}
	switch res.Reason {
	case node.MountEndedOutside:
		fmt.Fprintf(e.stderr, "%s was unmounted from outside\n", res.Dir)
	case node.MountEndedByShutdown:
		return fmt.Errorf("the daemon stopped, and %s with it", res.Dir)
	}
	fmt.Fprintf(e.stdout, "unmounted %s\n", res.Dir)
	return nil
}
