package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/node/api"
	"github.com/trove-p2p/trove/node/repo"
)

// liveKeys are the settings a running daemon applies at once; every other
// key takes effect at its next start.
var liveKeys = map[string]func(a *node.LimitsArgs, v *string){
	"Transfer.MaxUpload":        func(a *node.LimitsArgs, v *string) { a.MaxUpload = v },
	"Transfer.MaxUploadPerPeer": func(a *node.LimitsArgs, v *string) { a.MaxUploadPerPeer = v },
	"Transfer.MaxDownload":      func(a *node.LimitsArgs, v *string) { a.MaxDownload = v },
}

// setConfigKey sets the dotted key in c. VALUE is taken as JSON when it
// parses as JSON (true, 12, ["a"]) and as a string otherwise, so
// `config set Transfer.MaxUpload 10MB/s` needs no quoting. The result is
// decoded strictly, so an unknown key or a wrong type is refused with the
// field named.
func setConfigKey(c repo.Config, key, value string) (repo.Config, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return c, err
	}
	var tree map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return c, err
	}
	var v any
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		v = value
	}
	parts := strings.Split(key, ".")
	m := tree
	for i, p := range parts {
		if i == len(parts)-1 {
			old, ok := m[p]
			if !ok {
				return c, fmt.Errorf("%w: unknown config key %q", repo.ErrBadConfig, key)
			}
			if _, isStr := old.(string); isStr {
				// A string field keeps the value as typed ("0", "true").
				v = value
			}
			m[p] = v
			break
		}
		next, ok := m[p].(map[string]any)
		if !ok {
			return c, fmt.Errorf("%w: unknown config key %q", repo.ErrBadConfig, key)
		}
		m = next
	}
	raw, err = json.Marshal(tree)
	if err != nil {
		return c, err
	}
	return repo.DecodeConfig(bytes.NewReader(raw))
}

func newConfigCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Read or change the repo config",
		Long:  "Read or change <repo>/config. Every key is described in docs/config.md.",
		Example: `  trove config show
  trove config set Transfer.MaxUpload 10MB/s`,
	}
	show := &cobra.Command{
		Use:     "show",
		Short:   "Print the config",
		Example: "  trove config show",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := e.repoPath()
			if err != nil {
				return err
			}
			// Created on first use, as by every other command
			// (docs/cli.md, --repo).
			r, err := repo.OpenOrInit(p)
			if err != nil {
				return err
			}
			return e.printJSON(r.Config)
		},
	}
	set := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Change one setting",
		Long: `Set KEY (dotted, e.g. Transfer.MaxUpload) to VALUE and save the config.
Bandwidth limits (Transfer.MaxUpload, Transfer.MaxUploadPerPeer,
Transfer.MaxDownload) also apply at once to a running daemon; other keys
take effect when the daemon next starts.`,
		Example: "  trove config set Transfer.MaxUpload 10MB/s\n  trove config set Transfer.KeepPartial 72h",
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, value := args[0], args[1]
			p, err := e.repoPath()
			if err != nil {
				return err
			}
			// Created on first use, as by every other command
			// (docs/cli.md, --repo).
			r, err := repo.OpenOrInit(p)
			if err != nil {
				return err
			}
			c, err := setConfigKey(r.Config, key, value)
			if err != nil {
				return usageError{err}
			}
			// The Transfer values are parsed by the node, not the repo
			// package; checking them here means an offline set cannot
			// save a value the daemon would refuse at its next start.
			live, isLive := liveKeys[key]
			if isLive {
				if _, err := node.ParseRate(value); err != nil {
					// Name the field, as setConfigKey does for the others.
					return usageError{fmt.Errorf("%w: field %q: %w", repo.ErrBadConfig, key, err)}
				}
			}
			if key == "Transfer.KeepPartial" {
				if _, err := node.ParseKeepPartial(value); err != nil {
					return usageError{err}
				}
			}
			if err := r.SaveConfig(c); err != nil {
				return err
			}
			if !isLive {
				return nil
			}
			cl, err := api.DialWith(p, api.ClientOptions{Kinds: node.Kinds()})
			if errors.Is(err, api.ErrNoDaemon) {
				return nil
			}
			if err != nil {
				return err
			}
			rem := node.NewRemote(cl)
			defer rem.Close()
			var a node.LimitsArgs
			live(&a, &value)
			_, err = rem.SetLimits(context.WithoutCancel(cmd.Context()), a)
			if err != nil {
				return fmt.Errorf("saved, but the running daemon did not apply it: %w", err)
			}
			return nil
		},
	}
	cmd.AddCommand(show, set)
	return cmd
}
