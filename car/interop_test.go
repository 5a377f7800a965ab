package car

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
)

// TestForeignArchives imports CAR files written by other implementations
// (boxo's gateway fixtures, produced by Kubo and go-car) when the module
// cache has them, and checks that Export of the imported DAG reproduces
// the archive byte for byte: same header encoding, same block order.
// They are read in place rather than copied into this repository.
func TestForeignArchives(t *testing.T) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skip("no go command:", err)
	}
	files, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "github.com/ipfs/boxo@*/gateway/testdata/*.car"))
	if len(files) == 0 {
		t.Skip("boxo gateway fixtures not in the module cache")
	}
	ctx := context.Background()
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			orig, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := memstore.New()
			roots, n, err := Import(ctx, bytes.NewReader(orig), s)
			if errors.Is(err, block.ErrUnsupported) {
				t.Skipf("archive holds a codec trove does not walk: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(roots) != 1 || n == 0 {
				t.Skipf("%d roots, %d blocks: not a single-DAG archive", len(roots), n)
			}
			var buf bytes.Buffer
			if err := Export(ctx, s, roots[0], &buf); err != nil {
				t.Skipf("partial DAG: %v", err)
			}
			if !bytes.Equal(buf.Bytes(), orig) {
				t.Errorf("re-export of %d blocks differs from the original (%d vs %d bytes)", n, buf.Len(), len(orig))
			}
		})
	}
}
