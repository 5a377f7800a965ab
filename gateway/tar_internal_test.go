package gateway

import (
	"errors"
	"testing"

	"github.com/trove-p2p/trove/unixfs"
)

func TestTarPath(t *testing.T) {
	cases := []struct {
		dir, name, want string
	}{
		{"root", "a.txt", "root/a.txt"},
		{"root/d", "../file", "root/file"},
		{"root/d/e", "x/../../y", "root/d/y"},
		{"root", "..", ""},
		{"root", "../x", ""},
		{"root/d", "../../x", ""},
		{"root", "/etc/passwd", "root/etc/passwd"},
		{"root", "", ""},
		{"root", ".", ""},
		{"root", "a\x00b", ""},
		{"root", `a\b`, ""},
	}
	for _, tc := range cases {
		got, err := tarPath(tc.dir, tc.name)
		if tc.want == "" {
			if !errors.Is(err, errTarName) {
				t.Errorf("tarPath(%q, %q) = %q, %v; want errTarName", tc.dir, tc.name, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("tarPath(%q, %q) = %q, %v; want %q", tc.dir, tc.name, got, err, tc.want)
		}
	}
}

// TestThroughSymlink: an archive may not put an entry under a path that is
// a symlink in the same archive, or extracting it writes wherever the link
// points.
func TestThroughSymlink(t *testing.T) {
	cases := []struct {
		name    string
		entries []tarEntry
		refused bool
	}{
		{"no links", []tarEntry{{name: "r", kind: unixfs.KindDirectory}, {name: "r/a", kind: unixfs.KindFile}}, false},
		{"link beside files", []tarEntry{{name: "r/l", kind: unixfs.KindSymlink, target: "/etc"}, {name: "r/lx", kind: unixfs.KindFile}}, false},
		{"entry under a link", []tarEntry{{name: "r/l", kind: unixfs.KindSymlink, target: "/etc"}, {name: "r/l/passwd", kind: unixfs.KindFile}}, true},
		{"deep under a link", []tarEntry{{name: "r/l", kind: unixfs.KindSymlink, target: ".."}, {name: "r/l/a/b", kind: unixfs.KindFile}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := throughSymlink(tc.entries)
			if got := err != nil; got != tc.refused || (got && !errors.Is(err, errTarName)) {
				t.Fatalf("throughSymlink = %v, refused want %v", err, tc.refused)
			}
		})
	}
}
