package importer_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/trove-p2p/trove/unixfs/importer"
)

// The IPIP-499 fixture: "hello world" under the default profile is a
// single raw leaf.
func ExampleImportReader() {
	res, err := importer.ImportReader(context.Background(), strings.NewReader("hello world"), importer.Params{}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Cid, res.Size)
	// Output: bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e 11
}

// `ipfs add --cid-version=1` composes the legacy profile with a CID
// version, which also turns raw leaves on.
func ExampleParamsFor() {
	one := 1
	p, err := importer.ParamsFor(importer.ProfileV0_2015, importer.Overrides{CidVersion: &one})
	if err != nil {
		panic(err)
	}
	fmt.Printf("CIDv0=%v dag-pb leaves=%v chunk=%d links=%d\n", p.CIDv0, p.DagPBLeaves, p.ChunkSize, p.MaxLinks)
	// Output: CIDv0=false dag-pb leaves=false chunk=262144 links=174
}
