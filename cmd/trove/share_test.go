package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestOwnTicketNoWarning: cat or ls of the ticket this node's own share
// printed (the first thing a user tries) warned "could not reach" it:
// a node cannot dial itself.
func TestOwnTicketNoWarning(t *testing.T) {
	r := filepath.Join(t.TempDir(), "repo")
	mustTrove(t, r, nil, "init")
	startInProcessDaemon(t, r)
	root := strings.TrimSpace(mustTrove(t, r, strings.NewReader("mine\n"), "add", "-q", "-"))
	tk := strings.TrimSpace(mustTrove(t, r, nil, "share", root))
	out, errs, code := trove(t, r, nil, "cat", tk)
	if code != 0 || out != "mine\n" || errs != "" {
		t.Errorf("cat of this node's own ticket: exit %d, %q, stderr %q", code, out, errs)
	}
}
