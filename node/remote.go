package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"

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
// missing file, a special file) is reported exactly as offline.
func (r *Remote) Add(ctx context.Context, entries iter.Seq2[Entry, error], o AddOptions) (AddResult, error) {
	next, stop := iter.Pull2(entries)
	defer stop()
	first, ferr, ok := next()
	if ok && ferr != nil {
		return AddResult{}, ferr
	}
	progress := o.Progress
	req := api.Request{Path: PathAdd, Args: o}
	var (
		walkErr error
		done    = make(chan struct{})
		pr      *io.PipeReader
	)
	if ok && first.Path == "" && first.Kind == EntryFile && first.Content != nil {
		req.Body, req.ContentType = first.Content, api.ContentStream
		close(done)
	} else {
		var pw *io.PipeWriter
		pr, pw = io.Pipe()
		req.Body, req.ContentType = pr, api.ContentTar
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
		go func() {
			defer close(done)
			walkErr = WriteTar(pw, rest)
			pw.CloseWithError(walkErr)
		}()
	}
	var res AddResult
	err := r.c.Events(ctx, req, func(ev json.RawMessage) error {
		var p AddProgress
		if progress != nil && json.Unmarshal(ev, &p) == nil {
			progress(p.Bytes)
		}
		return nil
	}, &res)
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

// stream copies a download endpoint's body to w.
func (r *Remote) stream(ctx context.Context, path string, args any, w io.Writer) (int64, error) {
	body, err := r.c.Stream(ctx, api.Request{Path: path, Args: args})
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.Copy(w, body)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return n, err
}

// Cat streams a file's content from the daemon.
func (r *Remote) Cat(ctx context.Context, path string, w io.Writer) (int64, error) {
	return r.stream(ctx, PathCat, PathArgs{Path: path}, w)
}

// Ls lists a directory.
func (r *Remote) Ls(ctx context.Context, path string) ([]LsEntry, error) {
	var out []LsEntry
	err := r.c.Call(ctx, http.MethodPost, PathLs, PathArgs{Path: path}, &out)
	return out, err
}

// Resolve asks the daemon which CID path names.
func (r *Remote) Resolve(ctx context.Context, path string) (cid.Cid, error) {
	var out ResolveResult
	if err := r.c.Call(ctx, http.MethodPost, PathResolve, PathArgs{Path: path}, &out); err != nil {
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
	return res, nil
}

// remoteBlocks is a block.Getter over the daemon's block endpoint.
type remoteBlocks struct{ r *Remote }

func (g remoteBlocks) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	body, err := g.r.c.Stream(ctx, api.Request{Path: PathBlockGet, Args: PathArgs{Path: c.String()}})
	if err != nil {
		return nil, err
	}
	defer body.Close()
	// One byte over the limit tells a hostile daemon's oversized block
	// apart from a maximal one without reading it all.
	data, err := io.ReadAll(io.LimitReader(body, block.MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > block.MaxSize {
		return nil, fmt.Errorf("%s: %w", c, block.ErrTooLarge)
	}
	if err := block.Verify(c, data); err != nil {
		return nil, err
	}
	return data, nil
}

// PinAdd pins through the daemon, which also announces the root.
func (r *Remote) PinAdd(ctx context.Context, path string, o PinAddOptions) (PinInfo, error) {
	var out PinInfo
	err := r.c.Call(ctx, http.MethodPost, PathPinAdd, PinAddArgs{Path: path, Options: o}, &out)
	return out, err
}

// PinRm removes a pin.
func (r *Remote) PinRm(ctx context.Context, path string) (PinInfo, error) {
	var out PinInfo
	err := r.c.Call(ctx, http.MethodPost, PathPinRm, PathArgs{Path: path}, &out)
	return out, err
}

// PinLs lists pins.
func (r *Remote) PinLs(ctx context.Context) ([]PinInfo, error) {
	out := []PinInfo{}
	err := r.c.Call(ctx, http.MethodPost, PathPinLs, struct{}{}, &out)
	return out, err
}

// GC runs garbage collection in the daemon.
func (r *Remote) GC(ctx context.Context) (GCResult, error) {
	var out GCResult
	err := r.c.Call(ctx, http.MethodPost, PathGC, struct{}{}, &out)
	return out, err
}

// RepoStat reports the daemon's repo.
func (r *Remote) RepoStat(ctx context.Context) (RepoStat, error) {
	var out RepoStat
	err := r.c.Call(ctx, http.MethodPost, PathRepoStat, struct{}{}, &out)
	return out, err
}

// RepoVerify verifies the daemon's repo, passing its progress events to
// o.Progress.
func (r *Remote) RepoVerify(ctx context.Context, o RepoVerifyOptions) (RepoVerifyResult, error) {
	var out RepoVerifyResult
	err := r.c.Events(ctx, api.Request{Path: PathRepoVerify, Args: o}, func(ev json.RawMessage) error {
		var p VerifyProgress
		if o.Progress != nil && json.Unmarshal(ev, &p) == nil {
			o.Progress(p)
		}
		return nil
	}, &out)
	return out, err
}

// BlockGet streams one block's bytes.
func (r *Remote) BlockGet(ctx context.Context, path string, w io.Writer) (int64, error) {
	return r.stream(ctx, PathBlockGet, PathArgs{Path: path}, w)
}

// BlockStat describes one block.
func (r *Remote) BlockStat(ctx context.Context, path string) (BlockStat, error) {
	var out BlockStat
	err := r.c.Call(ctx, http.MethodPost, PathBlockStat, PathArgs{Path: path}, &out)
	return out, err
}

// DagExport streams a CAR of the DAG at path.
func (r *Remote) DagExport(ctx context.Context, path string, w io.Writer) error {
	_, err := r.stream(ctx, PathDagExport, PathArgs{Path: path}, w)
	return err
}

// DagImport uploads a CAR stream.
func (r *Remote) DagImport(ctx context.Context, car io.Reader, o DagImportOptions) (DagImportResult, error) {
	body, err := r.c.Stream(ctx, api.Request{Path: PathDagImport, Args: o, Body: car, ContentType: "application/vnd.ipld.car"})
	if err != nil {
		return DagImportResult{}, err
	}
	defer body.Close()
	var out DagImportResult
	if err := json.NewDecoder(body).Decode(&out); err != nil {
		return DagImportResult{}, fmt.Errorf("dag import: read result: %w", err)
	}
	return out, nil
}

// ID describes the daemon's peer identity and addresses.
func (r *Remote) ID(ctx context.Context) (IDResult, error) {
	var out IDResult
	err := r.c.Call(ctx, http.MethodPost, PathID, struct{}{}, &out)
	return out, err
}

// Peers lists connected peers.
func (r *Remote) Peers(ctx context.Context) ([]PeerResult, error) {
	out := []PeerResult{}
	err := r.c.Call(ctx, http.MethodPost, PathPeers, struct{}{}, &out)
	return out, err
}

// Connect dials a peer given as a multiaddr ending in /p2p/<ID>.
func (r *Remote) Connect(ctx context.Context, addr string) (IDResult, error) {
	var out IDResult
	err := r.c.Call(ctx, http.MethodPost, PathConnect, ConnectArgs{Addr: addr}, &out)
	return out, err
}

// Provide announces the content at path to the DHT and waits for it.
func (r *Remote) Provide(ctx context.Context, path string) (string, error) {
	var out ResolveResult
	err := r.c.Call(ctx, http.MethodPost, PathProvide, PathArgs{Path: path}, &out)
	return out.Cid, err
}

// FindProviders streams providers of a CID to found as the DHT yields them.
func (r *Remote) FindProviders(ctx context.Context, a FindProvsArgs, found func(ProviderEvent) error) (FindProvsResult, error) {
	var out FindProvsResult
	err := r.c.Events(ctx, api.Request{Path: PathFindProvs, Args: a}, func(ev json.RawMessage) error {
		var p ProviderEvent
		if err := json.Unmarshal(ev, &p); err != nil {
			return fmt.Errorf("findprovs: bad event: %w", err)
		}
		return found(p)
	}, &out)
	return out, err
}

// Stats reports network and repo figures.
func (r *Remote) Stats(ctx context.Context) (StatsResult, error) {
	var out StatsResult
	err := r.c.Call(ctx, http.MethodPost, PathStats, struct{}{}, &out)
	return out, err
}
