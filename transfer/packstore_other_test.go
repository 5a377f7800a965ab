//go:build !linux

package transfer

import (
	"context"
	"errors"

	"github.com/ipfs/go-cid"
)

// packStore measures a pwrite store on Linux only (it relies on
// fdatasync and fadvise); see packstore_test.go.
type packStore struct{ f interface{ Close() error } }

func newPackStore(string) (*packStore, error) {
	return nil, errors.New("TROVE_BENCH_STORE=pack is Linux-only")
}

func (*packStore) Put(context.Context, cid.Cid, []byte) error   { return nil }
func (*packStore) Has(context.Context, cid.Cid) (bool, error)   { return false, nil }
func (*packStore) Get(context.Context, cid.Cid) ([]byte, error) { return nil, nil }
