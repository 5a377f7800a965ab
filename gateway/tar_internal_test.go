package gateway

import (
	"errors"
	"testing"
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
