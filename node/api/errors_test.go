package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

var errQuota = errors.New("quota exceeded")

func TestErrorKindsRoundTrip(t *testing.T) {
	_, cidErr := cid.Decode("bafy-not-a-cid")
	if cidErr == nil {
		t.Fatal("cid.Decode accepted garbage")
	}
	c0, _ := block.Sum(1, block.CodecRaw, block.HashSHA256, []byte("x"))
	errs := map[string]error{
		"notfound":   block.NotFound(c0),
		"nofile":     fmt.Errorf("open /x: %w", os.ErrNotExist),
		"perm":       &fs.PathError{Op: "open", Path: "/root/x", Err: os.ErrPermission},
		"canceled":   fmt.Errorf("fetch: %w", context.Canceled),
		"deadline":   fmt.Errorf("fetch: %w", context.DeadlineExceeded),
		"cid":        fmt.Errorf("parse: %w", cidErr),
		"badcid":     fmt.Errorf("%w: %q", ErrBadCID, "x"),
		"locked":     fmt.Errorf("open repo: %w", ErrLocked),
		"badreq":     fmt.Errorf("%w: depth -1", ErrBadRequest),
		"quota":      fmt.Errorf("pin: %w", errQuota),
		"plain":      errors.New("disk on fire"),
		"notfound+x": fmt.Errorf("%w and also %w", block.ErrNotFound, errQuota),
		"corrupt":    fmt.Errorf("%s: %w", c0, block.ErrCorrupt),
		"exists":     &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrExist},
		"toolarge":   fmt.Errorf("put: %w", block.ErrTooLarge),
		"unsupp":     fmt.Errorf("%w: md5", block.ErrUnsupported),
	}
	kinds := func() *Kinds {
		k := DefaultKinds()
		k.Register("quota", http.StatusInsufficientStorage, errQuota)
		return k
	}
	s := startServer(t, Options{Kinds: kinds()}, func(s *Server) {
		testRoutes(s, func(name string) error { return errs[name] })
	})
	c, err := DialWith(s.repo, ClientOptions{Kinds: kinds()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name   string
		kind   string
		status int
		is     []error
		isNot  []error
	}{
		{"notfound", KindNotFound, 404, []error{block.ErrNotFound}, []error{os.ErrNotExist}},
		{"nofile", KindNoFile, 404, []error{os.ErrNotExist, fs.ErrNotExist}, []error{block.ErrNotFound}},
		{"perm", KindPermission, 403, []error{os.ErrPermission}, nil},
		{"canceled", KindCanceled, StatusClientClosed, []error{context.Canceled}, []error{context.DeadlineExceeded}},
		{"deadline", KindDeadline, 504, []error{context.DeadlineExceeded}, []error{context.Canceled}},
		// Any cid.ErrInvalidCid value matches, so a package's own
		// ErrInvalidCid-typed sentinel works without registration.
		{"cid", KindBadCID, 400, []error{ErrBadCID, cid.ErrInvalidCid{}, cid.ErrInvalidCid{Err: errors.New("elsewhere")}}, []error{block.ErrUnsupported}},
		{"badcid", KindBadCID, 400, []error{ErrBadCID}, nil},
		{"locked", KindLocked, 409, []error{ErrLocked}, nil},
		{"badreq", KindBadRequest, 400, []error{ErrBadRequest}, []error{ErrBadCID}},
		{"quota", "quota", 507, []error{errQuota}, nil},
		{"plain", KindInternal, 500, nil, []error{block.ErrNotFound, os.ErrNotExist, context.Canceled}},
		// first registered match wins
		{"notfound+x", KindNotFound, 404, []error{block.ErrNotFound}, []error{errQuota}},
		{"corrupt", KindCorrupt, 500, []error{block.ErrCorrupt}, nil},
		{"exists", KindExists, 409, []error{fs.ErrExist}, []error{fs.ErrNotExist}},
		{"toolarge", KindTooLarge, 413, []error{block.ErrTooLarge}, nil},
		{"unsupp", KindUnsupported, 400, []error{block.ErrUnsupported}, []error{ErrBadCID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Call(context.Background(), "POST", "/v0/fail", echoArgs{Text: tc.name}, nil)
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("got %T %v, want *Error", err, err)
			}
			if ae.Kind != tc.kind || ae.Status != tc.status {
				t.Errorf("kind %q status %d, want %q %d", ae.Kind, ae.Status, tc.kind, tc.status)
			}
			if ae.Error() != errs[tc.name].Error() {
				t.Errorf("message %q, want the server's %q", ae.Error(), errs[tc.name].Error())
			}
			for _, s := range tc.is {
				if !errors.Is(err, s) {
					t.Errorf("errors.Is(%v, %v) = false", err, s)
				}
			}
			for _, s := range tc.isNot {
				if errors.Is(err, s) {
					t.Errorf("errors.Is(%v, %v) = true", err, s)
				}
			}
		})
	}
	// An unregistered kind on the client still yields a usable error.
	plain, _ := DialWith(s.repo, ClientOptions{})
	defer plain.Close()
	err = plain.Call(context.Background(), "POST", "/v0/fail", echoArgs{Text: "quota"}, nil)
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != "quota" || errors.Is(err, errQuota) {
		t.Errorf("unknown kind on client: %v", err)
	}
	// A malformed argument body is the caller's fault.
	err = c.Call(context.Background(), "POST", "/v0/echo", map[string]any{"times": "many"}, nil)
	if !errors.Is(err, ErrBadRequest) {
		t.Errorf("bad args: %v, want ErrBadRequest", err)
	}
	// No such route: the mux's plain-text 404 still maps to a kind.
	err = c.Call(context.Background(), "POST", "/v0/nope", nil, nil)
	if !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("unknown route: %v", err)
	}
}

func TestUnencodableResults(t *testing.T) {
	type bad struct{ F float64 }
	s := startServer(t, Options{}, func(s *Server) {
		s.Handle("POST /v0/nan", JSONHandler(func(context.Context, struct{}) (bad, error) {
			return bad{math.NaN()}, nil
		}))
		s.Handle("POST /v0/nan-events", EventHandler(func(_ context.Context, _ struct{}, _ io.Reader, emit func(any) error) (bad, error) {
			if err := emit(progress{1}); err != nil {
				return bad{}, err
			}
			if err := emit(bad{math.Inf(1)}); err == nil {
				return bad{}, errors.New("unencodable event accepted")
			}
			return bad{math.NaN()}, nil
		}))
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ae *Error
	err = c.Call(context.Background(), "POST", "/v0/nan", nil, &bad{})
	if !errors.As(err, &ae) || ae.Status != 500 || ae.Kind != KindInternal {
		t.Errorf("call: %v", err)
	}
	events := 0
	err = c.Events(context.Background(), Request{Path: "/v0/nan-events"}, func(json.RawMessage) error { events++; return nil }, &bad{})
	if !errors.As(err, &ae) || ae.Kind != KindInternal || events != 1 {
		t.Errorf("events: %v after %d events", err, events)
	}
}
