package transfer

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TicketScheme prefixes every ticket.
const TicketScheme = "trove://"

// Ticket limits, enforced before allocation, so a pasted ticket cannot
// make the decoder allocate much.
const (
	MaxTicketLen       = 8 << 10
	MaxTicketProviders = 16
	MaxTicketAddrs     = 8
	maxTicketField     = 256
	ticketVersion      = 1
)

// ErrBadTicket marks a string that is not a valid trove ticket.
var ErrBadTicket = errors.New("bad trove ticket")

// Lower-case, unpadded base32 keeps tickets case-insensitive friendly and
// free of characters that need quoting in shells or URLs.
var ticketEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// EncodeTicket packs a root and the peers that serve it into a
// copy-pasteable "trove://" string: version byte, CID, then each
// provider's peer ID and multiaddrs, all uvarint length-prefixed.
func EncodeTicket(root cid.Cid, providers []peer.AddrInfo) (string, error) {
	if !root.Defined() {
		return "", fmt.Errorf("%w: undefined CID", ErrBadTicket)
	}
	if len(providers) > MaxTicketProviders {
		return "", fmt.Errorf("%w: %d providers (max %d)", ErrBadTicket, len(providers), MaxTicketProviders)
	}
	b := []byte{ticketVersion}
	b = appendField(b, root.Bytes())
	b = binary.AppendUvarint(b, uint64(len(providers)))
	for _, p := range providers {
		id := []byte(p.ID)
		if len(id) == 0 {
			return "", fmt.Errorf("%w: empty peer ID", ErrBadTicket)
		}
		b = appendField(b, id)
		addrs := p.Addrs
		if len(addrs) > MaxTicketAddrs {
			addrs = addrs[:MaxTicketAddrs]
		}
		b = binary.AppendUvarint(b, uint64(len(addrs)))
		for _, a := range addrs {
			b = appendField(b, a.Bytes())
		}
	}
	s := TicketScheme + strings.ToLower(ticketEnc.EncodeToString(b))
	if len(s) > MaxTicketLen {
		return "", fmt.Errorf("%w: %d bytes (max %d)", ErrBadTicket, len(s), MaxTicketLen)
	}
	return s, nil
}

func appendField(b, f []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(f)))
	return append(b, f...)
}

// DecodeTicket parses a ticket made by EncodeTicket.
func DecodeTicket(s string) (cid.Cid, []peer.AddrInfo, error) {
	if len(s) > MaxTicketLen {
		return cid.Undef, nil, fmt.Errorf("%w: too long", ErrBadTicket)
	}
	rest, ok := strings.CutPrefix(s, TicketScheme)
	if !ok {
		return cid.Undef, nil, fmt.Errorf("%w: missing %s", ErrBadTicket, TicketScheme)
	}
	b, err := ticketEnc.DecodeString(strings.ToUpper(rest))
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("%w: %w", ErrBadTicket, err)
	}
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != ticketVersion {
		return cid.Undef, nil, fmt.Errorf("%w: version %d", ErrBadTicket, v)
	}
	root := d.cid()
	n := d.uvarint()
	if n > MaxTicketProviders {
		return cid.Undef, nil, fmt.Errorf("%w: %d providers", ErrBadTicket, n)
	}
	var provs []peer.AddrInfo
	for i := uint64(0); i < n && d.err == nil; i++ {
		idb := d.field()
		id, err := peer.IDFromBytes(idb)
		if d.err == nil && err != nil {
			d.fail(err)
		}
		na := d.uvarint()
		if na > MaxTicketAddrs {
			d.fail(fmt.Errorf("%d addrs", na))
		}
		ai := peer.AddrInfo{ID: id}
		for j := uint64(0); j < na && d.err == nil; j++ {
			a, err := ma.NewMultiaddrBytes(d.field())
			if d.err == nil && err != nil {
				d.fail(err)
			}
			ai.Addrs = append(ai.Addrs, a)
		}
		provs = append(provs, ai)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Errorf("%d trailing bytes", len(d.b)))
	}
	if d.err != nil {
		return cid.Undef, nil, fmt.Errorf("%w: %w", ErrBadTicket, d.err)
	}
	return root, provs, nil
}

func (d *decoder) field() []byte {
	n := d.uvarint()
	if n > maxTicketField {
		d.fail(fmt.Errorf("field of %d bytes", n))
		return nil
	}
	return d.take(int(n))
}
