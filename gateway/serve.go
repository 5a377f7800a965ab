package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/unixfs"
)

// immutable is the Cache-Control of every response named by a CID: the
// bytes can never change, so caches may keep them for as long as they like.
const immutable = "public, max-age=29030400, immutable"

// request is one gateway request after parsing.
type request struct {
	w http.ResponseWriter
	r *http.Request
	// root and parts are the content path: /ipfs/{root}/{parts...}.
	root  cid.Cid
	parts []string
	// dirSlash records a trailing slash in the URL path.
	dirSlash bool
	// cached is true for Cache-Control: only-if-cached.
	cached bool
	// content is the read path, counting progress for the stall timer.
	content Content
	// prefix is what URLs to content paths start with: "/ipfs/{root}" on
	// the path gateway, "" on a subdomain origin.
	prefix string
	// contentPath is the /ipfs/... path the response describes.
	contentPath string
	// gwHost is the gateway's own host on a subdomain origin
	// ({cid}.ipfs.{gwHost}), "" on the path gateway.
	gwHost string
	// rewritten is set once a _redirects rule applied, so rules never
	// chain.
	rewritten bool

	stall *stallTimer
}

// route serves one request after the limits allowed it.
func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	setCORS(w.Header())
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		w.WriteHeader(http.StatusOK)
		return
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		http.Error(w, "405 Method Not Allowed: the gateway is read-only", http.StatusMethodNotAllowed)
		return
	}
	if h.subdomain(w, r) {
		return
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/ipfs/"):
	case strings.HasPrefix(p, "/ipns/"):
		http.Error(w, "501 Not Implemented: trove has no IPNS; use /ipfs/{cid} paths", http.StatusNotImplemented)
		return
	case p == "/":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "trove gateway: open /ipfs/{cid}[/path]")
		return
	default:
		http.Error(w, "404 Not Found: gateway paths start with /ipfs/", http.StatusNotFound)
		return
	}
	if p == "/ipfs/" && r.URL.Query().Get("uri") != "" {
		h.protocolHandler(w, r)
		return
	}
	h.serveContentPath(w, r, strings.TrimPrefix(p, "/ipfs/"), "")
}

// serveContentPath serves /ipfs/{rest}. origin is the gateway host when
// the request came to the subdomain origin {cid}.ipfs.{origin}, where
// links to content are relative to the origin's root; "" on the path
// gateway.
func (h *Handler) serveContentPath(w http.ResponseWriter, r *http.Request, rest string, origin string) {
	rootStr, tail, _ := strings.Cut(rest, "/")
	root, err := cid.Decode(rootStr)
	if err != nil {
		http.Error(w, fmt.Sprintf("400 Bad Request: invalid CID %q: %v", rootStr, err), http.StatusBadRequest)
		return
	}
	req := &request{w: w, r: r, root: root, cached: onlyIfCached(r)}
	req.dirSlash = strings.HasSuffix(rest, "/")
	if tail != "" {
		for _, s := range strings.Split(strings.TrimSuffix(tail, "/"), "/") {
			if s == "" {
				continue
			}
			if err := unixfs.CheckName(s); err != nil {
				http.Error(w, fmt.Sprintf("400 Bad Request: %v", err), http.StatusBadRequest)
				return
			}
			req.parts = append(req.parts, s)
		}
	}
	req.contentPath = "/ipfs/" + rest
	if origin == "" {
		req.prefix = "/ipfs/" + rootStr
	}
	req.gwHost = origin
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	req.stall = newStallTimer(h.o.RetrievalTimeout, func() { cancel(errStalled) })
	defer req.stall.stop()
	req.r = r.WithContext(ctx)
	req.w = &progressWriter{ResponseWriter: w, stall: req.stall}
	req.content = &stallContent{Content: h.b.Content(h.o.Offline || req.cached), stall: req.stall}
	h.dispatch(req)
}

func onlyIfCached(r *http.Request) bool {
	for _, v := range r.Header.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "only-if-cached") {
				return true
			}
		}
	}
	return false
}

func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Range, User-Agent, X-Requested-With")
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, X-Chunked-Output, X-Stream-Output, X-Ipfs-Path, X-Ipfs-Roots")
}

// dispatch picks the response format and serves it.
func (h *Handler) dispatch(q *request) {
	f, err := negotiate(q.r)
	if err != nil {
		h.fail(q, err)
		return
	}
	switch f.kind {
	case fmtRaw:
		h.serveRaw(q)
	case fmtCAR:
		h.serveCAR(q, f)
	case fmtTar:
		h.serveTar(q)
	case fmtDagJSON, fmtDagCBOR, fmtJSON, fmtCBOR:
		h.serveCodec(q, f)
	default:
		h.serveUnixFS(q)
	}
}

// resolution is a content path resolved to its last CID.
type resolution struct {
	target cid.Cid
	// roots are the CIDs of the root and of each path segment, the
	// X-Ipfs-Roots header.
	roots []cid.Cid
	// path are the blocks read to traverse the path (HAMT shards
	// included), in order, for CAR responses.
	path []cid.Cid
}

// resolve walks q.parts from q.root.
func (h *Handler) resolve(q *request) (resolution, error) {
	rec := &recorder{g: q.content}
	res := resolution{target: q.root, roots: []cid.Cid{q.root}}
	for i := 0; i < len(q.parts); i++ {
		cur := res.target
		var next cid.Cid
		var err error
		switch cur.Type() {
		case block.CodecDagPB:
			var e unixfs.DirEntry
			e, err = unixfs.Lookup(q.r.Context(), rec, cur, q.parts[i])
			next = e.Cid
		case block.CodecRaw:
			err = fmt.Errorf("%s is a raw block: %w", cur, unixfs.ErrNotDir)
		default:
			var used int
			next, used, err = resolveIPLD(q.r.Context(), rec, cur, q.parts[i:])
			i += used - 1
		}
		if err != nil {
			return res, err
		}
		res.target = next
		res.roots = append(res.roots, next)
	}
	res.path = rec.seen
	return res, nil
}

// recorder remembers which blocks a walk read, in order, once each.
type recorder struct {
	g    block.Getter
	mu   sync.Mutex
	seen []cid.Cid
	set  map[cid.Cid]bool
}

func (r *recorder) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	b, err := r.g.Get(ctx, c)
	if err == nil {
		r.mu.Lock()
		if r.set == nil {
			r.set = map[cid.Cid]bool{}
		}
		if !r.set[c] {
			r.set[c] = true
			r.seen = append(r.seen, c)
		}
		r.mu.Unlock()
	}
	return b, err
}

func (q *request) setPathHeaders(res resolution) {
	h := q.w.Header()
	h.Set("X-Ipfs-Path", q.escapedPath())
	roots := make([]string, len(res.roots))
	for i, c := range res.roots {
		roots[i] = c.String()
	}
	h.Set("X-Ipfs-Roots", strings.Join(roots, ","))
}

func (q *request) escapedPath() string {
	s := "/ipfs/" + q.root.String()
	for _, p := range q.parts {
		s += "/" + url.PathEscape(p)
	}
	if q.dirSlash {
		s += "/"
	}
	return s
}

// notModified answers 304 when If-None-Match names etag (strong or weak,
// or "*"), and reports whether it did.
func (q *request) notModified(etag string) bool {
	inm := q.r.Header.Get("If-None-Match")
	if inm == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == want {
			q.w.Header().Set("Etag", etag)
			q.w.WriteHeader(http.StatusNotModified)
			return true
		}
	}
	return false
}

// errBadRequest marks errors in what the client asked for.
var errBadRequest = errors.New("bad request")

// errNotAcceptable marks a response format the content cannot be served as.
var errNotAcceptable = errors.New("not acceptable")

// errPathIntoData marks a path that continues into a non-link value.
var errPathIntoData = errors.New("path continues into data that is not a link")

// fail answers an error that happened before the response started.
func (h *Handler) fail(q *request, err error) {
	ctx := q.r.Context()
	code := http.StatusInternalServerError
	msg := err.Error()
	switch {
	case errors.Is(context.Cause(ctx), errStalled):
		code = http.StatusGatewayTimeout
		msg = fmt.Sprintf("no provider delivered the blocks of %s within %v (Gateway.RetrievalTimeout): %v",
			q.contentPath, h.o.RetrievalTimeout, err)
	case q.r.Context().Err() != nil && errors.Is(q.r.Context().Err(), context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
		msg = fmt.Sprintf("request exceeded the gateway's maximum duration: %v", err)
	case ctx.Err() != nil:
		// The client went away; nobody reads an answer.
		return
	case errors.Is(err, errBadRequest), errors.Is(err, unixfs.ErrBadPath):
		code = http.StatusBadRequest
	case errors.Is(err, errNotAcceptable):
		code = http.StatusNotAcceptable
	case errors.Is(err, errPathIntoData), errors.Is(err, block.ErrUnsupported):
		code = http.StatusNotImplemented
	case errors.Is(err, unixfs.ErrNoName), errors.Is(err, unixfs.ErrNotDir):
		code = http.StatusNotFound
	case errors.Is(err, block.ErrNotFound) && q.cached:
		code = http.StatusPreconditionFailed
		msg = "not in the local store (request has Cache-Control: only-if-cached): " + msg
	case errors.Is(err, block.ErrNotFound) && h.o.Offline:
		code = http.StatusNotFound
		msg = "not in the local store, and this gateway serves local content only: " + msg
	case errors.Is(err, block.ErrNotFound):
		code = http.StatusGatewayTimeout
		msg = "no provider could deliver it: " + msg
	case errors.Is(err, unixfs.ErrMalformed), errors.Is(err, block.ErrCorrupt):
		code = http.StatusBadGateway
	}
	if code >= 500 {
		h.o.Logger.Warn("gateway request failed", "path", q.contentPath, "status", code, "err", err)
	}
	hd := q.w.Header()
	for _, k := range []string{"Etag", "Cache-Control", "Content-Disposition", "X-Content-Type-Options"} {
		hd.Del(k)
	}
	http.Error(q.w, fmt.Sprintf("%d %s: %s", code, http.StatusText(code), msg), code)
}

// stallTimer fires when no progress was made for d.
type stallTimer struct {
	d time.Duration
	t *time.Timer
}

func newStallTimer(d time.Duration, fire func()) *stallTimer {
	return &stallTimer{d: d, t: time.AfterFunc(d, fire)}
}

func (s *stallTimer) progress() { s.t.Reset(s.d) }
func (s *stallTimer) stop()     { s.t.Stop() }

// progressWriter counts each write as progress: a body that flows is not
// stalled even when its blocks come slowly.
type progressWriter struct {
	http.ResponseWriter
	stall *stallTimer
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.ResponseWriter.Write(b)
	if n > 0 {
		p.stall.progress()
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (Flush).
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// stallContent counts each block that arrives as progress.
type stallContent struct {
	Content
	stall *stallTimer
}

func (s *stallContent) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if c.Prefix().MhType == identityHash {
		return identityBytes(c)
	}
	b, err := s.Content.Get(ctx, c)
	if err == nil {
		s.stall.progress()
	}
	return b, err
}
