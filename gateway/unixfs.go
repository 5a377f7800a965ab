package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/unixfs"
)

// sniffLen is how many leading bytes decide a Content-Type when the name
// has no known extension (the length http.DetectContentType looks at).
const sniffLen = 512

// serveUnixFS answers a request with no explicit format: files as
// themselves, directories as their index.html or a listing.
func (h *Handler) serveUnixFS(q *request) {
	res, err := h.resolve(q)
	if err != nil {
		if q.gwHost != "" && !q.rewritten && errors.Is(err, unixfs.ErrNoName) && h.redirects(q) {
			return
		}
		h.fail(q, err)
		return
	}
	if t := res.target.Type(); t != block.CodecDagPB && t != block.CodecRaw {
		// Codec data without a format: served as its own codec.
		h.serveCodec(q, format{kind: fmtDefault, html: wantsHTML(q.r)})
		return
	}
	q.setPathHeaders(res)
	if q.notModified(`"` + res.target.String() + `"`) {
		return
	}
	if res.target.Prefix().MhType == identityHash {
		data, err := identityBytes(res.target)
		if err != nil {
			h.fail(q, err)
			return
		}
		h.serveBytes(q, res.target, q.name(), data)
		return
	}
	e, err := unixfs.Stat(q.r.Context(), q.content, res.target)
	if err != nil {
		h.fail(q, err)
		return
	}
	switch e.Kind {
	case unixfs.KindDirectory:
		h.serveDir(q, res, e)
	case unixfs.KindSymlink:
		q.w.Header().Set("Cache-Control", immutable)
		q.w.Header().Set("Etag", `"`+res.target.String()+`"`)
		q.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		q.w.Header().Set("Content-Length", fmt.Sprint(len(e.Target)))
		if q.r.Method != http.MethodHead {
			io.WriteString(q.w, e.Target)
		}
	default:
		h.serveFile(q, res.target, q.name())
	}
}

// name is the file name the response is for: ?filename= or the last path
// segment, or "" for a bare CID.
func (q *request) name() string {
	if f := q.r.URL.Query().Get("filename"); f != "" {
		return f
	}
	if len(q.parts) > 0 {
		return q.parts[len(q.parts)-1]
	}
	return ""
}

func wantsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, a := range strings.Split(v, ",") {
			mt, _, _ := mime.ParseMediaType(strings.TrimSpace(a))
			if mt == "text/html" {
				return true
			}
		}
	}
	return false
}

// serveFile streams a UnixFS file with range support. A request without
// Range downloads the whole DAG in the background; a range request only
// fetches the blocks its ranges cover.
func (h *Handler) serveFile(q *request, c cid.Cid, name string) {
	ranged := q.r.Header.Get("Range") != ""
	whole := q.r.Method == http.MethodGet && !ranged
	f, err := q.content.Open(q.r.Context(), c, whole)
	if err != nil {
		h.fail(q, err)
		return
	}
	defer f.Close()
	ctype, err := h.contentType(q, c, f, name, ranged)
	if err != nil {
		h.fail(q, err)
		return
	}
	hd := q.w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Etag", `"`+c.String()+`"`)
	hd.Set("Cache-Control", immutable)
	setDisposition(q, name)
	sendFile(q, f, ranged)
}

// sendFile writes an open file as the response body. A whole-file GET
// streams it block by block (File's WriteTo hands each block to the
// connection in one write, several times faster than http.ServeContent's
// 32 KiB copy); ranges, conditional requests and HEAD go through
// ServeContent, which seeks the file and so reads only the blocks under
// each range.
func sendFile(q *request, f File, ranged bool) {
	wt, ok := f.(io.WriterTo)
	if ranged || !ok || q.r.Method != http.MethodGet || q.r.Header.Get("If-Range") != "" || q.r.Header.Get("If-Match") != "" {
		http.ServeContent(q.w, q.r, "", time.Time{}, f)
		return
	}
	q.w.Header().Set("Accept-Ranges", "bytes")
	q.w.Header().Set("Content-Length", strconv.FormatInt(f.Size(), 10))
	q.w.WriteHeader(http.StatusOK)
	if _, err := wt.WriteTo(q.w); err != nil {
		// The status is out; cut the connection so the client sees a
		// short body rather than a complete-looking one.
		panic(http.ErrAbortHandler)
	}
}

// contentType picks the Content-Type from the name's extension, else
// from the first bytes. A range request sniffs only if those bytes are
// local: fetching them would break its promise to fetch only the range.
func (h *Handler) contentType(q *request, c cid.Cid, f File, name string, ranged bool) (string, error) {
	if t := typeByName(name); t != "" {
		return t, nil
	}
	r := io.ReaderAt(f)
	if ranged {
		lf, err := h.b.Content(true).Open(q.r.Context(), c, false)
		if err != nil {
			return "application/octet-stream", nil
		}
		defer lf.Close()
		r = lf
	}
	buf := make([]byte, sniffLen)
	n, err := r.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		if ranged {
			return "application/octet-stream", nil
		}
		return "", err
	}
	return sniff(buf[:n]), nil
}

func typeByName(name string) string {
	ext := strings.ToLower(path.Ext(name))
	switch ext {
	case "":
		return ""
	case ".svg":
		// Some systems' mime tables lack it; browsers need it to render.
		return "image/svg+xml"
	case ".md":
		return "text/markdown; charset=utf-8"
	}
	return mime.TypeByExtension(ext)
}

func sniff(b []byte) string {
	t := http.DetectContentType(b)
	if strings.HasPrefix(t, "text/plain") && len(b) < sniffLen {
		// The whole file is here: if it parses as JSON, say so, so
		// that JSON kept as UnixFS opens as JSON.
		if s := bytes.TrimSpace(b); len(s) > 0 && (s[0] == '{' || s[0] == '[') && json.Valid(s) {
			return "application/json"
		}
	}
	if strings.HasPrefix(t, "text/plain") && bytes.Contains(b, []byte("<svg")) {
		return "image/svg+xml"
	}
	return t
}

// setDisposition honours ?filename= (inline) and ?download=true
// (attachment), with an ASCII fallback name for old clients.
func setDisposition(q *request, name string) {
	qs := q.r.URL.Query()
	fn := qs.Get("filename")
	dl := qs.Get("download") == "true"
	if fn == "" && !dl {
		return
	}
	if fn == "" {
		fn = name
	}
	kind := "inline"
	if dl {
		kind = "attachment"
	}
	q.w.Header().Set("Content-Disposition", disposition(kind, fn))
}

// disposition formats a Content-Disposition with an ASCII filename and,
// when needed, the RFC 5987 UTF-8 one.
func disposition(kind, name string) string {
	if name == "" {
		return kind
	}
	var ascii strings.Builder
	plain := true
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || r == '"' || r == '\\' || r > 0x7e:
			ascii.WriteByte('_')
			plain = false
		default:
			ascii.WriteRune(r)
		}
	}
	s := fmt.Sprintf(`%s; filename="%s"`, kind, ascii.String())
	if !plain {
		s += "; filename*=UTF-8''" + url.PathEscape(name)
	}
	return s
}

// serveBytes serves a small in-memory body (identity CIDs).
func (h *Handler) serveBytes(q *request, c cid.Cid, name string, data []byte) {
	hd := q.w.Header()
	t := typeByName(name)
	if t == "" {
		t = sniff(data)
	}
	hd.Set("Content-Type", t)
	hd.Set("Etag", `"`+c.String()+`"`)
	hd.Set("Cache-Control", immutable)
	setDisposition(q, name)
	http.ServeContent(q.w, q.r, "", time.Time{}, bytes.NewReader(data))
}

// serveDir serves a directory: redirect to the slash form, then its
// index.html if it has one, else a listing.
func (h *Handler) serveDir(q *request, res resolution, e unixfs.Entry) {
	if !strings.HasSuffix(q.r.URL.Path, "/") {
		loc := q.r.URL.EscapedPath() + "/"
		if q.r.URL.RawQuery != "" {
			loc += "?" + q.r.URL.RawQuery
		}
		http.Redirect(q.w, q.r, loc, http.StatusMovedPermanently)
		return
	}
	idx, err := unixfs.Lookup(q.r.Context(), q.content, res.target, "index.html")
	switch {
	case err == nil:
		ie, err := unixfs.Stat(q.r.Context(), q.content, idx.Cid)
		if err != nil {
			h.fail(q, err)
			return
		}
		if ie.Kind == unixfs.KindFile || ie.Kind == unixfs.KindRaw {
			h.serveIndex(q, res.target, idx.Cid)
			return
		}
	case !errors.Is(err, unixfs.ErrNoName):
		h.fail(q, err)
		return
	}
	h.serveListing(q, res)
}

// serveIndex serves dir/index.html; its ETag is the directory's, since the
// URL names the directory.
func (h *Handler) serveIndex(q *request, dir, file cid.Cid) {
	whole := q.r.Method == http.MethodGet && q.r.Header.Get("Range") == ""
	f, err := q.content.Open(q.r.Context(), file, whole)
	if err != nil {
		h.fail(q, err)
		return
	}
	defer f.Close()
	hd := q.w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Etag", `"`+dir.String()+`"`)
	hd.Set("Cache-Control", immutable)
	sendFile(q, f, q.r.Header.Get("Range") != "")
}

// listingVersion changes whenever the listing's HTML does, so cached
// listings (whose ETag includes it) are not served after an upgrade.
var listingVersion = func() string {
	h := fnv.New64a()
	h.Write([]byte(listingHead + listingRow + listingTail))
	return fmt.Sprintf("%x", h.Sum64())
}()

const (
	listingHead = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>%s</title>
<style>body{font-family:sans-serif;margin:2em}td{padding:.2em 1em}.ipfs-hash{font-family:monospace;color:#666}</style>
</head><body>
<h1>Index of %s</h1>
<p><strong>%s</strong></p>
<table>
`
	listingRow  = `<tr><td><a href="%s">%s</a></td><td><a class="ipfs-hash" translate="no" href="%s">%s</a></td><td>%s</td></tr>` + "\n"
	listingTail = "</table>\n</body></html>\n"
)

// serveListing renders a directory as HTML.
func (h *Handler) serveListing(q *request, res resolution) {
	etag := fmt.Sprintf(`"DirIndex-%s_CID-%s"`, listingVersion, res.target)
	if q.notModified(etag) {
		return
	}
	entries, err := unixfs.ReadDir(q.r.Context(), q.content, res.target)
	if err != nil {
		h.fail(q, err)
		return
	}
	hd := q.w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Etag", etag)
	hd.Set("Cache-Control", "public, max-age=604800, stale-while-revalidate=2678400")
	if q.r.Method == http.MethodHead {
		return
	}
	var b strings.Builder
	// Breadcrumbs: each segment links to its own content path.
	// On a subdomain origin they point at the path gateway of the parent
	// host, since the origin's own paths are inside the content.
	base := q.gatewayBase() + "/ipfs/" + q.root.String()
	crumbs := `/ipfs/<a href="` + base + `">` + html.EscapeString(q.root.String()) + `</a>`
	acc := ""
	for _, p := range q.parts {
		acc += "/" + url.PathEscape(p)
		crumbs += `/<a href="` + base + acc + `">` + html.EscapeString(p) + `</a>`
	}
	title := html.EscapeString(q.contentPath)
	fmt.Fprintf(&b, listingHead, title, title, crumbs)
	if len(q.parts) > 0 {
		fmt.Fprintf(&b, `<tr><td><a href="%s">..</a></td><td></td><td></td></tr>`+"\n", q.link(acc+"/.."))
	}
	for _, e := range entries {
		href := q.link(acc + "/" + url.PathEscape(e.Name))
		hash := q.hashLink(e.Cid) + "?filename=" + url.QueryEscape(url.PathEscape(e.Name))
		size := ""
		if e.Tsize > 0 {
			size = humanSize(e.Tsize)
		}
		fmt.Fprintf(&b, listingRow, href, html.EscapeString(e.Name), hash, shortCID(e.Cid), size)
	}
	b.WriteString(listingTail)
	io.WriteString(q.w, b.String())
}

// link is the URL of the content path prefix+rel on this origin.
func (q *request) link(rel string) string {
	if q.prefix == "" && rel == "" {
		return "/"
	}
	return q.prefix + rel
}

// hashLink is the URL of c on its own (path form, even on a subdomain
// origin, where it is the gateway's root).
func (q *request) hashLink(c cid.Cid) string {
	return q.gatewayBase() + "/ipfs/" + c.String()
}

// gatewayBase is "" on the path gateway and "//{gateway host}" on a
// subdomain origin.
func (q *request) gatewayBase() string {
	if q.gwHost == "" {
		return ""
	}
	return "//" + q.gwHost
}

func shortCID(c cid.Cid) string {
	s := c.String()
	if len(s) > 16 {
		return s[:8] + "&hellip;" + s[len(s)-6:]
	}
	return s
}

func humanSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
