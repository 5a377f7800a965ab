package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multibase"
)

// maxDNSLabel is the longest label DNS allows; a CID longer than this in
// base32 cannot be a subdomain.
const maxDNSLabel = 63

// subdomain handles the subdomain gateway: requests to {cid}.ipfs.{host}
// are served with the origin's root as the content root, so every site
// gets its own browser origin; path requests to {host} itself redirect
// there. {host} is one of Options.Subdomain, with any port. X-Forwarded-Host
// replaces Host and X-Forwarded-Proto picks the redirect scheme, for a
// reverse proxy in front. It reports whether it answered.
func (h *Handler) subdomain(w http.ResponseWriter, r *http.Request) bool {
	if len(h.o.Subdomain) == 0 {
		return false
	}
	host := r.Host
	if f := r.Header.Get("X-Forwarded-Host"); f != "" {
		host = f
	}
	name := host
	if hn, _, err := net.SplitHostPort(host); err == nil {
		name = hn
	}
	name = strings.ToLower(name)
	for _, gw := range h.o.Subdomain {
		gw = strings.ToLower(gw)
		switch {
		case name == gw:
			return h.redirectToSubdomain(w, r, host)
		case strings.HasSuffix(name, ".ipfs."+gw):
			label := strings.TrimSuffix(name, ".ipfs."+gw)
			gwHost := strings.TrimPrefix(host[len(label):], ".ipfs.")
			h.serveSubdomain(w, r, label, gwHost)
			return true
		}
	}
	return false
}

// redirectToSubdomain answers a path request on a subdomain gateway's
// host with a redirect to the CID's own origin.
func (h *Handler) redirectToSubdomain(w http.ResponseWriter, r *http.Request, host string) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, "/ipfs/")
	if !ok || rest == "" {
		return false
	}
	root, _, _ := strings.Cut(rest, "/")
	c, err := cid.Decode(root)
	if err != nil {
		http.Error(w, fmt.Sprintf("400 Bad Request: invalid path %q: invalid CID: %v", "/ipfs/"+root, err), http.StatusBadRequest)
		return true
	}
	label, err := dnsLabel(c)
	if err != nil {
		http.Error(w, "400 Bad Request: "+err.Error(), http.StatusBadRequest)
		return true
	}
	// Keep the path as the client escaped it.
	tail := strings.TrimPrefix(r.URL.EscapedPath(), "/ipfs/"+root)
	if tail == "" {
		tail = "/"
	}
	scheme := "http"
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	loc := scheme + "://" + label + ".ipfs." + host + tail
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, loc, http.StatusMovedPermanently)
	return true
}

// dnsLabel is c as a CIDv1 in base32, the form a DNS label can hold
// (case-insensitive), or an error when it is too long for one.
func dnsLabel(c cid.Cid) (string, error) {
	v1 := cid.NewCidV1(c.Type(), c.Hash())
	s, err := v1.StringOfBase(multibase.Base32)
	if err != nil {
		return "", err
	}
	if len(s) > maxDNSLabel {
		return "", fmt.Errorf("CID incompatible with DNS label length limit of %d: %s is %d characters", maxDNSLabel, s, len(s))
	}
	return s, nil
}

// serveSubdomain serves a request on the origin {label}.ipfs.{gwHost}.
func (h *Handler) serveSubdomain(w http.ResponseWriter, r *http.Request, label, gwHost string) {
	c, err := cid.Decode(label)
	if err != nil {
		http.Error(w, fmt.Sprintf("400 Bad Request: invalid CID %q in the host name: %v", label, err), http.StatusBadRequest)
		return
	}
	if len(label) > maxDNSLabel {
		_, err := dnsLabel(c)
		if err == nil {
			err = fmt.Errorf("CID incompatible with DNS label length limit of %d", maxDNSLabel)
		}
		http.Error(w, "400 Bad Request: "+err.Error(), http.StatusBadRequest)
		return
	}
	h.serveContentPath(w, r, label+r.URL.Path, gwHost)
}

// protocolHandler turns /ipfs/?uri=ipfs://{cid}/path (what a browser's
// registered ipfs:// handler requests) into the content path.
func (h *Handler) protocolHandler(w http.ResponseWriter, r *http.Request) {
	u, err := url.Parse(r.URL.Query().Get("uri"))
	if err != nil || u.Scheme != "ipfs" || u.Host == "" {
		http.Error(w, "400 Bad Request: uri must be ipfs://{cid}[/path]", http.StatusBadRequest)
		return
	}
	if _, err := cid.Decode(u.Host); err != nil {
		http.Error(w, fmt.Sprintf("400 Bad Request: invalid CID %q: %v", u.Host, err), http.StatusBadRequest)
		return
	}
	loc := "/ipfs/" + u.Host + u.EscapedPath()
	if u.RawQuery != "" {
		loc += "?" + u.RawQuery
	}
	http.Redirect(w, r, loc, http.StatusMovedPermanently)
}
