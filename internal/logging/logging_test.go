package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestLevelsFilter(t *testing.T) {
	for _, tc := range []struct {
		level string
		want  []string // messages that must appear, in order
	}{
		{"debug", []string{"d", "i", "w", "e"}},
		{"info", []string{"i", "w", "e"}},
		{"", []string{"i", "w", "e"}},
		{"WARN", []string{"w", "e"}},
		{"warning", []string{"w", "e"}},
		{"error", []string{"e"}},
	} {
		t.Run(tc.level, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := New(&buf, tc.level, "json")
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("d")
			log.Info("i")
			log.Warn("w")
			log.Error("e")
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if line == "" {
					continue
				}
				var rec struct{ Msg string }
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("line %q is not JSON: %v", line, err)
				}
				got = append(got, rec.Msg)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("level %q logged %v, want %v", tc.level, got, tc.want)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct {
		format string
		check  func(string) bool
	}{
		{"text", func(s string) bool { return strings.Contains(s, "msg=hello") && strings.Contains(s, "k=v") }},
		{"", func(s string) bool { return strings.Contains(s, "msg=hello") }},
		{"json", func(s string) bool {
			var m map[string]any
			return json.Unmarshal([]byte(s), &m) == nil && m["msg"] == "hello" && m["k"] == "v"
		}},
	} {
		var buf bytes.Buffer
		log, err := New(&buf, "info", tc.format)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("hello", "k", "v")
		if !tc.check(buf.String()) {
			t.Errorf("format %q produced %q", tc.format, buf.String())
		}
	}
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct{ level, format, mention string }{
		{"verbose", "text", `"verbose"`},
		{"info", "xml", `"xml"`},
	} {
		_, err := New(nil, tc.level, tc.format)
		if !errors.Is(err, ErrBadValue) {
			t.Fatalf("New(%q,%q) = %v, want ErrBadValue", tc.level, tc.format, err)
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("error %q does not name the bad value %s", err, tc.mention)
		}
	}
}

func TestNilWriterDiscards(t *testing.T) {
	log, err := New(nil, "debug", "text")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("nowhere") // must not panic
}
