package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// Error kinds carried in the JSON error envelope. They are the contract
// between daemon and CLI: the CLI picks its exit code from the sentinel the
// kind maps back to, so a command fails identically with or without a daemon.
const (
	KindNotFound    = "not_found"
	KindBadCID      = "bad_cid"
	KindLocked      = "locked"
	KindPermission  = "permission"
	KindNoFile      = "no_file"
	KindBadRequest  = "bad_request"
	KindStopping    = "stopping"
	KindCanceled    = "canceled"
	KindDeadline    = "deadline"
	KindCorrupt     = "corrupt"
	KindExists      = "exists"
	KindTooLarge    = "too_large"
	KindUnsupported = "unsupported"
	KindInternal    = "internal"
)

// Sentinels for kinds that have no natural home in the standard library or
// package block. Other packages may register their own sentinels for the same
// kinds (e.g. the repo's lock error under KindLocked).
var (
	ErrBadCID     = errors.New("invalid CID")
	ErrLocked     = errors.New("repo is locked by another process")
	ErrBadRequest = errors.New("bad request")
	// ErrStopping is why requests are cancelled when the daemon shuts
	// down, so a client can tell that from its own cancellation.
	ErrStopping = errors.New("the daemon is stopping")
)

// StatusClientClosed is the non-standard status (nginx's convention) for a
// request whose client went away; nobody reads it except logs and metrics.
const StatusClientClosed = 499

type kindEntry struct {
	kind     string
	status   int
	sentinel error
}

// Kinds maps errors to envelope kinds on the server and kinds back to
// sentinel errors on the client. It is passed explicitly (Options,
// ClientOptions) instead of living in a package variable so that several
// nodes in one process can differ, and so tests cannot leak registrations.
// It is safe for concurrent use.
type Kinds struct {
	mu      sync.RWMutex
	entries []kindEntry
}

// DefaultKinds returns a fresh registry holding trove's standard kinds.
// Each call returns a new value the caller may extend with Register.
func DefaultKinds() *Kinds {
	k := &Kinds{}
	k.Register(KindStopping, http.StatusServiceUnavailable, ErrStopping)
	k.Register(KindCanceled, StatusClientClosed, context.Canceled)
	k.Register(KindDeadline, http.StatusGatewayTimeout, context.DeadlineExceeded)
	k.Register(KindNotFound, http.StatusNotFound, block.ErrNotFound)
	k.Register(KindBadCID, http.StatusBadRequest, ErrBadCID)
	// go-cid's parse errors all satisfy errors.Is against any ErrInvalidCid
	// value; wrapping ErrBadCID keeps the client-side error printable.
	k.Register(KindBadCID, http.StatusBadRequest, cid.ErrInvalidCid{Err: ErrBadCID})
	k.Register(KindLocked, http.StatusConflict, ErrLocked)
	k.Register(KindPermission, http.StatusForbidden, os.ErrPermission)
	k.Register(KindNoFile, http.StatusNotFound, os.ErrNotExist)
	k.Register(KindBadRequest, http.StatusBadRequest, ErrBadRequest)
	k.Register(KindCorrupt, http.StatusInternalServerError, block.ErrCorrupt)
	k.Register(KindExists, http.StatusConflict, fs.ErrExist)
	k.Register(KindTooLarge, http.StatusRequestEntityTooLarge, block.ErrTooLarge)
	k.Register(KindUnsupported, http.StatusBadRequest, block.ErrUnsupported)
	return k
}

// Register adds sentinel under kind. Server side, errors are classified by
// the first registered sentinel they match (errors.Is), so register more
// specific sentinels before broader ones. Client side, an error of that kind
// matches every sentinel registered for it.
func (k *Kinds) Register(kind string, status int, sentinel error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.entries = append(k.entries, kindEntry{kind, status, sentinel})
}

// Classify returns the kind and HTTP status for err; unknown errors are
// KindInternal with status 500.
func (k *Kinds) Classify(err error) (kind string, status int) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, e := range k.entries {
		if errors.Is(err, e.sentinel) {
			return e.kind, e.status
		}
	}
	return KindInternal, http.StatusInternalServerError
}

func (k *Kinds) sentinels(kind string) []error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []error
	for _, e := range k.entries {
		if e.kind == kind {
			out = append(out, e.sentinel)
		}
	}
	return out
}

// Error is a failure reported by the daemon. Its message is the server's
// error text verbatim, so the CLI prints the same words either way, and it
// unwraps to the sentinels registered for its kind so errors.Is works.
type Error struct {
	Kind    string
	Message string
	Status  int // 0 when the error arrived in a stream frame or trailer

	sentinels []error
}

func (e *Error) Error() string   { return e.Message }
func (e *Error) Unwrap() []error { return e.sentinels }

// envelope is the JSON error body and the error frame of event streams.
type envelope struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

// requestEnvelope is envelope for a handler's error: a cancellation
// caused by the server shutting down is reported as ErrStopping.
func requestEnvelope(r *http.Request, err error) (envelope, int) {
	if errors.Is(err, context.Canceled) && errors.Is(context.Cause(r.Context()), ErrStopping) && !errors.Is(err, ErrStopping) {
		err = fmt.Errorf("%w: %w", ErrStopping, err)
	}
	return kindsFrom(r.Context()).envelope(err)
}

func (k *Kinds) envelope(err error) (envelope, int) {
	kind, status := k.Classify(err)
	return envelope{Error: err.Error(), Kind: kind}, status
}

func (k *Kinds) fromEnvelope(env envelope, status int) *Error {
	kind := env.Kind
	if kind == "" {
		kind = KindInternal
	}
	msg := env.Error
	if msg == "" {
		msg = kind
		if status != 0 {
			msg = strings.TrimSpace(fmt.Sprintf("%d %s (%s)", status, http.StatusText(status), kind))
		}
	}
	return &Error{Kind: kind, Message: msg, Status: status, sentinels: k.sentinels(kind)}
}
