package gateway

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"

	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/ipld"
	"github.com/trove-p2p/trove/unixfs"
)

// codecFormats says which response formats serve a block of each codec
// as it is stored. The gateway converts nothing between codecs (IPIP-0524):
// anything else is 406.
var codecFormats = map[uint64]map[fmtKind]bool{
	ipld.DagJSON: {fmtDagJSON: true, fmtJSON: true},
	ipld.JSON:    {fmtDagJSON: true, fmtJSON: true},
	ipld.DagCBOR: {fmtDagCBOR: true, fmtCBOR: true},
	ipld.CBOR:    {fmtDagCBOR: true, fmtCBOR: true},
}

// ownFormat is how a codec's block is served without an explicit format.
var ownFormat = map[uint64]fmtKind{
	ipld.DagJSON: fmtDagJSON, ipld.JSON: fmtJSON, ipld.DagCBOR: fmtDagCBOR, ipld.CBOR: fmtCBOR,
}

// serveCodec answers dag-json, dag-cbor, json and cbor requests, and
// requests without a format for blocks of those codecs: the block's bytes
// as stored, or an HTML preview for a browser.
func (h *Handler) serveCodec(q *request, f format) {
	res, err := h.resolve(q)
	if err != nil {
		h.fail(q, err)
		return
	}
	t := res.target.Type()
	if t == block.CodecDagPB || t == block.CodecRaw {
		if f.kind == fmtJSON || f.kind == fmtCBOR {
			// UnixFS bytes asked for as plain JSON or CBOR: served as
			// the file they are, typed as asked (JSON kept on UnixFS).
			h.serveUnixFSAs(q, res, mediaByFormat[f.kind])
			return
		}
		h.fail(q, fmt.Errorf("%w: %s is %s; the gateway does not convert it to %s",
			errNotAcceptable, res.target, ipld.Name(t), mediaByFormat[f.kind]))
		return
	}
	if _, ok := codecFormats[t]; !ok {
		h.fail(q, fmt.Errorf("%w: codec %s", block.ErrUnsupported, ipld.Name(t)))
		return
	}
	q.setPathHeaders(res)
	if f.kind == fmtDefault && f.html {
		h.serveDagPreview(q, res)
		return
	}
	if f.kind == fmtDefault {
		f.kind = ownFormat[t]
	}
	if !codecFormats[t][f.kind] {
		h.fail(q, fmt.Errorf("%w: %s is %s; the gateway does not convert it to %s",
			errNotAcceptable, res.target, ipld.Name(t), mediaByFormat[f.kind]))
		return
	}
	name := strings.TrimPrefix(formatName(f.kind), "dag-")
	etag := `"` + res.target.String() + "." + formatName(f.kind) + `"`
	if q.notModified(etag) {
		return
	}
	data, err := getBlock(q.r.Context(), q.content, res.target)
	if err != nil {
		h.fail(q, err)
		return
	}
	hd := q.w.Header()
	hd.Set("Content-Type", mediaByFormat[f.kind])
	hd.Set("Etag", etag)
	hd.Set("Cache-Control", immutable)
	hd.Set("X-Content-Type-Options", "nosniff")
	// JSON is text a browser can show; CBOR is not.
	kind := "inline"
	if name == "cbor" {
		kind = "attachment"
	}
	if q.r.URL.Query().Get("download") == "true" {
		kind = "attachment"
	}
	fn := q.r.URL.Query().Get("filename")
	if fn == "" {
		fn = res.target.String() + "." + name
	}
	hd.Set("Content-Disposition", disposition(kind, fn))
	http.ServeContent(q.w, q.r, "", time.Time{}, bytes.NewReader(data))
}

func formatName(k fmtKind) string {
	for n, v := range formatByParam {
		if v == k {
			return n
		}
	}
	return ""
}

// serveUnixFSAs serves a UnixFS file with the given Content-Type.
func (h *Handler) serveUnixFSAs(q *request, res resolution, ctype string) {
	q.setPathHeaders(res)
	if q.notModified(`"` + res.target.String() + `"`) {
		return
	}
	e, err := unixfs.Stat(q.r.Context(), q.content, res.target)
	if err != nil {
		h.fail(q, err)
		return
	}
	if e.Kind != unixfs.KindFile && e.Kind != unixfs.KindRaw {
		h.fail(q, fmt.Errorf("%w: %s is a UnixFS %v, not JSON or CBOR", errNotAcceptable, res.target, e.Kind))
		return
	}
	ranged := q.r.Header.Get("Range") != ""
	file, err := q.content.Open(q.r.Context(), res.target, q.r.Method == http.MethodGet && !ranged)
	if err != nil {
		h.fail(q, err)
		return
	}
	defer file.Close()
	hd := q.w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Etag", `"`+res.target.String()+`"`)
	hd.Set("Cache-Control", immutable)
	setDisposition(q, q.name())
	http.ServeContent(q.w, q.r, "", time.Time{}, file)
}

// serveDagPreview renders a codec block as HTML for a browser: its
// dag-json form, with links made clickable.
func (h *Handler) serveDagPreview(q *request, res resolution) {
	etag := fmt.Sprintf(`"DagIndex-%s_CID-%s"`, listingVersion, res.target)
	if q.notModified(etag) {
		return
	}
	data, err := getBlock(q.r.Context(), q.content, res.target)
	if err != nil {
		h.fail(q, err)
		return
	}
	n, err := ipld.Decode(res.target, data)
	if err != nil {
		h.fail(q, fmt.Errorf("%w: %v", block.ErrCorrupt, err))
		return
	}
	var js bytes.Buffer
	if err := ipld.Encode(&js, n, ipld.DagJSON); err != nil {
		h.fail(q, err)
		return
	}
	links, _ := ipld.Links(res.target, data)
	hd := q.w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Etag", etag)
	hd.Set("Cache-Control", "public, max-age=604800, stale-while-revalidate=2678400")
	if q.r.Method == http.MethodHead {
		return
	}
	var b strings.Builder
	title := html.EscapeString(q.contentPath)
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head><body>\n", title)
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p>%s, %d bytes. Download as <a href=\"?format=%s\">%s</a> or <a href=\"?format=raw\">raw block</a>.</p>\n",
		title, ipld.Name(res.target.Type()), len(data), formatName(ownFormat[res.target.Type()]), ipld.Name(res.target.Type()))
	fmt.Fprintf(&b, "<pre>%s</pre>\n", html.EscapeString(js.String()))
	if len(links) > 0 {
		b.WriteString("<h2>Links</h2>\n<ul>\n")
		for _, l := range links {
			fmt.Fprintf(&b, "<li><a href=\"/ipfs/%s\">%s</a></li>\n", l, l)
		}
		b.WriteString("</ul>\n")
	}
	b.WriteString("</body></html>\n")
	io.WriteString(q.w, b.String())
}

// resolveIPLD follows path segments through the data of a dag-cbor or
// dag-json block (map keys, list indexes) up to the first link, which it
// returns with the number of segments it used. A path that ends, or runs
// into a scalar, before reaching a link names data inside a block, which
// the gateway does not serve (501); a missing key is 404.
func resolveIPLD(ctx context.Context, g block.Getter, c cid.Cid, parts []string) (cid.Cid, int, error) {
	data, err := getBlock(ctx, g, c)
	if err != nil {
		return cid.Undef, 0, err
	}
	n, err := ipld.Decode(c, data)
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("%w: %v", block.ErrCorrupt, err)
	}
	for i, seg := range parts {
		var next datamodel.Node
		switch n.Kind() {
		case datamodel.Kind_Map:
			next, err = n.LookupByString(seg)
		case datamodel.Kind_List:
			idx, perr := strconv.ParseInt(seg, 10, 64)
			if perr != nil || idx < 0 {
				return cid.Undef, 0, fmt.Errorf("%s/%s: list index %q: %w", c, strings.Join(parts[:i+1], "/"), seg, unixfs.ErrNoName)
			}
			next, err = n.LookupByIndex(idx)
		default:
			return cid.Undef, 0, fmt.Errorf("%s/%s: %w", c, strings.Join(parts[:i+1], "/"), errPathIntoData)
		}
		if err != nil {
			return cid.Undef, 0, fmt.Errorf("%s/%s: %w", c, strings.Join(parts[:i+1], "/"), unixfs.ErrNoName)
		}
		if next.Kind() == datamodel.Kind_Link {
			l, _ := next.AsLink()
			cl, ok := l.(cidlink.Link)
			if !ok {
				return cid.Undef, 0, fmt.Errorf("%s: %w", c, errPathIntoData)
			}
			return cl.Cid, i + 1, nil
		}
		n = next
	}
	return cid.Undef, 0, fmt.Errorf("%s/%s: %w", c, strings.Join(parts, "/"), errPathIntoData)
}

// ipldLinks lists the links of a block of another codec.
func ipldLinks(c cid.Cid, data []byte) ([]cid.Cid, error) {
	return ipld.Links(c, data)
}
