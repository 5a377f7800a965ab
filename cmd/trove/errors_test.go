package main

import (
	"strings"
	"testing"
)

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
