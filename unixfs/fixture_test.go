package unixfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/car"
	"github.com/trove-p2p/trove/internal/memstore"
)

// foreignCAR loads one of boxo's gateway fixtures (CARs written by Kubo)
// from the module cache, skipping when it is not there. They check this
// reader against another implementation's writer, which tests built on our
// own HAMT writer cannot: a bit-order mistake shared by writer and reader
// would pass those.
func foreignCAR(t *testing.T, name string) (*memstore.Store, cid.Cid) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skip("no go command:", err)
	}
	files, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "github.com/ipfs/boxo@*/gateway/testdata", name))
	if len(files) == 0 {
		t.Skip("boxo fixture not in the module cache:", name)
	}
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	s := memstore.New()
	roots, _, err := car.Import(context.Background(), bytes.NewReader(b), s)
	if err != nil {
		t.Fatal(err)
	}
	return s, roots[0]
}

func TestForeignHAMT(t *testing.T) {
	ctx := context.Background()
	s, root := foreignCAR(t, "directory-with-multilayer-hamt-and-multiblock-files.car")
	ents, err := ReadDir(ctx, s, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 || ents[0].Name != "basicDir" || ents[1].Name != "hamtDir" {
		t.Fatalf("root entries = %v", ents)
	}
	hamt, err := Stat(ctx, s, ents[1].Cid)
	if err != nil || !hamt.Sharded || hamt.Kind != KindDirectory {
		t.Fatalf("hamtDir: %+v, %v", hamt, err)
	}
	// The fixture's names were chosen to collide in the first hash byte,
	// so finding them exercises the deeper levels.
	for _, name := range []string{"exampleC-hamt-collide-exampleA-seed-52", "exampleD-hamt-collide-exampleB-seed-364"} {
		if _, err := Lookup(ctx, s, ents[1].Cid, name); err != nil {
			t.Errorf("Lookup %s: %v", name, err)
		}
	}
	if _, err := Lookup(ctx, s, ents[1].Cid, "exampleE"); !errors.Is(err, block.ErrNotFound) {
		t.Errorf("Lookup of a missing name: %v", err)
	}
	files := 0
	var walk func(c cid.Cid, path string, depth int)
	walk = func(c cid.Cid, path string, depth int) {
		st, err := Stat(ctx, s, c)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if st.Kind != KindDirectory {
			f, err := NewFile(ctx, s, c)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(f)
			if err != nil || uint64(len(b)) != st.Size {
				t.Fatalf("%s: read %d bytes, %v; Stat says %d", path, len(b), err, st.Size)
			}
			files++
			return
		}
		ents, err := ReadDir(ctx, s, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			got, err := Lookup(ctx, s, c, e.Name)
			if err != nil || !got.Cid.Equals(e.Cid) {
				t.Fatalf("Lookup(%s/%s) = %v, %v; listing says %s", path, e.Name, got.Cid, err, e.Cid)
			}
			walk(e.Cid, path+"/"+e.Name, depth+1)
		}
	}
	walk(root, root.String(), 0)
	if files != 6 {
		t.Fatalf("walked %d files, want 6", files)
	}
}
