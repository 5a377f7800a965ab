package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseAPIFile: the api file is written by a daemon but read by every
// CLI invocation, possibly after a crash or a hand edit; it must never panic
// and what it accepts must be usable and survive a rewrite unchanged.
func FuzzParseAPIFile(f *testing.F) {
	f.Add([]byte("unix:/tmp/r/api.sock\ntcp:127.0.0.1:5801\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		addrs, err := ParseAPIFile(data)
		if err != nil {
			return
		}
		var lines []string
		for _, a := range addrs {
			switch a.Network {
			case "unix":
				if !filepath.IsAbs(a.Address) {
					t.Fatalf("accepted relative socket %q", a.Address)
				}
			case "tcp":
				if _, _, err := net.SplitHostPort(a.Address); err != nil {
					t.Fatalf("accepted bad tcp address %q", a.Address)
				}
			default:
				t.Fatalf("accepted network %q", a.Network)
			}
			lines = append(lines, a.String())
		}
		again, err := ParseAPIFile([]byte(strings.Join(lines, "\n")))
		if err != nil || len(again) != len(addrs) {
			t.Fatalf("re-parse of %q: %v %v", lines, again, err)
		}
		for i := range again {
			if again[i] != addrs[i] {
				t.Fatalf("round trip changed %v to %v", addrs[i], again[i])
			}
		}
	})
}

// FuzzReadEvents: the NDJSON decoder must not panic on any byte stream and
// must only report success when a result frame actually arrived, since a
// truncated add that looked successful would lose data silently.
func FuzzReadEvents(f *testing.F) {
	f.Add([]byte(`{"event":{"n":1}}` + "\n" + `{"result":{"out":"x"}}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Client{kinds: DefaultKinds()}
		var result json.RawMessage
		events := 0
		err := c.readEvents(context.Background(), bytes.NewReader(data), func(json.RawMessage) error {
			events++
			return nil
		}, &result)
		if err == nil {
			if result == nil {
				t.Fatalf("success without a result in %q", data)
			}
			return
		}
		var ae *Error
		if errors.As(err, &ae) && ae.Kind == "" {
			t.Fatalf("remote error without kind: %v", err)
		}
		if events > bytes.Count(data, []byte("{")) {
			t.Fatalf("%d events from %q", events, data)
		}
	})
}

// FuzzDecodeError: whatever a non-2xx response holds (our envelope, a
// proxy's HTML, garbage), the client must produce an *Error with a kind and
// a message, since the CLI derives its exit code and output from them.
func FuzzDecodeError(f *testing.F) {
	f.Add(404, []byte(`{"error":"block x: not found","kind":"not_found"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			status = 500
		}
		c := &Client{kinds: DefaultKinds()}
		resp := &http.Response{StatusCode: status, Status: http.StatusText(status), Body: io.NopCloser(bytes.NewReader(body))}
		err := c.decodeError(resp)
		var ae *Error
		if !errors.As(err, &ae) {
			t.Fatalf("%T is not *Error", err)
		}
		if ae.Kind == "" || ae.Message == "" || ae.Status != status {
			t.Fatalf("incomplete error %+v", ae)
		}
	})
}
