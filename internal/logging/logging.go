// Package logging builds the daemon's and CLI's *slog.Logger from the
// --log-level and --log-format flag values, so every command validates those
// flags the same way and reports the same error for a typo.
package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// ErrBadValue marks a flag value that is not one of the accepted spellings;
// the CLI maps it to a usage error rather than a runtime failure.
var ErrBadValue = errors.New("invalid logging option")

// ParseLevel accepts debug, info, warn (or warning) and error, in any case.
// An empty string means info, which is what a user who passed no flag expects.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%w: log level %q (want debug, info, warn or error)", ErrBadValue, s)
}

// New returns a logger writing to w. format is "text" (for humans at a
// terminal) or "json" (for log shippers); an empty format means text.
// A nil w discards output, which is convenient for tests and embedders that
// do not want daemon chatter.
func New(w io.Writer, level string, format string) (*slog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	if w == nil {
		w = io.Discard
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: log format %q (want text or json)", ErrBadValue, format)
}
