//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// example is one command line users are shown: where it was shown, and
// the line as written.
type example struct {
	from, line string
}

// collectExamples reads every example users see: each "  trove ..." line
// of a command's Example (lines starting with # are prose, not commands),
// and each line of a sh code block of README.md that runs
// "go run ./cmd/trove ..." (run as "trove ...": the same binary).
func collectExamples(t *testing.T) []example {
	t.Helper()
	var out []example
	root := newRootCmd(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv})
	walk(root, func(c *cobra.Command) {
		for _, l := range strings.Split(c.Example, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, example{from: c.CommandPath() + " --help", line: l})
			}
		}
	})
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inBlock := false
	for _, l := range strings.Split(string(readme), "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			inBlock = !inBlock
		case inBlock:
			if l = strings.TrimSpace(l); strings.Contains(l, "go run ./cmd/trove ") {
				out = append(out, example{from: "README.md", line: strings.ReplaceAll(l, "go run ./cmd/trove ", "trove ")})
			}
		}
	}
	return out
}

// notRun are examples this test leaves out, each with the reason. cobra
// writes the completion examples; they install into system or per-shell
// paths (/etc/bash_completion.d, zsh's $fpath, fish's config, PowerShell)
// that a test must not touch or that need another shell.
var notRun = map[string]string{
	"trove completion bash > /etc/bash_completion.d/trove":          "writes a system path",
	`trove completion zsh > "${fpath[1]}/_trove"`:                   "needs zsh",
	"trove completion fish > ~/.config/fish/completions/trove.fish": "needs fish's config directory",
	"trove completion powershell | Out-String | Invoke-Expression":  "needs PowerShell",
}

// TestEveryExampleRuns runs every example in README.md and in every
// command's --help, as written, with the trove binary first on PATH, in
// bash with pipefail, each in a fresh working directory. Each must exit 0
// (a daemon example: print its ready line and stop cleanly on SIGTERM).
//
// Placeholders are replaced by real values, textually, before the line
// runs; nothing else in the line changes:
//
//	bafybei..., bafy...                     the root of a tree added first (photos/)
//	bafkrei...                              the CID of notes.txt, added first
//	trove://AEB...                          a ticket a second daemon (the seeder) shares for content only it has
//	/ip4/192.0.2.7/tcp/4801/p2p/12D3KooW... the seeder's loopback address
//	https://host/x.car                      a CAR of the tree, served by an HTTP server on 127.0.0.1
//	/srv/trove, /mnt/trove                  fresh directories
//
// Input files a line names (notes.txt, photos/, big.iso, photo.jpg,
// f.car, fixtures.car), except as an -o or > target, are created in its working
// directory. Commands run against a repo whose daemon runs (network
// commands need one; TestCLIThroughDaemonMatchesOffline shows the rest
// behave the same offline); `trove init` lines get a new empty repo, and
// `trove daemon` lines a new repo configured to listen on 127.0.0.1 port 0
// only, without mDNS or NAT port mapping, so no example leaves loopback.
// A `trove mount` line runs until it prints "mounted DIR"; the tree must
// then list through the mount, and Ctrl-C (SIGINT) must unmount it and
// exit 0. A --nocopy line gets a new repo too (see below).
func TestEveryExampleRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs daemons")
	}
	base := t.TempDir()
	bindir := filepath.Join(base, "bin")
	bin := filepath.Join(bindir, "trove")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// fixtures are the input files examples name, by name.
	fixtures := filepath.Join(base, "fixtures")
	tree := filepath.Join(fixtures, "photos")
	for name, data := range map[string]string{
		"photos/readme.txt":      "the tree's readme\n",
		"photos/a/b.txt":         "b\n",
		"photos/docs/readme.txt": strings.Repeat("documentation\n", 40000),
		"photos/sub/c.jpg":       strings.Repeat("\xff\xd8 not really a jpeg", 1000),
		"notes.txt":              "a few notes\n", // short: `block get | xxd | head` reads it all
		"big.iso":                strings.Repeat("iso", 100000),
		"photo.jpg":              "\xff\xd8 a photo",
	} {
		p := filepath.Join(fixtures, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cli := func(repo string, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, append([]string{"--repo", repo}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("trove %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	// loopbackRepo makes a repo whose daemon stays on 127.0.0.1.
	loopbackRepo := func(dir string) string {
		t.Helper()
		cli(dir, "init")
		for _, kv := range [][2]string{
			{"Swarm.ListenAddrs", `["/ip4/127.0.0.1/tcp/0"]`},
			{"Swarm.MDNS", "false"}, {"Swarm.NAT", "false"},
			{"Swarm.AutoNAT", "false"}, {"Swarm.RelayClient", "false"}, {"Swarm.HolePunching", "false"},
			{"DHT.Mode", "server"}, {"Swarm.PrivateAddrs", "allow"},
		} {
			cli(dir, "config", "set", kv[0], kv[1])
		}
		return dir
	}
	lastCID := func(addOut string) string {
		ls := strings.Split(strings.TrimSpace(addOut), "\n")
		return strings.Fields(ls[len(ls)-1])[1]
	}

	seedRepo := loopbackRepo(filepath.Join(base, "seed"))
	seeder := startDaemonProc(t, bin, seedRepo)
	only := filepath.Join(base, "seeder-only.bin")
	if err := os.WriteFile(only, bytes.Repeat([]byte("only the seeder has this "), 200000), 0o644); err != nil {
		t.Fatal(err)
	}
	seederOnly := lastCID(cli(seedRepo, "add", only))
	ticket := strings.TrimSpace(cli(seedRepo, "share", seederOnly))
	cli(seedRepo, "add", "-r", tree)

	repo := loopbackRepo(filepath.Join(base, "main"))
	startDaemonProc(t, bin, repo)
	root := lastCID(cli(repo, "add", "-r", tree))
	notes := lastCID(cli(repo, "add", filepath.Join(fixtures, "notes.txt")))
	car := filepath.Join(fixtures, "f.car")
	carBytes, err := exec.Command(bin, "--repo", repo, "dag", "export", root).Output()
	if err != nil || len(carBytes) == 0 {
		t.Fatalf("dag export: %v", err)
	}
	if err := os.WriteFile(car, carBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fixtures, "fixtures.car"), carBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(carBytes) }))
	defer srv.Close()

	subst := strings.NewReplacer(
		"trove://AEB...", ticket,
		"/ip4/192.0.2.7/tcp/4801/p2p/12D3KooW...", seeder.listen[0],
		"bafybei...", root,
		"bafkrei...", notes,
		"bafy...", root,
		"https://host/x.car", srv.URL+"/x.car",
		"/srv/trove", filepath.Join(base, "srv-trove"),
		"/mnt/trove", filepath.Join(base, "mnt-trove"),
	)
	// checks assert what an example promised beyond exiting 0, run in its
	// working directory afterwards.
	checks := map[string]func(t *testing.T){
		"trove get bafybei... -o photos":    func(t *testing.T) { sameTree(t, tree, "photos") },
		"trove get bafybei... -o restored/": func(t *testing.T) { sameTree(t, tree, filepath.Join("restored", root)) },
		"trove get bafybei.../a/b.txt --force -o b.txt": func(t *testing.T) {
			if b, err := os.ReadFile("b.txt"); err != nil || string(b) != "b\n" {
				t.Errorf("b.txt: %q, %v", b, err)
			}
		},
		"trove get trove://AEB... --peer /ip4/192.0.2.7/tcp/4801/p2p/12D3KooW...": func(t *testing.T) {
			want, _ := os.ReadFile(only)
			if b, err := os.ReadFile(seederOnly); err != nil || !bytes.Equal(b, want) {
				t.Errorf("%s: %d bytes, %v; want the seeder's %d", seederOnly, len(b), err, len(want))
			}
		},
		"trove dag export bafybei... > f.car": func(t *testing.T) {
			if b, err := os.ReadFile("f.car"); err != nil || !bytes.Equal(b, carBytes) {
				t.Errorf("f.car: %d bytes, %v; want %d", len(b), err, len(carBytes))
			}
		},
		"trove cat bafybei.../docs/readme.txt > readme.txt": func(t *testing.T) {
			want, _ := os.ReadFile(filepath.Join(tree, "docs", "readme.txt"))
			if b, err := os.ReadFile("readme.txt"); err != nil || !bytes.Equal(b, want) {
				t.Errorf("readme.txt: %d bytes, %v", len(b), err)
			}
		},
	}

	inputs := []string{"notes.txt", "photos", "big.iso", "photo.jpg", "f.car", "fixtures.car"}
	ran := map[string]bool{}
	examples := collectExamples(t)
	if len(examples) < 40 {
		t.Fatalf("found only %d examples", len(examples))
	}
	for i, ex := range examples {
		ran[ex.line] = true
		if _, skip := notRun[ex.line]; skip {
			continue
		}
		t.Run(fmt.Sprintf("%02d", i), func(t *testing.T) {
			line := subst.Replace(ex.line)
			wd := t.TempDir()
			words := strings.Fields(ex.line)
			for j, w := range words {
				name := strings.TrimSuffix(w, "/")
				if !slices.Contains(inputs, name) || j > 0 && (words[j-1] == "-o" || words[j-1] == ">") {
					continue
				}
				src := filepath.Join(fixtures, name)
				if fi, err := os.Stat(src); err != nil {
					t.Fatal(err)
				} else if fi.IsDir() {
					if err := os.CopyFS(filepath.Join(wd, name), os.DirFS(src)); err != nil {
						t.Fatal(err)
					}
				} else if b, err := os.ReadFile(src); err != nil || os.WriteFile(filepath.Join(wd, name), b, 0o644) != nil {
					t.Fatalf("fixture %s: %v", name, err)
				}
			}
			env := append(os.Environ(), "PATH="+bindir+":"+os.Getenv("PATH"), "HOME="+t.TempDir(), "TROVE_PATH="+repo)
			switch {
			case regexp.MustCompile(`^trove (--repo \S+ )?init\b`).MatchString(ex.line):
				env = append(env, "TROVE_PATH="+t.TempDir())
			case strings.Contains(ex.line, "--nocopy"):
				// Its references point into this working directory,
				// which goes when the line is done; in the shared repo
				// they would then (rightly) be stale for the verify
				// examples. It runs offline on a repo of its own.
				env = append(env, "TROVE_PATH="+t.TempDir())
			case strings.HasPrefix(ex.line, "trove daemon"):
				env = append(env, "TROVE_PATH="+loopbackRepo(filepath.Join(t.TempDir(), "repo")))
				runDaemonExample(t, line, wd, env)
				return
			case strings.Contains(ex.line, "trove mount "):
				runMountExample(t, line, wd, env, root, tree)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-c", "set -o pipefail\n"+line)
			cmd.Dir, cmd.Env = wd, env
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %q (run as %q): %v\nstdout: %.500s\nstderr: %s", ex.from, ex.line, line, err, out.String(), errb.String())
			}
			if check := checks[ex.line]; check != nil {
				t.Chdir(wd)
				check(t)
				delete(checks, ex.line)
			}
		})
	}
	for line := range notRun {
		if !ran[line] {
			t.Errorf("notRun names %q, which no README line or --help example has any more", line)
		}
	}
	for line := range checks {
		t.Errorf("a check for %q never ran: no such example", line)
	}
}

// runDaemonExample runs a `trove daemon` example until it prints its ready
// line, then stops it with SIGTERM and requires a clean exit.
func runDaemonExample(t *testing.T, line, wd string, env []string) {
	t.Helper()
	cmd := exec.Command("bash", "-c", "exec "+line)
	cmd.Dir, cmd.Env = wd, env
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ready := make(chan string, 1)
	go func() {
		b := make([]byte, 4096)
		n, _ := out.Read(b)
		ready <- string(b[:n])
		io.Copy(io.Discard, out)
	}()
	select {
	case l := <-ready:
		if !strings.HasPrefix(l, "trove daemon ready ") {
			t.Fatalf("%q printed %q, not its ready line\nstderr: %s", line, l, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%q: no ready line in 30s\nstderr: %s", line, errb.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%q stopped with %v\nstderr: %s", line, err, errb.String())
		}
	case <-time.After(daemonStopBound + 5*time.Second):
		t.Errorf("%q did not stop", line)
	}
}

// runMountExample runs a `trove mount` example until it prints "mounted
// DIR", checks that the tree added as root lists through DIR/root, then
// presses Ctrl-C (SIGINT to the process group, as a terminal does) and
// requires a clean exit with the mount gone.
func runMountExample(t *testing.T, line, wd string, env []string, root, tree string) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no /dev/fuse: %v", err)
	}
	cmd := exec.Command("bash", "-c", line)
	cmd.Dir, cmd.Env = wd, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	mounted := make(chan string, 1)
	go func() {
		b := make([]byte, 4096)
		n, _ := out.Read(b)
		mounted <- string(b[:n])
		io.Copy(io.Discard, out)
	}()
	var dir string
	select {
	case l := <-mounted:
		d, ok := strings.CutPrefix(strings.TrimSpace(l), "mounted ")
		if !ok {
			t.Fatalf("%q printed %q, not \"mounted DIR\"\nstderr: %s", line, l, errb.String())
		}
		dir = d
	case <-time.After(30 * time.Second):
		t.Fatalf("%q: not mounted in 30s\nstderr: %s", line, errb.String())
	}
	want, err := os.ReadDir(tree)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadDir(filepath.Join(dir, root))
	if err != nil || len(got) != len(want) {
		t.Errorf("ls %s/%s: %d entries, %v; want %d", dir, root, len(got), err, len(want))
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%q after Ctrl-C: %v\nstderr: %s", line, err, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%q did not stop on Ctrl-C", line)
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(mi), " "+dir+" ") {
		t.Errorf("%s is still mounted after the command exited", dir)
	}
}
