package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/node/api"
	"github.com/trove-p2p/trove/unixfs"
)

// Remote is a Node seen through a running daemon's API: the same methods
// with the same results and the same error kinds, so the CLI drives either
// without knowing which. Data moves as streams both ways; nothing is
// buffered whole on either side.
type Remote struct {
	c *api.Client
	// blockBufs are read buffers for get's blocks (readVerified).
	blockBufs sync.Pool
}

// NewRemote wraps a connected API client. Dial it with ClientOptions.Kinds
// = Kinds() so errors map back to the node's sentinels.
func NewRemote(c *api.Client) *Remote { return &Remote{c: c} }

// Close releases the client's idle connections; the daemon keeps running.
func (r *Remote) Close() error { return r.c.Close() }

// Add uploads the entries to the daemon's importer: an unnamed stream
// (stdin) as the raw request body (it must then be the only entry, as the
// CLI guarantees), anything else as a tar stream written while it is being
// sent. Local walking happens here, so a walk error (a
// missing file, a special file) is reported exactly as offline. With
// o.LocalFiles, on the unix socket, files from FileEntries go as their
// paths and the daemon reads them (ErrReadRefused if it will not: the
// caller then adds again without LocalFiles).
func (r *Remote) Add(ctx context.Context, entries iter.Seq2[Entry, error], o AddOptions) (AddResult, error) {
	if r.c.Addr().Network != "unix" {
		o.LocalFiles = false // the daemon may be on another machine
	}
	if o.NoCopy != "" {
		// The daemon opens the file itself (AddOptions.NoCopy): the
		// request carries its path and no content.
		return epAdd.Upload(ctx, r.c, o, api.Body{Reader: strings.NewReader(""), ContentType: api.ContentStream}, func(p AddProgress) error {
			if o.Progress != nil {
				o.Progress(p.Bytes)
			}
			return nil
		})
	}
	next, stop := iter.Pull2(entries)
	defer stop()
	first, ferr, ok := next()
	if ok && ferr != nil {
		return AddResult{}, ferr
	}
	progress := o.Progress
	var (
		body    api.Body
		walkErr error
		done    = make(chan struct{})
		pr      *io.PipeReader
	)
	if ok && first.Path == "" && first.Kind == EntryFile && first.Content != nil {
		body = api.Body{Reader: first.Content, ContentType: api.ContentStream}
		close(done)
	} else {
		var pw *io.PipeWriter
		pr, pw = io.Pipe()
		body = api.Body{Reader: pr, ContentType: api.ContentTar}
		rest := func(yield func(Entry, error) bool) {
			if !ok || !yield(first, nil) {
				return
			}
			for {
				e, err, more := next()
				if !more || !yield(e, err) {
					return
				}
			}
		}
		byPath := o.LocalFiles
		go func() {
			defer close(done)
			walkErr = writeTar(pw, rest, byPath)
			pw.CloseWithError(walkErr)
		}()
	}
	res, err := epAdd.Upload(ctx, r.c, o, body, func(p AddProgress) error {
		if progress != nil {
			progress(p.Bytes)
		}
		return nil
	})
	if pr != nil {
		// Unblocks the tar writer if the daemon stopped reading early.
		pr.CloseWithError(errUploadEnded)
	}
	<-done
	if walkErr != nil && !errors.Is(walkErr, errUploadEnded) {
		// The local walk failed and broke the upload: that is the cause,
		// whatever the daemon made of the truncated stream.
		return AddResult{}, walkErr
	}
	if err != nil {
		return AddResult{}, err
	}
	if progress != nil {
		var total int64
		for _, e := range res.Entries {
			total += int64(e.Size)
		}
		progress(total)
	}
	return res, nil
}

// errUploadEnded stops a tar writer whose request is over.
var errUploadEnded = errors.New("upload ended")

// Cat streams a file's content from the daemon.
func (r *Remote) Cat(ctx context.Context, path string, w io.Writer) (int64, error) {
	return epCat.Copy(ctx, r.c, PathArgs{Path: path}, w)
}

// Ls lists a directory.
func (r *Remote) Ls(ctx context.Context, path string) ([]LsEntry, error) {
	return epLs.Call(ctx, r.c, PathArgs{Path: path})
}

// Resolve asks the daemon which CID path names.
func (r *Remote) Resolve(ctx context.Context, path string) (cid.Cid, error) {
	out, err := epResolve.Call(ctx, r.c, PathArgs{Path: path})
	if err != nil {
		return cid.Undef, err
	}
	return ParseCID(out.Cid)
}

// Get writes the tree at path to the local path out. The daemon never
// writes client paths: the client pulls blocks one by one, verifies each
// against its CID, and writes through unixfs.WriteTo, the same confined
// writer the offline node uses, so hostile names are refused identically.
func (r *Remote) Get(ctx context.Context, path, out string, o GetOptions) (GetResult, error) {
	c, err := r.Resolve(ctx, path)
	if err != nil {
		return GetResult{}, err
	}
	st, err := unixfs.WriteTo(ctx, remoteBlocks{r}, c, out, unixfs.WriteOptions{Force: o.Force, Progress: o.Progress})
	res := GetResult{Cid: c.String(), Path: out, Files: st.Files, Dirs: st.Dirs, Symlinks: st.Symlinks, Bytes: st.Bytes}
	if err != nil {
		return res, fmt.Errorf("get %s: %w", path, err)
	}
	if o.NoCopy {
		return res, referOutput(ctx, r.Refer, c, out)
	}
	return res, nil
}

// remoteBlocks is a block.Getter over the daemon's block endpoint.
type remoteBlocks struct{ r *Remote }

func (g remoteBlocks) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	body, err := epBlockGet.Open(ctx, g.r.c, PathArgs{Path: c.String()})
	if err != nil {
		return nil, err
	}
	return g.r.readVerified(body, c)
}

// readVerified reads one block the daemon sent and checks it against c:
// the client trusts the daemon no more than the daemon trusts peers.
func (r *Remote) readVerified(body io.ReadCloser, c cid.Cid) ([]byte, error) {
	defer body.Close()
	// The block is read into a pooled buffer of the largest size and
	// cloned at its exact length: io.ReadAll grows its slice step by step
	// from 512 bytes, and allocating and clearing those was a tenth of a
	// streaming get's CPU in a profile (docs/performance.md).
	bp, _ := r.blockBufs.Get().(*[]byte)
	if bp == nil {
		// One byte over the largest block tells a hostile daemon's
		// oversized block apart from a maximal one without reading it all.
		b := make([]byte, block.MaxSize+1)
		bp = &b
	}
	defer r.blockBufs.Put(bp)
	buf := *bp
	n, err := io.ReadFull(body, buf)
	switch {
	case err == nil:
		return nil, fmt.Errorf("%s: %w", c, block.ErrTooLarge)
	case err != io.EOF && err != io.ErrUnexpectedEOF:
		return nil, err
	}
	data := bytes.Clone(buf[:n])
	if data == nil {
		data = []byte{}
	}
	if err := block.Verify(c, data); err != nil {
		return nil, err
	}
	return data, nil
}

// PinAdd pins through the daemon, which also announces the root.
func (r *Remote) PinAdd(ctx context.Context, path string, o PinAddOptions) (PinInfo, error) {
	return epPinAdd.Call(ctx, r.c, PinAddArgs{Path: path, Options: o})
}

// PinRm removes a pin.
func (r *Remote) PinRm(ctx context.Context, path string) (PinInfo, error) {
	return epPinRm.Call(ctx, r.c, PathArgs{Path: path})
}

// PinLs lists pins.
func (r *Remote) PinLs(ctx context.Context) ([]PinInfo, error) {
	return epPinLs.Call(ctx, r.c, struct{}{})
}

// GC runs garbage collection in the daemon.
func (r *Remote) GC(ctx context.Context) (GCResult, error) {
	return epGC.Call(ctx, r.c, struct{}{})
}

// RepoStat reports the daemon's repo.
func (r *Remote) RepoStat(ctx context.Context) (RepoStat, error) {
	return epRepoStat.Call(ctx, r.c, struct{}{})
}

// RepoVerify verifies the daemon's repo, passing its progress events to
// o.Progress.
func (r *Remote) RepoVerify(ctx context.Context, o RepoVerifyOptions) (RepoVerifyResult, error) {
	return epRepoVerify.Call(ctx, r.c, o, func(p VerifyProgress) error {
		if o.Progress != nil {
			o.Progress(p)
		}
		return nil
	})
}

// BlockGet streams one block's bytes.
func (r *Remote) BlockGet(ctx context.Context, path string, w io.Writer) (int64, error) {
	return epBlockGet.Copy(ctx, r.c, PathArgs{Path: path}, w)
}

// BlockStat describes one block.
func (r *Remote) BlockStat(ctx context.Context, path string) (BlockStat, error) {
	return epBlockStat.Call(ctx, r.c, PathArgs{Path: path})
}

// DagExport streams a CAR of the DAG at path.
func (r *Remote) DagExport(ctx context.Context, path string, w io.Writer) error {
	_, err := epDagExport.Copy(ctx, r.c, PathArgs{Path: path}, w)
	return err
}

// DagImport uploads a CAR stream.
func (r *Remote) DagImport(ctx context.Context, car io.Reader, o DagImportOptions) (DagImportResult, error) {
	return epDagImport.Call(ctx, r.c, o, car)
}

// ID describes the daemon's peer identity and addresses.
func (r *Remote) ID(ctx context.Context) (IDResult, error) {
	return epID.Call(ctx, r.c, struct{}{})
}

// Peers lists connected peers.
func (r *Remote) Peers(ctx context.Context) ([]PeerResult, error) {
	return epPeers.Call(ctx, r.c, struct{}{})
}

// Connect dials a peer given as a multiaddr ending in /p2p/<ID>.
func (r *Remote) Connect(ctx context.Context, addr string) (IDResult, error) {
	return epConnect.Call(ctx, r.c, ConnectArgs{Addr: addr})
}

// Provide announces the content at path to the DHT and waits for it.
func (r *Remote) Provide(ctx context.Context, path string) (string, error) {
	out, err := epProvide.Call(ctx, r.c, PathArgs{Path: path})
	return out.Cid, err
}

// FindProviders streams providers of a CID to found as the DHT yields them.
func (r *Remote) FindProviders(ctx context.Context, a FindProvsArgs, found func(ProviderEvent) error) (FindProvsResult, error) {
	return epFindProvs.Call(ctx, r.c, a, found)
}

// Stats reports network and repo figures.
func (r *Remote) Stats(ctx context.Context) (StatsResult, error) {
	return epStats.Call(ctx, r.c, struct{}{})
}

// Fetch downloads into the daemon's repo, streaming progress to fn.
// FetchTo has the daemon download and write the output itself; only a
// client of the daemon's own user on its unix socket may ask (else the
// error wraps ErrWriteRefused).
//
// When ctx ends, it asks the daemon to stop and waits (up to
// fetchToStopWait) for the daemon's answer, which comes once the daemon
// has removed its partial output; only then does it return.
func (r *Remote) FetchTo(ctx context.Context, a FetchToArgs, fn func(FetchProgress)) (FetchToResult, error) {
	var id [16]byte
	rand.Read(id[:])
	a.ID = hex.EncodeToString(id[:])
	callCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(callCtx, fetchToStopWait)
		defer cancel()
		if _, err := epFetchToStop.Call(sctx, r.c, FetchToStop{ID: a.ID}); err != nil {
			abandon()
			return
		}
		select {
		case <-done:
		case <-sctx.Done():
			abandon()
		}
	}()
	res, err := epFetchTo.Call(callCtx, r.c, a, func(p FetchProgress) error {
		if fn != nil {
			fn(p)
		}
		return nil
	})
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return res, err
}

// fetchToStopWait bounds how long an interrupted FetchTo waits for the
// daemon to clean up.
const fetchToStopWait = 10 * time.Second

func (r *Remote) Fetch(ctx context.Context, a FetchArgs, fn func(FetchProgress)) (FetchResult, error) {
	return epFetch.Call(ctx, r.c, a, func(p FetchProgress) error {
		if fn != nil {
			fn(p)
		}
		return nil
	})
}

// SetLimits changes the daemon's bandwidth caps.
func (r *Remote) SetLimits(ctx context.Context, a LimitsArgs) (Limits, error) {
	return epLimits.Call(ctx, r.c, a)
}

// Transfers reports the daemon's live transfers.
func (r *Remote) Transfers(ctx context.Context) (TransferStats, error) {
	return epTransfers.Call(ctx, r.c, struct{}{})
}
