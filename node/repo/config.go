package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ConfigVersion is the config schema this code writes. Loading a newer one
// fails rather than silently dropping fields an upgrade added.
const ConfigVersion = 1

// ErrBadConfig marks a config file that does not parse or validate; the
// message names the offending field so a person can fix it by hand.
var ErrBadConfig = errors.New("bad config")

// Config is the person-editable repo configuration, stored as indented JSON
// in <repo>/config. Every field is documented in docs/config.md. Later
// issues (swarm, DHT, API, gateway) add their own sections here; a field
// exists only once some code reads it.
type Config struct {
	// Version is the schema version, for future migrations.
	Version int `json:"Version"`
	// Identity names this node on the network. The private key lives in
	// its own file (KeyFile) so the config can be shared or pasted safely.
	Identity Identity `json:"Identity"`
	// Datastore tunes the local block store.
	Datastore Datastore `json:"Datastore"`
	// Import holds the defaults for `trove add`.
	Import Import `json:"Import"`
}

// Identity is the public half of the node identity.
type Identity struct {
	// PeerID is derived from the key in KeyFile; Open checks they agree so
	// a swapped key file is caught before the node announces a wrong ID.
	PeerID string `json:"PeerID"`
}

// Datastore configures the block store.
type Datastore struct {
	// VerifyOnRead re-hashes every block read from disk. The CLI flag
	// --verify turns it on for one command; this makes it the default.
	VerifyOnRead bool `json:"VerifyOnRead"`
}

// Import configures `trove add` defaults; flags override them.
type Import struct {
	// Profile is the importer profile ("unixfs-v1-2025" or
	// "unixfs-v0-2015"); empty means the importer's default.
	Profile string `json:"Profile"`
}

// DefaultConfig is what `trove init` writes, apart from the identity.
func DefaultConfig() Config {
	return Config{
		Version: ConfigVersion,
		Import:  Import{Profile: "unixfs-v1-2025"},
	}
}

// KnownProfiles lists the importer profile names the config accepts. It is
// duplicated from the importer on purpose: repo must stay importable
// without pulling the whole import pipeline.
var knownProfiles = []string{"", "unixfs-v1-2025", "unixfs-v0-2015"}

// DecodeConfig parses a config, refusing unknown fields (a typo in a
// hand-edited file should not be silently ignored) and trailing data.
func DecodeConfig(r io.Reader) (Config, error) {
	var c Config
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%w: %s", ErrBadConfig, describeJSONError(err))
	}
	if dec.More() {
		return Config{}, fmt.Errorf("%w: trailing data after the JSON object", ErrBadConfig)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// describeJSONError rewords encoding/json errors so the field name comes
// first; the standard messages mention Go type names a user never sees.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: expected %s, got JSON %s", te.Field, te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("JSON syntax error at byte %d: %v", se.Offset, err)
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + rest
	}
	if errors.Is(err, io.EOF) {
		return "empty file"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "JSON syntax error: file ends inside the object"
	}
	return msg
}

// Validate checks values JSON typing cannot.
func (c Config) Validate() error {
	if c.Version != ConfigVersion {
		return fmt.Errorf("%w: field \"Version\": %d is not supported (want %d)", ErrBadConfig, c.Version, ConfigVersion)
	}
	ok := false
	for _, p := range knownProfiles {
		ok = ok || c.Import.Profile == p
	}
	if !ok {
		return fmt.Errorf("%w: field \"Import.Profile\": unknown profile %q (want one of %s)",
			ErrBadConfig, c.Import.Profile, strings.Join(knownProfiles[1:], ", "))
	}
	return nil
}

// Encode renders the config as indented JSON with a trailing newline, the
// form a person edits.
func (c Config) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
