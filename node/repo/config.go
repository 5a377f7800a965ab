package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ConfigVersion is the config schema this code writes. Loading a newer one
// fails rather than silently dropping fields an upgrade added.
const ConfigVersion = 1

// ErrBadConfig marks a config file that does not parse or validate; the
// message names the offending field so a person can fix it by hand.
var ErrBadConfig = errors.New("bad config")

// Config is the person-editable repo configuration, stored as indented JSON
// in <repo>/config. Every field is documented in docs/config.md; a field
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
	// Swarm configures the libp2p host the daemon runs.
	Swarm Swarm `json:"Swarm"`
	// DHT configures content routing.
	DHT DHT `json:"DHT"`
	// Provide configures how this node announces what it stores.
	Provide Provide `json:"Provide"`
	// API configures the daemon's local control API.
	API API `json:"API"`
	// Transfer configures block exchange with peers (docs/config.md).
	Transfer Transfer `json:"Transfer"`
	// Mount configures the read-only FUSE mount (docs/fuse.md).
	Mount Mount `json:"Mount"`
	// Gateway configures the daemon's HTTP gateway (docs/gateway.md).
	Gateway Gateway `json:"Gateway"`
}

// Gateway configures the read-only HTTP gateway the daemon serves.
// Durations are Go duration strings; empty or zero picks the default.
type Gateway struct {
	// ListenAddr is the host:port to serve on; "" turns the gateway
	// off. A non-loopback host exposes the node's content (and its
	// fetching) to the network, so it is never the default.
	ListenAddr string `json:"ListenAddr"`
	// Offline serves local content only; nothing is fetched for a
	// gateway request.
	Offline bool `json:"Offline"`
	// RetrievalTimeout is how long a request waits for the next block
	// before answering 504. Empty means 30s.
	RetrievalTimeout string `json:"RetrievalTimeout"`
	// MaxRequestDuration bounds one request, body included. Empty means 1h.
	MaxRequestDuration string `json:"MaxRequestDuration"`
	// MaxConcurrent caps requests served at once (more get 429). 0 means 64.
	MaxConcurrent int `json:"MaxConcurrent"`
	// RatePerClient caps requests per second from one client address
	// (burst: 10 seconds' worth). 0 means 200; negative means unlimited.
	RatePerClient float64 `json:"RatePerClient"`
}

// DefaultGatewayAddr is where the gateway listens unless configured.
const DefaultGatewayAddr = "127.0.0.1:8180"

// Durations parses RetrievalTimeout and MaxRequestDuration (0 = default).
func (g Gateway) Durations() (retrieval, request time.Duration, err error) {
	parse := func(field, v string) (time.Duration, error) {
		if v == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%w: field \"Gateway.%s\": %q is not a duration (e.g. \"30s\")", ErrBadConfig, field, v)
		}
		return d, nil
	}
	if retrieval, err = parse("RetrievalTimeout", g.RetrievalTimeout); err != nil {
		return
	}
	request, err = parse("MaxRequestDuration", g.MaxRequestDuration)
	return
}

// Mount configures the FUSE mount of `trove daemon` and `trove mount`.
type Mount struct {
	// Dir, when set, is mounted for the daemon's lifetime, as with
	// `trove daemon --mount DIR`. Empty mounts nothing.
	Dir string `json:"Dir"`
	// Timeout bounds each retrieval a file-system call waits for, a Go
	// duration; a call that runs out fails with EIO. Empty means 1m.
	Timeout string `json:"Timeout"`
}

// DefaultMountTimeout is Mount.Timeout's default.
const DefaultMountTimeout = time.Minute

// RetrievalTimeout parses Timeout.
func (m Mount) RetrievalTimeout() (time.Duration, error) {
	if m.Timeout == "" {
		return DefaultMountTimeout, nil
	}
	d, err := time.ParseDuration(m.Timeout)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: field \"Mount.Timeout\": %q is not a positive duration (e.g. \"30s\")", ErrBadConfig, m.Timeout)
	}
	return d, nil
}

// Transfer configures the block exchange. Rates are human strings
// ("25MB/s", "512KiB/s"); empty or "0" means unlimited. They are strings,
// not numbers, because people write and read them; the node package
// parses them (ParseRate) when the daemon starts or the setting changes.
type Transfer struct {
	// MaxUpload caps bytes/s served to all peers together.
	MaxUpload string `json:"MaxUpload"`
	// MaxUploadPerPeer caps bytes/s served to any one peer.
	MaxUploadPerPeer string `json:"MaxUploadPerPeer"`
	// MaxDownload caps bytes/s received across all downloads.
	MaxDownload string `json:"MaxDownload"`
	// KeepPartial is how long an interrupted `get` keeps its partial pin
	// (so a retry resumes) before it is dropped and gc may reclaim the
	// blocks: a Go duration, "true" (forever) or "false" (drop at once).
	// Empty means 24h.
	KeepPartial string `json:"KeepPartial"`
}

// Swarm configures the daemon's peer-to-peer host. A section missing from
// an older config file takes the defaults, so upgrading never silently turns
// connectivity features off.
type Swarm struct {
	// ListenAddrs are TCP multiaddrs to listen on.
	ListenAddrs []string `json:"ListenAddrs"`
	// AnnounceAddrs, when non-empty, are the only addresses the node
	// tells peers, instead of those it finds (a port forward's or a
	// proxy's address). Empty announces what it finds.
	AnnounceAddrs []string `json:"AnnounceAddrs"`
	// AppendAnnounceAddrs are announced in addition. Empty adds none.
	AppendAnnounceAddrs []string `json:"AppendAnnounceAddrs"`
	// ConnMgr bounds open connections.
	ConnMgr ConnMgr `json:"ConnMgr"`
	// NAT asks the router for a port mapping (UPnP / NAT-PMP).
	NAT bool `json:"NAT"`
	// AutoNAT lets peers tell this node whether it is reachable.
	AutoNAT bool `json:"AutoNAT"`
	// HolePunching upgrades relayed connections to direct ones.
	HolePunching bool `json:"HolePunching"`
	// RelayClient lets an unreachable node be reached through relays.
	RelayClient bool `json:"RelayClient"`
	// MDNS finds peers on the local network without bootstrap peers.
	MDNS bool `json:"MDNS"`
	// PrivateAddrs is the DHT policy for loopback and LAN addresses:
	// "auto", "allow" or "deny".
	PrivateAddrs string `json:"PrivateAddrs"`
	// ResourceMgr caps what peers can make the daemon hold (libp2p's
	// resource manager). Zero fields take the defaults in docs/config.md.
	ResourceMgr ResourceMgr `json:"ResourceMgr"`
}

// ResourceMgr holds the resource manager's limits; 0 means the default.
type ResourceMgr struct {
	// MaxMemory is bytes libp2p may hold for all peers together (stream
	// buffers, transfer blocks). 0: one eighth of the machine's memory.
	MaxMemory int64 `json:"MaxMemory"`
	// MaxConns caps open connections, half of them inbound. 0: 512.
	MaxConns int `json:"MaxConns"`
	// MaxStreamsPerPeer caps the inbound streams of one peer over all
	// protocols. 0: 64.
	MaxStreamsPerPeer int `json:"MaxStreamsPerPeer"`
	// TransferStreams and TransferStreamsPerPeer cap inbound
	// /trove/transfer/1.0.0 streams from all peers and from one. 0: 64
	// and 8.
	TransferStreams        int `json:"TransferStreams"`
	TransferStreamsPerPeer int `json:"TransferStreamsPerPeer"`
	// TransferMemory is what all transfer streams together may reserve;
	// each reserves one largest block plus its read buffer (about 2 MiB)
	// while it serves. 0: 64 MiB.
	TransferMemory int64 `json:"TransferMemory"`
}

// ConnMgr holds the connection manager's water marks; 0 means the p2p
// layer's default.
type ConnMgr struct {
	Low  int `json:"Low"`
	High int `json:"High"`
}

// DHT configures the Kademlia DHT.
type DHT struct {
	// Mode is "auto", "server" or "client".
	Mode string `json:"Mode"`
	// Bootstrap lists peers (multiaddrs ending in /p2p/ID) dialled at
	// start and whenever the routing table runs low.
	Bootstrap []string `json:"Bootstrap"`
}

// Provide configures announcements of pinned roots.
type Provide struct {
	// ReprovideInterval is a Go duration ("12h"); "off" disables
	// reproviding (roots are still announced when added or pinned).
	ReprovideInterval string `json:"ReprovideInterval"`
}

// API configures the local control API. The unix socket in the repo is
// always on; it is the default and the safest route.
type API struct {
	// TCPAddr adds a loopback TCP listener ("127.0.0.1:5801") guarded by
	// the bearer token in <repo>/api.token. Empty means socket only.
	TCPAddr string `json:"TCPAddr"`
}

// ReprovideOff is the ReprovideInterval value that disables reproviding.
const ReprovideOff = "off"

// Reprovide parses ReprovideInterval: 0 for the default, negative for off.
func (p Provide) Reprovide() (time.Duration, error) {
	switch p.ReprovideInterval {
	case "":
		return 0, nil
	case ReprovideOff:
		return -1, nil
	}
	d, err := time.ParseDuration(p.ReprovideInterval)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: field \"Provide.ReprovideInterval\": %q is not a positive duration (e.g. \"12h\") or \"off\"", ErrBadConfig, p.ReprovideInterval)
	}
	return d, nil
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
	// MinFreeSpace is the bytes block writes leave free on the repo's
	// filesystem (blockstore.Options.MinFreeSpace). 0 means 64 MiB.
	MinFreeSpace int64 `json:"MinFreeSpace"`
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
		Swarm: Swarm{
			ListenAddrs:  []string{"/ip4/0.0.0.0/tcp/4801", "/ip6/::/tcp/4801"},
			ConnMgr:      ConnMgr{Low: 100, High: 400},
			NAT:          true,
			AutoNAT:      true,
			HolePunching: true,
			RelayClient:  true,
			MDNS:         true,
			PrivateAddrs: "auto",
		},
		DHT:     DHT{Mode: "auto", Bootstrap: []string{}},
		Gateway: Gateway{ListenAddr: DefaultGatewayAddr, RetrievalTimeout: "30s"},
		Provide: Provide{ReprovideInterval: "12h"},
	}
}

// Values duplicated from the p2p package on purpose, like knownProfiles:
// the config must validate without importing the network stack.
var (
	knownDHTModes     = []string{"", "auto", "server", "client"}
	knownPrivateAddrs = []string{"", "auto", "allow", "deny"}
)

// KnownProfiles lists the importer profile names the config accepts. It is
// duplicated from the importer on purpose: repo must stay importable
// without pulling the whole import pipeline.
var knownProfiles = []string{"", "unixfs-v1-2025", "unixfs-v0-2015"}

// DecodeConfig parses a config, refusing unknown fields (a typo in a
// hand-edited file should not be silently ignored) and trailing data.
func DecodeConfig(r io.Reader) (Config, error) {
	// Decoding over the defaults means a section or field an older file
	// lacks keeps its default rather than Go's zero value (which would,
	// e.g., turn MDNS off for everyone who upgrades).
	c := DefaultConfig()
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
	if err := oneOf("DHT.Mode", c.DHT.Mode, knownDHTModes); err != nil {
		return err
	}
	if err := oneOf("Swarm.PrivateAddrs", c.Swarm.PrivateAddrs, knownPrivateAddrs); err != nil {
		return err
	}
	for i, a := range c.Swarm.ListenAddrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("%w: field \"Swarm.ListenAddrs[%d]\": %q: %v", ErrBadConfig, i, a, err)
		}
	}
	for _, f := range []struct {
		name  string
		addrs []string
	}{{"Swarm.AnnounceAddrs", c.Swarm.AnnounceAddrs}, {"Swarm.AppendAnnounceAddrs", c.Swarm.AppendAnnounceAddrs}} {
		for i, a := range f.addrs {
			if err := CheckAnnounceAddr(a); err != nil {
				return fmt.Errorf("%w: field \"%s[%d]\": %v", ErrBadConfig, f.name, i, err)
			}
		}
	}
	for i, a := range c.DHT.Bootstrap {
		if _, err := peer.AddrInfoFromString(a); err != nil {
			return fmt.Errorf("%w: field \"DHT.Bootstrap[%d]\": %q is not a multiaddr ending in /p2p/<peer ID>: %v", ErrBadConfig, i, a, err)
		}
	}
	if c.Swarm.ConnMgr.Low < 0 || c.Swarm.ConnMgr.High < 0 ||
		(c.Swarm.ConnMgr.High != 0 && c.Swarm.ConnMgr.High < c.Swarm.ConnMgr.Low) {
		return fmt.Errorf("%w: field \"Swarm.ConnMgr\": need 0 <= Low <= High, got Low %d High %d", ErrBadConfig, c.Swarm.ConnMgr.Low, c.Swarm.ConnMgr.High)
	}
	if r := c.Swarm.ResourceMgr; r.MaxMemory < 0 || r.MaxConns < 0 || r.MaxStreamsPerPeer < 0 ||
		r.TransferStreams < 0 || r.TransferStreamsPerPeer < 0 || r.TransferMemory < 0 {
		return fmt.Errorf("%w: field \"Swarm.ResourceMgr\": limits cannot be negative (0 means the default)", ErrBadConfig)
	}
	if _, err := c.Provide.Reprovide(); err != nil {
		return err
	}
	if _, err := c.Mount.RetrievalTimeout(); err != nil {
		return err
	}
	if c.Gateway.ListenAddr != "" {
		if _, _, err := net.SplitHostPort(c.Gateway.ListenAddr); err != nil {
			return fmt.Errorf("%w: field \"Gateway.ListenAddr\": %q is not host:port: %v", ErrBadConfig, c.Gateway.ListenAddr, err)
		}
	}
	if _, _, err := c.Gateway.Durations(); err != nil {
		return err
	}
	if c.Gateway.MaxConcurrent < 0 {
		return fmt.Errorf("%w: field \"Gateway.MaxConcurrent\": %d is negative", ErrBadConfig, c.Gateway.MaxConcurrent)
	}
	if c.API.TCPAddr != "" {
		if _, _, err := net.SplitHostPort(c.API.TCPAddr); err != nil {
			return fmt.Errorf("%w: field \"API.TCPAddr\": %q is not host:port: %v", ErrBadConfig, c.API.TCPAddr, err)
		}
	}
	return nil
}

func oneOf(field, v string, known []string) error {
	if slices.Contains(known, v) {
		return nil
	}
	return fmt.Errorf("%w: field %q: unknown value %q (want one of %s)", ErrBadConfig, field, v, strings.Join(known[1:], ", "))
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

// CheckAnnounceAddr accepts an address to announce: a multiaddr without a
// /p2p/ part (the node adds its own ID) and with a port, since peers must
// be able to dial it as written.
func CheckAnnounceAddr(s string) error {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	if _, err := a.ValueForProtocol(ma.P_P2P); err == nil {
		return fmt.Errorf("%q: leave out /p2p/<ID>; the node adds its own", s)
	}
	if _, err := a.ValueForProtocol(ma.P_TCP); err != nil {
		return fmt.Errorf("%q: want a TCP address such as /ip4/203.0.113.5/tcp/4801", s)
	}
	return nil
}
