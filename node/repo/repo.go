// Package repo manages a trove repository on disk: the hand-editable
// config, the node's private key and the location of the block store.
//
// It does not open the block store itself: that is the node's job, and
// keeping it out lets tools read the config of a repo a daemon holds open.
package repo

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// File names inside a repo directory.
const (
	ConfigFile = "config"
	KeyFile    = "identity.key"
	BlocksDir  = "blocks"
	// SwarmKeyFile, when present, makes the node join only the private
	// swarm of peers holding the same key.
	SwarmKeyFile = "swarm.key"
	// PeersFile is where the daemon saves known peers across restarts.
	PeersFile = "peers"
)

// EnvPath names the environment variable that selects a repo when no
// --repo flag is given.
const EnvPath = "TROVE_PATH"

var (
	// ErrNotInitialized means the directory holds no trove config.
	ErrNotInitialized = errors.New("repo not initialized")
	// ErrExists means Init found a repo already there.
	ErrExists = errors.New("repo already initialized")
	// ErrIdentity means the key file is unreadable or does not match the
	// peer ID in the config.
	ErrIdentity = errors.New("identity key does not match config")
)

// Repo is an opened (initialized) repo directory.
type Repo struct {
	// Path is the absolute repo directory.
	Path string
	// Config is the parsed config as read at open time.
	Config Config
	// Key is the node's Ed25519 identity, in libp2p form so the p2p host
	// can use it unchanged.
	Key crypto.PrivKey
	// PeerID is derived from Key.
	PeerID peer.ID
}

// BlocksPath is where the block store keeps its files.
func (r *Repo) BlocksPath() string { return filepath.Join(r.Path, BlocksDir) }

// SwarmKeyPath is where a private swarm's pre-shared key lives.
func (r *Repo) SwarmKeyPath() string { return filepath.Join(r.Path, SwarmKeyFile) }

// WriteSwarmKey stores an encoded swarm key (mode 0600: whoever reads it
// can join the swarm). It refuses to replace an existing key, since that
// would silently cut this node off from its swarm.
func (r *Repo) WriteSwarmKey(encoded []byte) error {
	err := createExclusive(r.SwarmKeyPath(), encoded, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w", r.SwarmKeyPath(), err)
	}
	return err
}

// PeersPath is the daemon's saved peer list.
func (r *Repo) PeersPath() string { return filepath.Join(r.Path, PeersFile) }

// DefaultPath resolves the repo directory: flag beats $TROVE_PATH beats
// ~/.trove. An empty flag means "not given".
func DefaultPath(flag string) (string, error) {
	p := flag
	if p == "" {
		p = os.Getenv(EnvPath)
	}
	if p == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no --repo, no $%s and no home directory: %w", EnvPath, err)
		}
		p = filepath.Join(home, ".trove")
	}
	return filepath.Abs(p)
}

// Init creates a repo in dir with a fresh identity and the default config.
// It fails with ErrExists if dir already holds a repo. Creation is safe
// against a concurrent Init: files appear by hard-link, which fails
// rather than overwrites, so the loser sees ErrExists.
func Init(dir string) (*Repo, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err == nil {
		return nil, fmt.Errorf("%s: %w", dir, ErrExists)
	}
	if err := os.MkdirAll(filepath.Join(dir, BlocksDir), 0o700); err != nil {
		return nil, fmt.Errorf("create repo: %w", err)
	}
	key, err := ensureKey(dir)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("derive peer ID: %w", err)
	}
	cfg := DefaultConfig()
	cfg.Identity.PeerID = id.String()
	data, err := cfg.Encode()
	if err != nil {
		return nil, err
	}
	if err := createExclusive(filepath.Join(dir, ConfigFile), data, 0o644); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%s: %w", dir, ErrExists)
		}
		return nil, fmt.Errorf("write config: %w", err)
	}
	return &Repo{Path: dir, Config: cfg, Key: key, PeerID: id}, nil
}

// ensureKey loads the key a crashed or concurrent Init left behind, or
// generates one. Reusing it keeps a half-initialized repo's identity stable.
func ensureKey(dir string) (crypto.PrivKey, error) {
	path := filepath.Join(dir, KeyFile)
	if k, err := readKey(path); err == nil {
		return k, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity: %w", err)
	}
	raw, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := createExclusive(path, raw, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(path)
		}
		return nil, fmt.Errorf("write identity: %w", err)
	}
	return k, nil
}

func readKey(path string) (crypto.PrivKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrIdentity, err)
	}
	return k, nil
}

// Open reads an existing repo. It does not lock anything: the block store
// lock is what keeps two processes apart.
func Open(dir string) (*Repo, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, ConfigFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w (run `trove init`)", dir, ErrNotInitialized)
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := DecodeConfig(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	key, err := readKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	if id.String() != cfg.Identity.PeerID {
		return nil, fmt.Errorf("%w: key is %s, config says %q", ErrIdentity, id, cfg.Identity.PeerID)
	}
	return &Repo{Path: dir, Config: cfg, Key: key, PeerID: id}, nil
}

// OpenOrInit opens dir, initializing it first when it holds no repo, so
// commands work on a fresh machine without a separate init step.
func OpenOrInit(dir string) (*Repo, error) {
	r, err := Open(dir)
	if !errors.Is(err, ErrNotInitialized) {
		return r, err
	}
	r, err = Init(dir)
	if errors.Is(err, ErrExists) {
		return Open(dir)
	}
	return r, err
}

// SaveConfig replaces the config atomically (write, fsync, rename) so a
// crash never leaves a half-written file.
func (r *Repo) SaveConfig(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	data, err := c.Encode()
	if err != nil {
		return err
	}
	path := filepath.Join(r.Path, ConfigFile)
	tmp, err := writeTemp(r.Path, data, 0o644)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	r.Config = c
	return nil
}

// createExclusive writes data to a temp file and links it into place, so
// path either does not exist or holds the complete contents.
func createExclusive(path string, data []byte, mode os.FileMode) error {
	tmp, err := writeTemp(filepath.Dir(path), data, mode)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func writeTemp(dir string, data []byte, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	_, err = bytes.NewReader(data).WriteTo(f)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
