package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Through a daemon, argument mistakes are caught by the CLI with the same
// words and exit codes as offline, every --json output parses, and
// findprovs on content only this node has explains the empty answer.
func TestDaemonMistakesMatchOffline(t *testing.T) {
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

// TestDaemonGoneMidCommand: a daemon that dies while a command streams
// from it (kill -9, a crash) is named as such, not as a bare "unexpected
// EOF" or "api: event stream ended without a result". A fake daemon
// answers every request with a truncated body and drops the connection.
func TestDaemonGoneMidCommand(t *testing.T) {
	r := filepath.Join(t.TempDir(), "repo")
	mustTrove(t, r, nil, "init")
	root := strings.TrimSpace(mustTrove(t, r, strings.NewReader("local\n"), "add", "-q", "-"))
	sock := filepath.Join(r, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"Peer`))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if err := os.WriteFile(filepath.Join(r, "api"), []byte("unix:"+sock+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"get", root, "-o", filepath.Join(t.TempDir(), "out")},
		{"cat", root},
		{"stats"},
	} {
		_, errs, code := trove(t, r, nil, args...)
		if code != exitError || !strings.Contains(errs, "daemon stopped answering") || strings.Count(errs, "Error:") != 1 {
			t.Errorf("%s with the daemon gone mid-command: exit %d, %q", args[0], code, errs)
		}
	}
}
