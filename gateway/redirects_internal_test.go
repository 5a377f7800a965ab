package gateway

import (
	"strings"
	"testing"
)

func TestParseRedirects(t *testing.T) {
	good := "# comment\r\n/a /b\n\n/c /d 302\r\n/p/:x/* /q/:x/:splat 200\n/e https://example.org/ 308\n"
	rules, err := parseRedirects([]byte(good))
	if err != nil || len(rules) != 4 || rules[0].status != 301 || rules[1].status != 302 || rules[3].to != "https://example.org/" {
		t.Fatalf("rules %+v, err %v", rules, err)
	}
	for _, bad := range []string{"hello", "/a /b 301!", "/a /b 999", "a /b", "/a b", "/a /b 301 x", strings.Repeat("#", maxRedirectsSize+1)} {
		if _, err := parseRedirects([]byte(bad)); err == nil {
			t.Errorf("parseRedirects(%.20q) accepted it", bad)
		}
	}
}

func TestRedirectMatch(t *testing.T) {
	cases := []struct {
		from, to, path, want string
		ok                   bool
	}{
		{"/a", "/b", "/a", "/b", true},
		{"/a", "/b", "/a/", "/b", true},
		{"/a", "/b", "/a/x", "", false},
		{"/posts/:y/:m/:t", "/articles/:y/:m/:t", "/posts/2022/01/hello", "/articles/2022/01/hello", true},
		{"/posts/:y/:m/:t", "/x", "/posts/2022/01", "", false},
		{"/splat/*", "/r/:splat", "/splat/one.html", "/r/one.html", true},
		{"/splat/*", "/r/:splat", "/splat/a/b", "/r/a/b", true},
		{"/*", "/index.html", "/anything/deep", "/index.html", true},
		{"/:x", "/y/:x", "/", "", false},
	}
	for _, tc := range cases {
		got, ok := redirectRule{from: tc.from, to: tc.to}.match(tc.path)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s -> %s on %s = %q, %v; want %q, %v", tc.from, tc.to, tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzRedirects: no _redirects file makes the parser or the matcher panic,
// and every rule the parser accepts has a path and a supported status.
func FuzzRedirects(f *testing.F) {
	f.Add([]byte("/a /b\n/p/:x/* /q/:x/:splat 200\n# c\n"), "/p/1/2/3")
	f.Add([]byte("/* /index.html 200\r\n"), "/")
	f.Fuzz(func(t *testing.T, file []byte, path string) {
		rules, err := parseRedirects(file)
		if err != nil {
			return
		}
		for _, r := range rules {
			if !strings.HasPrefix(r.from, "/") || !redirectStatuses[r.status] {
				t.Fatalf("accepted rule %+v", r)
			}
			r.match(path)
		}
	})
}
