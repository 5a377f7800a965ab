package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// announced records what a node announces.
type announced struct {
	mu   sync.Mutex
	cids []string
}

func (a *announced) Announce(c cid.Cid) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cids = append(a.cids, c.String())
}

func (a *announced) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.cids
	a.cids = nil
	return out
}

// The node, not the API route, decides what is announced: an in-process
// call announces what the same call through the daemon would, and only
// content the node now serves in full.
func TestOperationsAnnounce(t *testing.T) {
	ctx := context.Background()
	n := openNode(t, t.TempDir(), Options{})
	ann := &announced{}
	n.announcer = ann
	add := func(o AddOptions) error {
		_, err := n.Add(ctx, entries(Entry{Path: "a.txt", Content: strings.NewReader("announce me")}), o)
		return err
	}
	res, err := n.Add(ctx, entries(Entry{Path: "a.txt", Content: strings.NewReader("announce me")}), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	absent, err := block.Sum(1, block.CodecRaw, block.HashSHA256, []byte("not in the repo"))
	if err != nil {
		t.Fatal(err)
	}
	var car bytes.Buffer
	if err := n.DagExport(ctx, res.Roots[0], &car); err != nil {
		t.Fatal(err)
	}
	ann.take()
	for _, tc := range []struct {
		name string
		op   func() error
		want []string
	}{
		{"add", func() error { return add(AddOptions{}) }, res.Roots},
		{"add --only-hash", func() error { return add(AddOptions{OnlyHash: true}) }, nil},
		{"add --pin=false", func() error { return add(AddOptions{NoPin: true}) }, nil},
		{"pin add", func() error { _, err := n.PinAdd(ctx, res.Roots[0], PinAddOptions{}); return err }, res.Roots},
		{"pin add --direct", func() error { _, err := n.PinAdd(ctx, res.Roots[0], PinAddOptions{Direct: true}); return err }, nil},
		{"pin add of a missing CID", func() error {
			if _, err := n.PinAdd(ctx, absent.String(), PinAddOptions{}); !errors.Is(err, block.ErrNotFound) {
				return fmt.Errorf("pin of a missing CID: %v, want not found", err)
			}
			return nil
		}, nil},
		{"dag import", func() error { _, err := n.DagImport(ctx, bytes.NewReader(car.Bytes()), DagImportOptions{}); return err }, res.Roots},
		{"dag import --pin=false", func() error {
			_, err := n.DagImport(ctx, bytes.NewReader(car.Bytes()), DagImportOptions{NoPin: true})
			return err
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); err != nil {
				t.Fatal(err)
			}
			if got := ann.take(); !slices.Equal(got, tc.want) {
				t.Errorf("announced %v, want %v", got, tc.want)
			}
		})
	}
}

// An offline node has no announcer and announces nothing, without failing.
func TestOfflineAnnouncesNothing(t *testing.T) {
	n := openNode(t, t.TempDir(), Options{})
	if _, err := n.Add(context.Background(), entries(Entry{Path: "a", Content: strings.NewReader("x")}), AddOptions{}); err != nil {
		t.Fatal(err)
	}
}
