// Package crashpoint is process-level fault injection for the crash tier
// (cmd/trove, build tag crash): named points sit at the moments where a
// crash is most likely to leave a repo half done, and a process started
// with TROVE_CRASHPOINT=name[:nth] kills itself with SIGKILL the nth time
// (default 1) it reaches the point of that name.
//
// The points are compiled into every build. Unarmed, Hit costs one load
// of a pointer that init set to nil and nothing writes again, so the hot
// paths that carry a point (a batch commit, a block store) pay a nil
// check. This is package state on purpose, the one exception to the
// project's no-globals rule: what it models, the process dying, belongs
// to the process, and it is read from the environment once at start and
// never changed, so two nodes in one test process cannot disturb each
// other through it (an unarmed process never kills itself).
package crashpoint

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// Env is the environment variable that arms a point: "name" or
// "name:nth".
const Env = "TROVE_CRASHPOINT"

// The points. Each name says where the process dies; docs/reliability.md
// lists what the crash tier checks after each.
const (
	// BatchFlushed: a batch transaction of an add or dag import is in
	// Badger (blocks written, no pin yet, more blocks to come).
	BatchFlushed = "batch-flushed"
	// AddCommitted: every block of an add is written and synced; the
	// pin is not written.
	AddCommitted = "add-committed"
	// ImportCommitted: every block of a dag import is written and
	// synced; the pins are not written.
	ImportCommitted = "import-committed"
	// PinWritten: a pin is in Badger but its writer has not synced.
	PinWritten = "pin-written"
	// GCMarked: gc has marked what the pins reach and deleted nothing.
	GCMarked = "gc-marked"
	// GCSwept: gc has committed one chunk of deletes (more may follow).
	GCSwept = "gc-swept"
	// Unpinned: pin rm has deleted the pin and not returned.
	Unpinned = "unpinned"
	// FetchStored: a download's batch of received blocks is in Badger
	// (the daemon dies mid-get).
	FetchStored = "fetch-stored"
	// FetchComplete: a download has every block, synced, and the
	// recursive pin that replaces its partial pin is not written.
	FetchComplete = "fetch-complete"
	// GetBeforeRename: get wrote a file's bytes to its temporary name
	// and has not moved it into place (the CLI dies).
	GetBeforeRename = "get-before-rename"
)

// Names lists every point, for the crash tier to walk.
func Names() []string {
	return []string{BatchFlushed, AddCommitted, ImportCommitted, PinWritten, GCMarked, GCSwept, Unpinned, FetchStored, FetchComplete, GetBeforeRename}
}

// target is the armed point; nil when none is.
type target struct {
	name string
	nth  int64
	hits atomic.Int64
}

var armed = parse(os.Getenv(Env))

// parse reads "name[:nth]"; anything unparsable arms nothing.
func parse(v string) *target {
	if v == "" {
		return nil
	}
	name, n, found := strings.Cut(v, ":")
	t := &target{name: name, nth: 1}
	if found {
		nth, err := strconv.ParseInt(n, 10, 64)
		if err != nil || nth < 1 {
			return nil
		}
		t.nth = nth
	}
	return t
}

// Hit marks that the process reached the point name. If that point is
// armed and this is its nth hit, the process dies at once by SIGKILL: no
// deferred function, no flush, as after a power cut of the process.
func Hit(name string) {
	t := armed
	if t == nil || t.name != name {
		return
	}
	if t.hits.Add(1) == t.nth {
		// Process.Kill is SIGKILL on Unix and TerminateProcess on
		// Windows: either way nothing of this process runs after it.
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			p.Kill()
		}
		select {} // the signal is on its way; go no further meanwhile
	}
}
