package p2p

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/pnet"
)

// SwarmKeySize is the length of a private-swarm pre-shared key. libp2p's
// pnet protector (XSalsa20) takes exactly 32 bytes.
const SwarmKeySize = 32

// ErrBadSwarmKey means a swarm key file or value is malformed.
var ErrBadSwarmKey = errors.New("bad swarm key")

const (
	swarmKeyHeader = "/key/swarm/psk/1.0.0/"
	swarmKeyBase16 = "/base16/"
)

// GenerateSwarmKey returns a fresh random key for a private swarm. Every node
// of the swarm must be given the same key; a node without it cannot complete
// a connection handshake with them.
func GenerateSwarmKey() []byte {
	k := make([]byte, SwarmKeySize)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(k)
	return k
}

// EncodeSwarmKey renders key in the swarm.key file format that Kubo and other
// libp2p tools read, so an operator can reuse a key across implementations.
func EncodeSwarmKey(key []byte) ([]byte, error) {
	if len(key) != SwarmKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadSwarmKey, len(key), SwarmKeySize)
	}
	var b bytes.Buffer
	b.WriteString(swarmKeyHeader + "\n" + swarmKeyBase16 + "\n")
	b.WriteString(hex.EncodeToString(key))
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// DecodeSwarmKey reads a swarm.key file (base16, base64 or bin encodings). It
// is stricter than pnet.DecodeV1PSK about what follows the key: a longer or
// truncated key is an operator mistake that would otherwise silently produce
// a node that can talk to nobody.
func DecodeSwarmKey(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSwarmKey, err)
	}
	psk, err := pnet.DecodeV1PSK(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSwarmKey, err)
	}
	// For the text encodings, reject anything after the key but whitespace.
	lines := bytes.SplitN(data, []byte("\n"), 3)
	if len(lines) == 3 && string(bytes.TrimRight(lines[1], "\r")) == swarmKeyBase16 {
		body := bytes.TrimSpace(lines[2])
		if len(body) != 2*SwarmKeySize {
			return nil, fmt.Errorf("%w: base16 key is %d characters, want %d", ErrBadSwarmKey, len(body), 2*SwarmKeySize)
		}
	}
	return []byte(psk), nil
}
