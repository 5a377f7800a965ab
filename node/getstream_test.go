package node

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// TestReadVerified: the client side of get accepts a block of any size up
// to block.MaxSize only if it matches its CID, refuses a longer one
// without reading it all, and returns a copy that the buffer pool's next
// use does not overwrite.
func TestReadVerified(t *testing.T) {
	sum := func(b []byte) string {
		c, err := block.Sum(1, block.CodecRaw, block.HashSHA256, b)
		if err != nil {
			t.Fatal(err)
		}
		return c.String()
	}
	small, max := []byte("a small block"), randomData(block.MaxSize, 3)
	r := &Remote{}
	for _, tc := range []struct {
		name    string
		cid     string
		body    []byte
		wantErr error
	}{
		{"small", sum(small), small, nil},
		{"empty", sum(nil), nil, nil},
		{"largest", sum(max), max, nil},
		{"one byte over", sum(max), append(bytes.Clone(max), 0), block.ErrTooLarge},
		{"other bytes", sum(small), []byte("another block"), block.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := ParseCID(tc.cid)
			got, err := r.readVerified(io.NopCloser(bytes.NewReader(tc.body)), c)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.body) || got == nil {
				t.Fatalf("got %d bytes, %v", len(got), err)
			}
			// The pooled buffer is reused by the next read; what was
			// returned must not change.
			want := bytes.Clone(got)
			r.readVerified(io.NopCloser(bytes.NewReader(max)), mustCID(t, sum(max)))
			if !bytes.Equal(got, want) {
				t.Error("a later read changed a returned block")
			}
		})
	}
}

func mustCID(t *testing.T, s string) cid.Cid {
	t.Helper()
	c, err := ParseCID(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
