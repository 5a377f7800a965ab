// Package api is the local transport between trove's CLI and a running
// daemon. The CLI must behave the same whether it talks to a daemon or opens
// the repo itself, so the wire format is deliberately thin: node methods'
// option structs and results travel as JSON, data travels as raw streams,
// and errors travel as a kind that maps back to the same sentinel errors the
// offline path returns, which keeps exit codes identical.
//
// Wire conventions (HTTP/1.1 over <repo>/api.sock, optionally TCP):
//
//   - Calls: POST with a JSON body of arguments, JSON result with 200.
//   - Uploads (add's tar stream, stdin): the body is the data, streamed
//     chunked; arguments ride in the X-Trove-Args header.
//   - Downloads (cat, dag export): the response body is the data. A failure
//     after the first byte is sent in the X-Trove-Error trailer.
//   - Progress: application/x-ndjson lines {"event":...}, ended by exactly
//     one {"result":...} or {"error":"...","kind":"..."} frame. A stream
//     without that final frame is a failure, never a success.
//   - Errors: {"error": message, "kind": kind} with the kind's HTTP status.
//
// Each convention has a typed endpoint (Endpoint, UploadEndpoint,
// StreamEndpoint, EventEndpoint): one value registers the route and makes
// the client call, so the two cannot disagree on path, arguments or result.
//
// Discovery: the daemon writes <repo>/api listing "unix:/abs/api.sock" and
// optionally "tcp:host:port"; the TCP listener requires the bearer token in
// <repo>/api.token. Both listeners refuse anything a web browser sends.
package api
