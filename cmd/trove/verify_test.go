package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/node"
)

// TestRepoVerifyCLI walks `trove repo verify` through a clean repo (exit
// 0), one with a rotten block (exit 9, named in text and JSON), --repair
// (the block goes; the pin now lacks it: exit 4), and a re-add that makes
// it clean again. The rot is written through the store, which trusts its
// input, as a damaged disk would hand it back.
func TestRepoVerifyCLI(t *testing.T) {
	ctx := context.Background()
	repo := t.TempDir()
	data := strings.Repeat("0123456789abcdef", 1<<16) + "tail" // two 1 MiB-ish chunks
	root := strings.TrimSpace(mustTrove(t, repo, strings.NewReader(data), "add", "-q", "-"))
	if out := mustTrove(t, repo, nil, "repo", "verify"); !strings.Contains(out, "verified 3 blocks") {
		t.Fatalf("clean repo: %q", out)
	}

	leaf, err := block.Sum(1, block.CodecRaw, block.HashSHA256, []byte(data[1<<20:]))
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(ctx, repo, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rot := []byte(data[1<<20:])
	rot = append([]byte("X"), rot[1:]...)
	if err := n.Blockstore().Put(ctx, leaf, rot); err != nil {
		t.Fatal(err)
	}
	n.Close()

	out, errs, code := trove(t, repo, nil, "repo", "verify")
	if code != exitCorrupt || !strings.Contains(out, "corrupt "+leaf.String()) || !strings.Contains(out, "dangling recursive "+root) || !strings.Contains(errs, "--repair") {
		t.Fatalf("rotten repo: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	out, _, code = trove(t, repo, nil, "--json", "repo", "verify")
	var res node.RepoVerifyResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitCorrupt {
		t.Fatalf("--json: exit %d, %v: %s", code, err, out)
	}
	if res.Corrupt != 1 || res.CorruptBlocks[0].Cid != leaf.String() || res.DanglingPins != 1 || res.Dangling[0].Cid != root || res.Removed != 0 {
		t.Fatalf("--json result %+v", res)
	}

	out, errs, code = trove(t, repo, nil, "repo", "verify", "--repair")
	if code != exitNotFound || !strings.Contains(out, "removed 1 corrupt blocks") || !strings.Contains(errs, "trove get") {
		t.Fatalf("--repair: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	if _, _, code := trove(t, repo, nil, "block", "stat", leaf.String()); code != exitNotFound {
		t.Fatalf("block stat after repair: exit %d, want %d", code, exitNotFound)
	}
	// Offline, "refetching" is adding the same bytes again.
	mustTrove(t, repo, strings.NewReader(data), "add", "-q", "-")
	mustTrove(t, repo, nil, "repo", "verify")
	if got := mustTrove(t, repo, nil, "cat", root); got != data {
		t.Fatal("content differs after repair and re-add")
	}
}
