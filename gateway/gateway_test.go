package gateway_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/trove-p2p/trove/car"
	"github.com/trove-p2p/trove/gateway"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// fixture is a real offline node holding a small site:
//
//	site/index.html
//	docs/a.txt         "hello gateway\n"
//	docs/ą.txt         "utf8 name\n"
//	docs/big.bin       3000 bytes in 1000-byte chunks (4 blocks)
//	docs/noext         PNG magic, no extension
type fixture struct {
	n                     *node.Node
	site, docs, a, big    cid.Cid
	bigData               []byte
	srv                   *httptest.Server
	noext, utf8, indexCID cid.Cid
}

func newFixture(t *testing.T, o gateway.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	n, err := node.Open(ctx, t.TempDir(), node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	dir := t.TempDir()
	f := &fixture{n: n, bigData: make([]byte, 3000)}
	for i := range f.bigData {
		// No two 1000-byte chunks alike, so the leaves are distinct blocks.
		f.bigData[i] = byte('a' + i%23 + i/1000)
	}
	write := func(p string, data []byte) {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("site/index.html", []byte("<h1>hi</h1>"))
	write("docs/a.txt", []byte("hello gateway\n"))
	write("docs/ą.txt", []byte("utf8 name\n"))
	write("docs/big.bin", f.bigData)
	write("docs/noext", []byte("\x89PNG\r\n\x1a\n0000"))
	for sub, dst := range map[string]*cid.Cid{"site": &f.site, "docs": &f.docs} {
		res, err := n.Add(ctx, node.FileEntries([]string{filepath.Join(dir, sub)}, true), node.AddOptions{Chunker: "size-1000"})
		if err != nil {
			t.Fatal(err)
		}
		*dst = mustCID(t, res.Roots[0])
	}
	c := n.Content(node.Source{Offline: true})
	for name, dst := range map[string]*cid.Cid{"a.txt": &f.a, "big.bin": &f.big, "noext": &f.noext, "ą.txt": &f.utf8} {
		e, err := c.Lookup(ctx, f.docs, name)
		if err != nil {
			t.Fatal(err)
		}
		*dst = e.Cid
	}
	e, err := c.Lookup(ctx, f.site, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	f.indexCID = e.Cid
	f.srv = httptest.NewServer(gateway.New(node.GatewayBackend{N: n}, o))
	t.Cleanup(f.srv.Close)
	return f
}

func mustCID(t *testing.T, s string) cid.Cid {
	t.Helper()
	c, err := cid.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func do(t *testing.T, method, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestHandler(t *testing.T) {
	f := newFixture(t, gateway.Options{})
	docs, a, big := f.docs.String(), f.a.String(), f.big.String()
	bigData := f.bigData
	rawBlock, err := f.n.Content(node.Source{Offline: true}).Block(context.Background(), f.docs)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		method  string
		path    string
		hdr     map[string]string
		status  int
		headers map[string]string // exact values; "" means must be absent
		body    string            // exact, unless contains
		has     []string          // body substrings
	}{
		{name: "file", path: "/ipfs/" + docs + "/a.txt", status: 200, body: "hello gateway\n", headers: map[string]string{
			"Content-Type": "text/plain; charset=utf-8", "Etag": `"` + a + `"`, "Cache-Control": "public, max-age=29030400, immutable",
			"X-Ipfs-Roots": docs + "," + a, "X-Ipfs-Path": "/ipfs/" + docs + "/a.txt", "Content-Length": "14",
			"Access-Control-Allow-Origin": "*", "Content-Disposition": ""}},
		{name: "bare CID of a file", path: "/ipfs/" + a, status: 200, body: "hello gateway\n", headers: map[string]string{"X-Ipfs-Roots": a}},
		{name: "HEAD file", method: "HEAD", path: "/ipfs/" + docs + "/a.txt", status: 200, body: "", headers: map[string]string{"Content-Length": "14"}},
		{name: "utf8 name", path: "/ipfs/" + docs + "/%C4%85.txt", status: 200, body: "utf8 name\n"},
		{name: "sniffed type", path: "/ipfs/" + docs + "/noext", status: 200, headers: map[string]string{"Content-Type": "image/png"}},
		{name: "dir redirects to slash, query kept", path: "/ipfs/" + docs + "?x=1", status: 301, headers: map[string]string{"Location": "/ipfs/" + docs + "/?x=1"}},
		{name: "listing", path: "/ipfs/" + docs + "/", status: 200, headers: map[string]string{"Content-Type": "text/html; charset=utf-8"},
			has: []string{"Index of", `href="/ipfs/` + docs + `/a.txt">a.txt</a>`, `href="/ipfs/` + docs + `/%C4%85.txt">ą.txt</a>`, `?filename=a.txt`}},
		{name: "index.html", path: "/ipfs/" + f.site.String() + "/", status: 200, body: "<h1>hi</h1>",
			headers: map[string]string{"Content-Type": "text/html; charset=utf-8", "Etag": `"` + f.site.String() + `"`}},
		{name: "single range", path: "/ipfs/" + big, hdr: map[string]string{"Range": "bytes=995-1004"}, status: 206, body: string(bigData[995:1005]),
			headers: map[string]string{"Content-Range": "bytes 995-1004/3000"}},
		{name: "suffix range", path: "/ipfs/" + big, hdr: map[string]string{"Range": "bytes=-3"}, status: 206, body: string(bigData[2997:]),
			headers: map[string]string{"Content-Range": "bytes 2997-2999/3000"}},
		{name: "unsatisfiable range", path: "/ipfs/" + big, hdr: map[string]string{"Range": "bytes=5000-"}, status: 416},
		{name: "If-None-Match", path: "/ipfs/" + a, hdr: map[string]string{"If-None-Match": `"x", W/"` + a + `"`}, status: 304, body: ""},
		{name: "If-None-Match listing", path: "/ipfs/" + docs + "/", hdr: map[string]string{"If-None-Match": "*"}, status: 304},
		{name: "filename and download", path: "/ipfs/" + a + "?filename=r%C3%A9sum%C3%A9.txt&download=true", status: 200, headers: map[string]string{
			"Content-Disposition": `attachment; filename="r_sum_.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt`, "Content-Type": "text/plain; charset=utf-8"}},
		{name: "filename inline", path: "/ipfs/" + a + "?filename=x.html", status: 200, headers: map[string]string{
			"Content-Disposition": `inline; filename="x.html"`, "Content-Type": "text/html; charset=utf-8"}},
		{name: "raw block by format", path: "/ipfs/" + docs + "?format=raw", status: 200, body: string(rawBlock), headers: map[string]string{
			"Content-Type": "application/vnd.ipld.raw", "Etag": `"` + docs + `.raw"`, "X-Content-Type-Options": "nosniff",
			"Content-Disposition": `attachment; filename="` + docs + `.bin"`}},
		{name: "raw block by Accept", path: "/ipfs/" + docs, hdr: map[string]string{"Accept": "application/vnd.ipld.raw"}, status: 200, body: string(rawBlock)},
		{name: "only-if-cached, cached", method: "HEAD", path: "/ipfs/" + a, hdr: map[string]string{"Cache-Control": "only-if-cached"}, status: 200},
		{name: "only-if-cached, missing", path: "/ipfs/bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom", hdr: map[string]string{"Cache-Control": "only-if-cached"}, status: 412},
		{name: "malformed CID", path: "/ipfs/not-a-cid", status: 400, has: []string{"invalid CID"}},
		{name: "dot-dot segment", path: "/ipfs/" + docs + "/x/%2E%2E/a.txt", status: 400},
		{name: "missing name", path: "/ipfs/" + docs + "/nope.txt", status: 404},
		{name: "path through a file", path: "/ipfs/" + docs + "/a.txt/x", status: 404},
		{name: "unknown format", path: "/ipfs/" + a + "?format=zip", status: 400},
		{name: "POST", method: "POST", path: "/ipfs/" + a, status: 405},
		{name: "OPTIONS preflight", method: "OPTIONS", path: "/ipfs/" + a, status: 200, headers: map[string]string{"Access-Control-Allow-Methods": "GET, HEAD, OPTIONS"}},
		{name: "not a gateway path", path: "/foo", status: 404},
		{name: "ipns unsupported", path: "/ipns/example.com", status: 501},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.method
			if m == "" {
				m = "GET"
			}
			resp, body := do(t, m, f.srv.URL+tc.path, tc.hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tc.status, body)
			}
			for k, v := range tc.headers {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if tc.body != "" || tc.status == 304 || m == "HEAD" {
				if string(body) != tc.body {
					t.Errorf("body %q, want %q", body, tc.body)
				}
			}
			for _, s := range tc.has {
				if !strings.Contains(string(body), s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
		})
	}
}

func TestMultiRange(t *testing.T) {
	f := newFixture(t, gateway.Options{})
	resp, body := do(t, "GET", f.srv.URL+"/ipfs/"+f.big.String(), map[string]string{"Range": "bytes=0-1,2998-"})
	if resp.StatusCode != 206 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, p.Header.Get("Content-Range")+"="+string(b))
	}
	want := []string{"bytes 0-1/3000=" + string(f.bigData[:2]), "bytes 2998-2999/3000=" + string(f.bigData[2998:])}
	if strings.Join(parts, "|") != strings.Join(want, "|") {
		t.Fatalf("parts %q, want %q", parts, want)
	}
}

// TestRangeFetchesOnlyItsBlocks deletes every leaf of big.bin except the
// second from the store: a range inside that leaf is still served, which
// it could not be if the gateway read (or sniffed) anything else, while a
// full request fails.
func TestRangeFetchesOnlyItsBlocks(t *testing.T) {
	f := newFixture(t, gateway.Options{Offline: true})
	ctx := context.Background()
	st := f.n.Blockstore()
	data, err := st.Get(ctx, f.big)
	if err != nil {
		t.Fatal(err)
	}
	pn, err := pb.Unmarshal(data)
	if err != nil || len(pn.Links) != 3 {
		t.Fatalf("big.bin root: %d links, %v; want 3", len(pn.Links), err)
	}
	for i, l := range pn.Links {
		if i != 1 {
			if err := st.Delete(ctx, l.Cid); err != nil {
				t.Fatal(err)
			}
		}
	}
	resp, body := do(t, "GET", f.srv.URL+"/ipfs/"+f.big.String(), map[string]string{"Range": "bytes=1100-1104"})
	if resp.StatusCode != 206 || string(body) != string(f.bigData[1100:1105]) {
		t.Fatalf("range in the kept leaf: %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q: sniffing needs the first leaf, which is gone", ct)
	}
	// A full response cannot be complete: either an error status or a
	// connection cut before Content-Length bytes.
	full, err := http.Get(f.srv.URL + "/ipfs/" + f.big.String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(full.Body)
	full.Body.Close()
	if full.StatusCode == 200 && err == nil {
		t.Fatalf("full request with missing leaves: 200 and %d bytes, no error", len(b))
	}
}

func TestCAR(t *testing.T) {
	f := newFixture(t, gateway.Options{})
	ctx := context.Background()
	st := f.n.Blockstore()
	data, _ := st.Get(ctx, f.big)
	pn, _ := pb.Unmarshal(data)
	leaves := []cid.Cid{pn.Links[0].Cid, pn.Links[1].Cid, pn.Links[2].Cid}
	cases := []struct {
		name  string
		path  string
		hdr   map[string]string
		want  []cid.Cid
		ctype string
	}{
		{"all of a path", "/ipfs/" + f.docs.String() + "/big.bin?format=car", nil, append([]cid.Cid{f.docs, f.big}, leaves...), "application/vnd.ipld.car; version=1; order=dfs; dups=n"},
		{"dag-scope=block", "/ipfs/" + f.docs.String() + "/big.bin?format=car&dag-scope=block", nil, []cid.Cid{f.docs, f.big}, ""},
		{"entity of a directory", "/ipfs/" + f.docs.String() + "?format=car&dag-scope=entity", nil, []cid.Cid{f.docs}, ""},
		{"entity-bytes middle", "/ipfs/" + f.big.String() + "?format=car&entity-bytes=1000:1999", nil, []cid.Cid{f.big, leaves[1]}, ""},
		{"entity-bytes negative", "/ipfs/" + f.big.String() + "?format=car&entity-bytes=-5:*", nil, []cid.Cid{f.big, leaves[2]}, ""},
		{"Accept with dups=y", "/ipfs/" + f.big.String(), map[string]string{"Accept": "application/vnd.ipld.car; version=1; dups=y"}, append([]cid.Cid{f.big}, leaves...), "application/vnd.ipld.car; version=1; order=dfs; dups=y"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, "GET", f.srv.URL+tc.path, tc.hdr)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.ctype)
			}
			r, err := car.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var got []cid.Cid
			for {
				c, _, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err) // Next verifies every block against its CID
				}
				got = append(got, c)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("blocks %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("blocks %v, want %v", got, tc.want)
				}
			}
		})
	}
	for _, q := range []string{"car-version=2", "dag-scope=most", "entity-bytes=9:1", "car-order=bfs", "car-dups=maybe"} {
		if resp, _ := do(t, "GET", f.srv.URL+"/ipfs/"+f.big.String()+"?format=car&"+q, nil); resp.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
		}
	}
}

func TestTar(t *testing.T) {
	f := newFixture(t, gateway.Options{})
	resp, body := do(t, "GET", f.srv.URL+"/ipfs/"+f.docs.String()+"?format=tar", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-tar" {
		t.Fatalf("status %d, type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	tr := tar.NewReader(bytes.NewReader(body))
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b)
	}
	d := f.docs.String()
	if got[d+"/a.txt"] != "hello gateway\n" || got[d+"/big.bin"] != string(f.bigData) || len(got) != 5 {
		t.Fatalf("tar entries %v", keys(got))
	}
	if _, ok := got[d+"/"]; !ok {
		t.Fatalf("no top directory entry in %v", keys(got))
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// blockingBackend answers every block read by waiting for its context:
// a network on which no provider ever answers.
type blockingBackend struct{ gateway.Backend }

func (b blockingBackend) Content(offline bool) gateway.Content {
	return blockingContent{b.Backend.Content(offline)}
}

type blockingContent struct{ gateway.Content }

func (b blockingContent) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestRetrievalTimeout(t *testing.T) {
	f := newFixture(t, gateway.Options{})
	srv := httptest.NewServer(gateway.New(blockingBackend{node.GatewayBackend{N: f.n}}, gateway.Options{RetrievalTimeout: 200 * time.Millisecond}))
	defer srv.Close()
	start := time.Now()
	resp, body := do(t, "GET", srv.URL+"/ipfs/"+f.docs.String()+"/a.txt", nil)
	if resp.StatusCode != 504 || !strings.Contains(string(body), "/ipfs/"+f.docs.String()+"/a.txt") || !strings.Contains(string(body), "200ms") {
		t.Fatalf("status %d body %q; want 504 naming the path and the timeout", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestLimits(t *testing.T) {
	f := newFixture(t, gateway.Options{})
	t.Run("per-client rate", func(t *testing.T) {
		srv := httptest.NewServer(gateway.New(node.GatewayBackend{N: f.n}, gateway.Options{RatePerClient: 1, RateBurst: 3}))
		defer srv.Close()
		var codes []int
		for range 5 {
			resp, _ := do(t, "GET", srv.URL+"/ipfs/"+f.a.String(), nil)
			codes = append(codes, resp.StatusCode)
		}
		if codes[0] != 200 || codes[2] != 200 || codes[3] != 429 || codes[4] != 429 {
			t.Fatalf("codes %v, want 3×200 then 429", codes)
		}
	})
	t.Run("concurrency", func(t *testing.T) {
		release := make(chan struct{})
		var entered sync.WaitGroup
		entered.Add(1)
		var once sync.Once
		b := hookBackend{node.GatewayBackend{N: f.n}, func() {
			once.Do(func() { entered.Done(); <-release })
		}}
		srv := httptest.NewServer(gateway.New(b, gateway.Options{MaxConcurrent: 1, RatePerClient: -1}))
		defer srv.Close()
		done := make(chan int)
		go func() {
			resp, err := http.Get(srv.URL + "/ipfs/" + f.a.String())
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		entered.Wait()
		resp, _ := do(t, "GET", srv.URL+"/ipfs/"+f.a.String(), nil)
		close(release)
		if resp.StatusCode != 429 {
			t.Errorf("second request while one runs: %d, want 429", resp.StatusCode)
		}
		if c := <-done; c != 200 {
			t.Errorf("first request: %d", c)
		}
	})
	t.Run("request duration", func(t *testing.T) {
		srv := httptest.NewServer(gateway.New(blockingBackend{node.GatewayBackend{N: f.n}}, gateway.Options{MaxRequestDuration: 100 * time.Millisecond}))
		defer srv.Close()
		resp, _ := do(t, "GET", srv.URL+"/ipfs/"+f.a.String(), nil)
		if resp.StatusCode != 504 {
			t.Fatalf("status %d, want 504", resp.StatusCode)
		}
	})
}

// hookBackend calls hook before handing out each request's content.
type hookBackend struct {
	gateway.Backend
	hook func()
}

func (h hookBackend) Content(offline bool) gateway.Content {
	h.hook()
	return h.Backend.Content(offline)
}

// TestCodecs: dag-json and dag-cbor blocks are served as stored, pathed
// through their links, previewed as HTML, never converted.
func TestCodecs(t *testing.T) {
	f := newFixture(t, gateway.Options{})
	ctx := context.Background()
	put := func(codec uint64, data []byte) cid.Cid {
		c, err := cid.Prefix{Version: 1, Codec: codec, MhType: 0x12, MhLength: -1}.Sum(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.n.Blockstore().Put(ctx, c, data); err != nil {
			t.Fatal(err)
		}
		return c
	}
	leafData := []byte{0xa1, 0x65, 'h', 'e', 'l', 'l', 'o', 0x61, 'x'} // {"hello":"x"}
	leaf := put(0x71, leafData)
	rootData := []byte(`{"foo":{"link":{"/":"` + leaf.String() + `"},"n":1},"unixfs":{"/":"` + f.docs.String() + `"}}`)
	root := put(0x0129, rootData)
	r := root.String()
	cases := []struct {
		name, path string
		hdr        map[string]string
		status     int
		ctype      string
		body       []byte
		has        string
	}{
		{"dag-json as stored", "/ipfs/" + r, nil, 200, "application/vnd.ipld.dag-json", rootData, ""},
		{"dag-json as plain json", "/ipfs/" + r + "?format=json", nil, 200, "application/json", rootData, ""},
		{"no conversion to dag-cbor", "/ipfs/" + r + "?format=dag-cbor", nil, 406, "", nil, ""},
		{"path to a link", "/ipfs/" + r + "/foo/link", nil, 200, "application/vnd.ipld.dag-cbor", leafData, ""},
		{"path into UnixFS", "/ipfs/" + r + "/unixfs/a.txt", nil, 200, "text/plain; charset=utf-8", []byte("hello gateway\n"), ""},
		{"path ends in data", "/ipfs/" + r + "/foo", nil, 501, "", nil, ""},
		{"path through a scalar", "/ipfs/" + r + "/foo/n/x", nil, 501, "", nil, ""},
		{"missing key", "/ipfs/" + r + "/foo/nope", nil, 404, "", nil, ""},
		{"HTML preview", "/ipfs/" + r + "/", map[string]string{"Accept": "text/html"}, 200, "text/html; charset=utf-8", nil, `href="/ipfs/` + leaf.String() + `"`},
		{"dag-pb not converted", "/ipfs/" + f.a.String() + "?format=dag-json", nil, 406, "", nil, ""},
		{"UnixFS file as json", "/ipfs/" + f.a.String() + "?format=json", nil, 200, "application/json", []byte("hello gateway\n"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, "GET", f.srv.URL+tc.path, tc.hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.ctype)
			}
			if tc.body != nil && !bytes.Equal(body, tc.body) {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if tc.has != "" && !strings.Contains(string(body), tc.has) {
				t.Errorf("body lacks %q: %s", tc.has, body)
			}
		})
	}
	// A CAR of the dag-json root walks into the dag-cbor leaf and the
	// UnixFS tree it links to.
	resp, body := do(t, "GET", f.srv.URL+"/ipfs/"+r+"?format=car", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("CAR: %d %s", resp.StatusCode, body)
	}
	cr, err := car.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[cid.Cid]bool{}
	for {
		c, _, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[c] = true
	}
	for _, c := range []cid.Cid{root, leaf, f.docs, f.a, f.big} {
		if !seen[c] {
			t.Errorf("CAR lacks %s", c)
		}
	}
}

// TestSubdomain: path requests on the subdomain host redirect to the
// CID's origin, which serves the content root at "/" with links relative
// to it, and applies the root's _redirects file.
func TestSubdomain(t *testing.T) {
	f := newFixture(t, gateway.Options{Subdomain: []string{"localhost"}})
	ctx := context.Background()
	// A site with a _redirects file, added next to the fixture.
	dir := t.TempDir()
	for name, data := range map[string]string{
		"index.html": "home", "404.html": "custom missing",
		"_redirects": "/old /new.html 302\n/spa/* /index.html 200\n/gone/* /404.html 404\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := f.n.Add(ctx, node.FileEntries([]string{dir}, true), node.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	site := mustCID(t, res.Roots[0])
	port := f.srv.URL[strings.LastIndex(f.srv.URL, ":")+1:]
	get := func(host, path string, hdr map[string]string) (*http.Response, []byte) {
		if hdr == nil {
			hdr = map[string]string{}
		}
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Host = host
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	docs := f.docs.String()
	origin := docs + ".ipfs.localhost:" + port
	cases := []struct {
		name, host, path string
		hdr              map[string]string
		status           int
		loc, has         string
	}{
		{"path form redirects", "localhost:" + port, "/ipfs/" + docs + "/a.txt?x=1", nil, 301, "http://" + origin + "/a.txt?x=1", ""},
		{"X-Forwarded-Proto", "localhost:" + port, "/ipfs/" + docs + "/", map[string]string{"X-Forwarded-Proto": "https"}, 301, "https://" + origin + "/", ""},
		{"invalid CID before redirect", "localhost:" + port, "/ipfs/QmInvalid", nil, 400, "", `invalid path "/ipfs/QmInvalid"`},
		{"other hosts stay path gateways", "127.0.0.1:" + port, "/ipfs/" + docs + "/a.txt", nil, 200, "", "hello gateway"},
		{"file on the origin", origin, "/a.txt", nil, 200, "", "hello gateway"},
		{"listing links relative to the origin", origin, "/", nil, 200, "", `<a href="/a.txt">a.txt</a>`},
		{"breadcrumbs on the parent host", origin, "/", nil, 200, "", `href="//localhost:` + port + `/ipfs/` + docs + `"`},
		{"/ipfs/ inside the origin is a plain path", origin, "/ipfs/" + docs, nil, 404, "", ""},
		{"bad label", "nope.ipfs.localhost:" + port, "/", nil, 400, "", ""},
		{"_redirects 302", site.String() + ".ipfs.localhost:" + port, "/old", nil, 302, "/new.html", ""},
		{"_redirects 200 rewrite", site.String() + ".ipfs.localhost:" + port, "/spa/route", nil, 200, "", "home"},
		{"_redirects custom 404", site.String() + ".ipfs.localhost:" + port, "/gone/x", nil, 404, "", "custom missing"},
		{"existing paths ignore _redirects", site.String() + ".ipfs.localhost:" + port, "/404.html", nil, 200, "", "custom missing"},
		{"no _redirects on the path gateway", "127.0.0.1:" + port, "/ipfs/" + site.String() + "/old", nil, 404, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(tc.host, tc.path, tc.hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.loc != "" && resp.Header.Get("Location") != tc.loc {
				t.Errorf("Location %q, want %q", resp.Header.Get("Location"), tc.loc)
			}
			if tc.has != "" && !strings.Contains(string(body), tc.has) {
				t.Errorf("body lacks %q: %s", tc.has, body)
			}
		})
	}
}
