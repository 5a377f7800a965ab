package main

import (
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestDocsMatchHelp keeps docs/cli.md and --help from drifting apart:
// every runnable command has a row in the command table, every flag a row
// names exists, every flag a command has is named in its row, and the
// exit codes in the table are the ones the root help lists and exitCode
// can return.
func TestDocsMatchHelp(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	root := newRootCmd(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv})

	rows := map[string]string{} // command path without "trove " -> first cell
	cell := regexp.MustCompile("^\\| `([^`]+)` \\|")
	for _, l := range strings.Split(string(doc), "\n") {
		m := cell.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var words []string
		for _, w := range strings.Fields(m[1]) {
			if !regexp.MustCompile(`^[a-z]+$`).MatchString(w) {
				break
			}
			words = append(words, w)
		}
		rows[strings.Join(words, " ")] = m[1]
	}
	longFlag := regexp.MustCompile(`--([a-z][a-z-]*)`)
	shortFlag := regexp.MustCompile(`\[-([a-zA-Z])[]/ ]`)
	walk(root, func(c *cobra.Command) {
		if !c.Runnable() || c.HasSubCommands() || c.Name() == "help" || c.Name() == "completion" || c.HasParent() && c.Parent().Name() == "completion" {
			return
		}
		name := strings.TrimPrefix(c.CommandPath(), "trove ")
		row, ok := rows[name]
		if !ok {
			t.Errorf("docs/cli.md has no row for %q", name)
			return
		}
		lookup := func(n string) bool {
			return c.Flags().Lookup(n) != nil || c.InheritedFlags().Lookup(n) != nil
		}
		for _, m := range longFlag.FindAllStringSubmatch(row, -1) {
			if !lookup(m[1]) {
				t.Errorf("docs/cli.md: %q names --%s, which %s does not have", row, m[1], c.CommandPath())
			}
		}
		for _, m := range shortFlag.FindAllStringSubmatch(row, -1) {
			if c.Flags().ShorthandLookup(m[1]) == nil {
				t.Errorf("docs/cli.md: %q names -%s, which %s does not have", row, m[1], c.CommandPath())
			}
		}
		c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "help" || f.Hidden {
				return
			}
			if !strings.Contains(row, "--"+f.Name) {
				t.Errorf("docs/cli.md row %q does not mention %s --%s", row, c.CommandPath(), f.Name)
			}
		})
	})

	// Exit codes: the docs table, the root help and exitCode's constants.
	_, table, ok := strings.Cut(string(doc), "## Exit codes")
	if !ok {
		t.Fatal("docs/cli.md has no exit code section")
	}
	var docCodes []int
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(table, -1) {
		n, _ := strconv.Atoi(m[1])
		docCodes = append(docCodes, n)
	}
	want := []int{exitOK, exitError, exitUsage, exitBadCID, exitNotFound, exitNoFile, exitPermission, exitLocked, exitExists, exitCorrupt, exitNoSpace, exitInterrupted}
	if !slices.Equal(docCodes, want) {
		t.Errorf("docs/cli.md exit codes %v, exitCode uses %v", docCodes, want)
	}
	_, help, _ := strings.Cut(root.Long, "Exit codes")
	var helpCodes []int
	for _, m := range regexp.MustCompile(`(?:^|\s)(\d+) [a-z]`).FindAllStringSubmatch(help, -1) {
		n, _ := strconv.Atoi(m[1])
		helpCodes = append(helpCodes, n)
	}
	slices.Sort(helpCodes)
	if !slices.Equal(helpCodes, want) {
		t.Errorf("trove --help lists exit codes %v, want %v", helpCodes, want)
	}
}

// TestReadmeCommandsParse runs every `go run ./cmd/trove ...` line of the
// README quick start through the command tree: each must name a real
// command with flags it has and an argument count it accepts.
func TestReadmeCommandsParse(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(readme), "\n") {
		line, ok := strings.CutPrefix(strings.TrimSpace(l), "go run ./cmd/trove ")
		if !ok {
			continue
		}
		line, _, _ = strings.Cut(line, "#")
		args := strings.Fields(line)
		root := newRootCmd(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv})
		c, rest, err := root.Find(args)
		if err != nil || c.HasSubCommands() {
			t.Errorf("README: %q: no such command (%v)", line, err)
			continue
		}
		if err := c.ParseFlags(rest); err != nil {
			t.Errorf("README: %q: %v", line, err)
			continue
		}
		if c.Args != nil {
			// Placeholders like bafkrei... are not CIDs; check the count only.
			if err := c.Args(c, c.Flags().Args()); err != nil && !strings.Contains(err.Error(), "CID") && !strings.Contains(err.Error(), "bad path") {
				t.Errorf("README: %q: %v", line, err)
			}
		}
		n++
	}
	if n < 5 {
		t.Errorf("found only %d trove command lines in README.md", n)
	}
}
