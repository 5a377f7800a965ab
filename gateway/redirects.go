package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/trove-p2p/trove/unixfs"
)

// maxRedirectsSize caps a _redirects file; it is read whole, per request.
const maxRedirectsSize = 64 << 10

// redirectRule is one line of a _redirects file: requests matching from
// go to to, by redirect (3xx) or by serving to's content with status.
type redirectRule struct {
	from, to string
	status   int
}

var redirectStatuses = map[int]bool{200: true, 301: true, 302: true, 303: true, 307: true, 308: true, 404: true, 410: true, 451: true}

// parseRedirects reads a _redirects file: "from to [status]" per line,
// blank lines and # comments ignored, status 301 unless given.
func parseRedirects(b []byte) ([]redirectRule, error) {
	if len(b) > maxRedirectsSize {
		return nil, fmt.Errorf("redirects file size cannot exceed %d bytes", maxRedirectsSize)
	}
	var rules []redirectRule
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("line %d: want \"from to [status]\", got %q", i+1, line)
		}
		r := redirectRule{from: f[0], to: f[1], status: http.StatusMovedPermanently}
		if !strings.HasPrefix(r.from, "/") {
			return nil, fmt.Errorf("line %d: from %q must start with /", i+1, r.from)
		}
		if !strings.HasPrefix(r.to, "/") && !strings.HasPrefix(r.to, "http://") && !strings.HasPrefix(r.to, "https://") {
			return nil, fmt.Errorf("line %d: to %q must be a path or an http(s) URL", i+1, r.to)
		}
		if len(f) == 3 {
			// Forced rules ("301!"), which would shadow existing paths,
			// are not supported: an error beats silently ignoring "!".
			code, err := strconv.Atoi(f[2])
			if err != nil || !redirectStatuses[code] {
				return nil, fmt.Errorf("line %d: unsupported redirect status %q", i+1, f[2])
			}
			r.status = code
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// match reports whether p matches the rule's from pattern (":name" is one
// segment, a final "*" the rest) and returns to with the placeholders
// (":name", ":splat") filled in.
func (r redirectRule) match(p string) (string, bool) {
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	pat := strings.Split(strings.TrimPrefix(r.from, "/"), "/")
	seg := strings.Split(strings.TrimPrefix(p, "/"), "/")
	vals := map[string]string{}
	for i, s := range pat {
		if s == "*" && i == len(pat)-1 {
			vals["splat"] = strings.Join(seg[min(i, len(seg)):], "/")
			return fill(r.to, vals), true
		}
		if i >= len(seg) {
			return "", false
		}
		switch {
		case strings.HasPrefix(s, ":") && len(s) > 1:
			if seg[i] == "" {
				return "", false
			}
			vals[s[1:]] = seg[i]
		case s != seg[i]:
			return "", false
		}
	}
	if len(seg) != len(pat) {
		return "", false
	}
	return fill(r.to, vals), true
}

func fill(to string, vals map[string]string) string {
	parts := strings.Split(to, "/")
	for i, p := range parts {
		if v, ok := vals[strings.TrimPrefix(p, ":")]; ok && strings.HasPrefix(p, ":") {
			parts[i] = v
		}
	}
	return strings.Join(parts, "/")
}

// redirects applies the root's _redirects file to a request whose path
// does not exist. Only subdomain origins read it: on the shared path
// gateway origin one site's rules would act for all. It reports whether
// it answered.
func (h *Handler) redirects(q *request) bool {
	ctx := q.r.Context()
	e, err := unixfs.Lookup(ctx, q.content, q.root, "_redirects")
	if err != nil {
		return false
	}
	st, err := unixfs.Stat(ctx, q.content, e.Cid)
	if err != nil || (st.Kind != unixfs.KindFile && st.Kind != unixfs.KindRaw) {
		return false
	}
	fail := func(err error) bool {
		h.fail(q, fmt.Errorf("could not parse _redirects: %w", err))
		return true
	}
	if st.Size > maxRedirectsSize {
		return fail(fmt.Errorf("redirects file size cannot exceed %d bytes", maxRedirectsSize))
	}
	f, err := q.content.Open(ctx, e.Cid, true)
	if err != nil {
		return fail(err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRedirectsSize+1))
	f.Close()
	if err != nil {
		return fail(err)
	}
	rules, err := parseRedirects(b)
	if err != nil {
		return fail(err)
	}
	for _, r := range rules {
		to, ok := r.match(q.r.URL.Path)
		if !ok {
			continue
		}
		if r.status >= 300 && r.status < 400 {
			http.Redirect(q.w, q.r, to, r.status)
			return true
		}
		q.rewritten = true
		q.parts = nil
		for _, s := range strings.Split(strings.Trim(to, "/"), "/") {
			if s != "" {
				q.parts = append(q.parts, s)
			}
		}
		if r.status == http.StatusOK {
			h.serveUnixFS(q)
			return true
		}
		h.serveWithStatus(q, r.status)
		return true
	}
	return false
}

// serveWithStatus serves the file at q's (rewritten) path with a status
// other than 200: the custom 404, 410 and 451 pages.
func (h *Handler) serveWithStatus(q *request, status int) {
	res, err := h.resolve(q)
	if err != nil {
		h.fail(q, err)
		return
	}
	f, err := q.content.Open(q.r.Context(), res.target, true)
	if err != nil {
		h.fail(q, err)
		return
	}
	defer f.Close()
	ctype := typeByName(q.name())
	if ctype == "" {
		ctype = "text/html; charset=utf-8"
	}
	hd := q.w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Etag", `"`+res.target.String()+`"`)
	hd.Set("Cache-Control", immutable)
	hd.Set("Content-Length", strconv.FormatInt(f.Size(), 10))
	q.w.WriteHeader(status)
	if q.r.Method != http.MethodHead {
		io.Copy(q.w, f)
	}
}
