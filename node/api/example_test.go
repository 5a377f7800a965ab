package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/trove-p2p/trove/node/api"
)

type statArgs struct {
	Path string `json:"path"`
}

type statResult struct {
	Size int64 `json:"size"`
}

// One value describes the route for both sides.
var statEndpoint = api.Endpoint[statArgs, statResult]{Path: "/v0/block/stat"}

// The daemon side: register node methods, then serve until a signal or a
// `trove shutdown` arrives.
func Example_daemon() {
	repo := "/home/me/.trove"
	srv, err := api.NewServer(api.Options{RepoPath: repo, TCPAddr: "127.0.0.1:5801"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	statEndpoint.Register(srv, func(ctx context.Context, a statArgs) (statResult, error) {
		return statResult{Size: 42}, nil // n.BlockStat(ctx, a.Path)
	})
	srv.Handle("POST /v0/cat", api.BodyHandler(api.ContentStream, func(ctx context.Context, a statArgs, _ io.Reader, w io.Writer) error {
		_, err := io.WriteString(w, "file contents") // n.Cat(ctx, a.Path, w)
		return err
	}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// The CLI side: use the daemon when one runs, the repo otherwise; errors
// keep their sentinels either way, so exit codes match.
func Example_client() {
	repo := "/home/me/.trove"
	ctx := context.Background()
	c, err := api.Dial(repo)
	if errors.Is(err, api.ErrNoDaemon) {
		// n, err := node.Open(ctx, repo, node.Options{}) ... offline path
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer c.Close()
	st, err := statEndpoint.Call(ctx, c, statArgs{Path: "bafy..."})
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // errors.Is(err, block.ErrNotFound) etc. hold
		return
	}
	fmt.Println(st.Size)
	body, err := c.Stream(ctx, api.Request{Path: "/v0/cat", Args: statArgs{Path: "bafy..."}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer body.Close()
	if _, err := io.Copy(os.Stdout, body); err != nil {
		fmt.Fprintln(os.Stderr, err) // includes failures after the first byte
	}
}
