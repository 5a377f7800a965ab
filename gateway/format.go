package gateway

import (
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

type fmtKind int

const (
	fmtDefault fmtKind = iota // UnixFS as a web server would, or codec default
	fmtRaw
	fmtCAR
	fmtTar
	fmtDagJSON
	fmtDagCBOR
	fmtJSON
	fmtCBOR
)

// format is the response format a request asked for.
type format struct {
	kind fmtKind
	// explicit is true when ?format= or Accept named the format (as
	// opposed to the default for the content).
	explicit bool
	// html is true when the client prefers text/html (a browser), which
	// gets the HTML preview of codec data.
	html bool
	// params are the media type parameters from Accept (CAR version,
	// order, dups).
	params map[string]string
}

var formatByParam = map[string]fmtKind{
	"raw": fmtRaw, "car": fmtCAR, "tar": fmtTar,
	"dag-json": fmtDagJSON, "dag-cbor": fmtDagCBOR, "json": fmtJSON, "cbor": fmtCBOR,
}

var formatByMedia = map[string]fmtKind{
	"application/vnd.ipld.raw":      fmtRaw,
	"application/vnd.ipld.car":      fmtCAR,
	"application/x-tar":             fmtTar,
	"application/vnd.ipld.dag-json": fmtDagJSON,
	"application/vnd.ipld.dag-cbor": fmtDagCBOR,
	"application/json":              fmtJSON,
	"application/cbor":              fmtCBOR,
}

var mediaByFormat = map[fmtKind]string{
	fmtRaw: "application/vnd.ipld.raw", fmtCAR: "application/vnd.ipld.car", fmtTar: "application/x-tar",
	fmtDagJSON: "application/vnd.ipld.dag-json", fmtDagCBOR: "application/vnd.ipld.dag-cbor",
	fmtJSON: "application/json", fmtCBOR: "application/cbor",
}

// negotiate reads ?format= (which wins) and Accept. CAR parameters in
// Accept apply even when ?format=car chose the format.
func negotiate(r *http.Request) (format, error) {
	var f format
	var accepted []string
	for _, v := range r.Header.Values("Accept") {
		accepted = append(accepted, strings.Split(v, ",")...)
	}
	for _, a := range accepted {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(a))
		if err != nil {
			continue
		}
		if mt == "text/html" && f.kind == fmtDefault && !f.explicit {
			f.html = true
		}
		if k, ok := formatByMedia[mt]; ok && !f.explicit {
			f.kind, f.explicit, f.params = k, true, params
		}
	}
	if p := r.URL.Query().Get("format"); p != "" {
		k, ok := formatByParam[p]
		if !ok {
			return f, fmt.Errorf("%w: unknown format %q (want raw, car, tar, dag-json, dag-cbor, json or cbor)", errBadRequest, p)
		}
		if k != f.kind {
			f.params = nil
		}
		f.kind, f.explicit = k, true
	}
	if f.kind == fmtCAR {
		f.params = carAcceptParams(accepted, f.params)
	}
	return f, nil
}

// carAcceptParams returns the parameters of the Accept entry for CAR
// when ?format=car picked the format.
func carAcceptParams(accepted []string, have map[string]string) map[string]string {
	if have != nil {
		return have
	}
	for _, a := range accepted {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(a))
		if err == nil && mt == "application/vnd.ipld.car" {
			return params
		}
	}
	return map[string]string{}
}

// identityHash is the multihash code whose digest is the data itself.
const identityHash = 0x00

// identityBytes returns the data an identity CID carries; such blocks are
// never stored, fetched or sent as blocks.
func identityBytes(c cid.Cid) ([]byte, error) {
	d, err := mh.Decode(c.Hash())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return d.Digest, nil
}
