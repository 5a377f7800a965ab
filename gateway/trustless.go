package gateway

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-varint"

	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/unixfs"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// serveRaw answers ?format=raw: the block's bytes, verified, any codec.
func (h *Handler) serveRaw(q *request) {
	res, err := h.resolve(q)
	if err != nil {
		h.fail(q, err)
		return
	}
	q.setPathHeaders(res)
	etag := `"` + res.target.String() + `.raw"`
	if q.notModified(etag) {
		return
	}
	data, err := q.content.Get(q.r.Context(), res.target)
	if err != nil {
		h.fail(q, err)
		return
	}
	q.attachmentHeaders("application/vnd.ipld.raw", etag, res.target.String()+".bin")
	http.ServeContent(q.w, q.r, "", time.Time{}, bytes.NewReader(data))
}

// carParams are the trustless CAR request's choices.
type carParams struct {
	scope string // "all", "entity" or "block"
	// from and to are entity-bytes; to < 0 counts from the end, hasTo
	// false means to the end.
	from, to    int64
	hasRange    bool
	hasTo       bool
	dups        bool
	order       string
	rangeString string
}

func parseCARParams(q *request, f format) (carParams, error) {
	qs := q.r.URL.Query()
	p := carParams{scope: "all", order: "dfs"}
	if v := f.params["version"]; v != "" && v != "1" {
		return p, fmt.Errorf("%w: CAR version %s is not supported (only 1)", errNotAcceptable, v)
	}
	if v := qs.Get("car-version"); v != "" && v != "1" {
		return p, fmt.Errorf("%w: car-version=%s is not supported (only 1)", errBadRequest, v)
	}
	if v := f.params["order"]; v != "" {
		p.order = v
	}
	if v := qs.Get("car-order"); v != "" {
		p.order = v
	}
	switch p.order {
	case "dfs", "unk":
		// unk: any order will do, and dfs is the one we have.
		p.order = "dfs"
	default:
		return p, fmt.Errorf("%w: CAR order %q (want dfs or unk)", errBadRequest, p.order)
	}
	dups := f.params["dups"]
	if v := qs.Get("car-dups"); v != "" {
		dups = v
	}
	switch dups {
	case "", "n":
	case "y":
		p.dups = true
	default:
		return p, fmt.Errorf("%w: CAR dups=%q (want y or n)", errBadRequest, dups)
	}
	if v := qs.Get("dag-scope"); v != "" {
		switch v {
		case "all", "entity", "block":
			p.scope = v
		default:
			return p, fmt.Errorf("%w: dag-scope=%q (want all, entity or block)", errBadRequest, v)
		}
	}
	if v := qs.Get("entity-bytes"); v != "" {
		from, to, ok := strings.Cut(v, ":")
		var err error
		if !ok {
			return p, fmt.Errorf("%w: entity-bytes=%q (want from:to)", errBadRequest, v)
		}
		if p.from, err = strconv.ParseInt(from, 10, 64); err != nil {
			return p, fmt.Errorf("%w: entity-bytes=%q: %v", errBadRequest, v, err)
		}
		if to != "*" {
			if p.to, err = strconv.ParseInt(to, 10, 64); err != nil {
				return p, fmt.Errorf("%w: entity-bytes=%q: %v", errBadRequest, v, err)
			}
			p.hasTo = true
			if p.from >= 0 && p.to >= 0 && p.to < p.from {
				return p, fmt.Errorf("%w: entity-bytes=%q ends before it starts", errBadRequest, v)
			}
		}
		p.hasRange = true
		p.rangeString = v
		if p.scope == "all" {
			p.scope = "entity"
		}
	}
	return p, nil
}

func (p carParams) mediaType() string {
	d := "n"
	if p.dups {
		d = "y"
	}
	return "application/vnd.ipld.car; version=1; order=" + p.order + "; dups=" + d
}

// serveCAR streams the blocks of the path and of its terminal entity as a
// CAR v1, each as soon as it is available.
func (h *Handler) serveCAR(q *request, f format) {
	p, err := parseCARParams(q, f)
	if err != nil {
		h.fail(q, err)
		return
	}
	res, err := h.resolve(q)
	if err != nil {
		h.fail(q, err)
		return
	}
	q.setPathHeaders(res)
	hs := fnv.New64a()
	fmt.Fprintf(hs, "%s|%s|%s|%v|%s", q.contentPath, p.scope, p.rangeString, p.dups, p.order)
	etag := fmt.Sprintf(`W/"%s.car.%x"`, res.target, hs.Sum64())
	if q.notModified(etag) {
		return
	}
	ctx := q.r.Context()
	g := block.Getter(q.content)
	if p.scope == "all" && res.target.Prefix().MhType != identityHash {
		dg, done := q.content.DAG(ctx, res.target)
		defer done()
		g = dagStall{dg, q.stall}
	}
	// Fetch the terminal block before committing to 200, so a missing or
	// unreachable entity is still an honest error status.
	first, err := getBlock(ctx, g, res.target)
	if err != nil {
		h.fail(q, err)
		return
	}
	q.attachmentHeaders(p.mediaType(), etag, res.target.String()+".car")
	q.w.Header().Set("Accept-Ranges", "none")
	if q.r.Method == http.MethodHead {
		return
	}
	bw := bufio.NewWriterSize(q.w, 64<<10)
	cw := &carWriter{w: bw, dups: p.dups, seen: map[cid.Cid]bool{}, flush: func() {
		bw.Flush()
		http.NewResponseController(q.w).Flush()
	}}
	cw.header([]cid.Cid{res.target})
	for _, c := range res.path {
		if c == res.target {
			continue
		}
		data, err := getBlock(ctx, q.content, c)
		if err != nil {
			abort(h, q, err)
		}
		cw.block(c, data)
	}
	walk := &carWalk{ctx: ctx, g: g, cw: cw, p: p}
	if err := walk.entity(res.target, first); err != nil {
		bw.Flush()
		abort(h, q, err)
	}
	if err := bw.Flush(); err != nil {
		return
	}
}

// abort ends a response whose status is already sent: the client sees a
// cut connection, never a well-formed but incomplete body.
func abort(h *Handler, q *request, err error) {
	if q.r.Context().Err() == nil {
		h.o.Logger.Warn("gateway response aborted", "path", q.contentPath, "err", err)
	}
	panic(http.ErrAbortHandler)
}

type dagStall struct {
	g     block.Getter
	stall *stallTimer
}

func (d dagStall) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	b, err := getBlock(ctx, d.g, c)
	if err == nil {
		d.stall.progress()
	}
	return b, err
}

// getBlock reads c, answering identity CIDs from the CID itself.
func getBlock(ctx context.Context, g block.Getter, c cid.Cid) ([]byte, error) {
	if c.Prefix().MhType == identityHash {
		return identityBytes(c)
	}
	return g.Get(ctx, c)
}

// carWriter writes CAR v1 framing.
type carWriter struct {
	w     *bufio.Writer
	dups  bool
	seen  map[cid.Cid]bool
	n     int
	flush func()
}

func (cw *carWriter) header(roots []cid.Cid) {
	hdr := encodeCARHeader(roots)
	cw.w.Write(varint.ToUvarint(uint64(len(hdr))))
	cw.w.Write(hdr)
	cw.flush()
}

// block writes one block, unless it is an identity CID (never a block)
// or a duplicate the client did not ask for.
func (cw *carWriter) block(c cid.Cid, data []byte) {
	if c.Prefix().MhType == identityHash {
		return
	}
	if cw.seen[c] && !cw.dups {
		return
	}
	cw.seen[c] = true
	cw.w.Write(varint.ToUvarint(uint64(c.ByteLen() + len(data))))
	cw.w.WriteString(c.KeyString())
	cw.w.Write(data)
	cw.n++
	if cw.w.Buffered() == 0 || cw.n%16 == 0 {
		cw.flush()
	}
}

// encodeCARHeader encodes {"roots": [...], "version": 1} in dag-cbor.
func encodeCARHeader(roots []cid.Cid) []byte {
	var b []byte
	b = append(b, 0xa2)                    // map(2)
	b = append(b, 0x65)                    // text(5)
	b = append(b, "roots"...)              //
	b = cborHead(b, 4, uint64(len(roots))) // array
	for _, r := range roots {
		b = cborHead(b, 6, 42) // tag 42
		raw := append([]byte{0}, r.Bytes()...)
		b = cborHead(b, 2, uint64(len(raw)))
		b = append(b, raw...)
	}
	b = append(b, 0x67)
	b = append(b, "version"...)
	b = append(b, 0x01)
	return b
}

func cborHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n < 1<<8:
		return append(b, m|24, byte(n))
	case n < 1<<16:
		return append(b, m|25, byte(n>>8), byte(n))
	case n < 1<<32:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// carWalk emits the terminal entity of a CAR response per dag-scope.
type carWalk struct {
	ctx   context.Context
	g     block.Getter
	cw    *carWriter
	p     carParams
	depth int
}

const maxWalkDepth = 256

// entity emits c (whose bytes are data) and what its scope includes.
func (w *carWalk) entity(c cid.Cid, data []byte) error {
	switch w.p.scope {
	case "block":
		w.cw.block(c, data)
		return nil
	case "all":
		return w.all(c, data)
	}
	// entity
	if c.Type() == block.CodecDagPB {
		n, err := pb.Unmarshal(data)
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		fs, err := pb.UnmarshalFS(n.Data)
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		switch fs.Type {
		case pb.TFile, pb.TRaw:
			return w.fileRange(c, data)
		case pb.THAMTShard:
			return w.hamt(c, data, n, fs)
		}
	}
	if c.Type() == block.CodecRaw {
		return w.fileRange(c, data)
	}
	w.cw.block(c, data)
	return nil
}

// all emits the whole DAG under c, depth first, parents before children.
func (w *carWalk) all(c cid.Cid, data []byte) error {
	if w.depth > maxWalkDepth {
		return fmt.Errorf("%s: DAG deeper than %d", c, maxWalkDepth)
	}
	if w.cw.seen[c] && !w.cw.dups {
		return nil
	}
	w.cw.block(c, data)
	links, err := blockLinks(c, data)
	if err != nil {
		return err
	}
	w.depth++
	defer func() { w.depth-- }()
	for _, l := range links {
		if l.Prefix().MhType == identityHash {
			continue
		}
		if w.cw.seen[l] && !w.cw.dups {
			continue
		}
		d, err := getBlock(w.ctx, w.g, l)
		if err != nil {
			return err
		}
		if err := w.all(l, d); err != nil {
			return err
		}
	}
	return nil
}

// hamt emits a sharded directory's shard blocks, not its entries.
func (w *carWalk) hamt(c cid.Cid, data []byte, n *pb.Node, fs *pb.FSNode) error {
	w.cw.block(c, data)
	if w.depth > maxWalkDepth {
		return fmt.Errorf("%s: HAMT deeper than %d", c, maxWalkDepth)
	}
	pad := len(fmt.Sprintf("%X", fs.Fanout-1))
	for _, l := range n.Links {
		if len(l.Name) != pad {
			continue // an entry, not a sub-shard
		}
		d, err := getBlock(w.ctx, w.g, l.Cid)
		if err != nil {
			return err
		}
		sn, err := pb.Unmarshal(d)
		if err != nil {
			return fmt.Errorf("%s: %w", l.Cid, err)
		}
		sfs, err := pb.UnmarshalFS(sn.Data)
		if err != nil {
			return fmt.Errorf("%s: %w", l.Cid, err)
		}
		w.depth++
		err = w.hamt(l.Cid, d, sn, sfs)
		w.depth--
		if err != nil {
			return err
		}
	}
	return nil
}

// fileRange emits the blocks of the file c needed for entity-bytes (all
// of them without a range): each node whose content overlaps the range,
// in file order, so a client can verify and read it while it arrives.
func (w *carWalk) fileRange(c cid.Cid, data []byte) error {
	size, err := fileSize(c, data)
	if err != nil {
		return err
	}
	from, to := int64(0), size-1
	if w.p.hasRange {
		from, to = w.p.from, size-1
		if from < 0 {
			from = max(size+from, 0)
		}
		if w.p.hasTo {
			to = w.p.to
			if to < 0 {
				to = size + to
			}
		}
		to = min(to, size-1)
	}
	if from > to || from >= size {
		// Nothing of the content: the root alone proves that.
		w.cw.block(c, data)
		return nil
	}
	return w.fileNode(c, data, 0, from, to)
}

func fileSize(c cid.Cid, data []byte) (int64, error) {
	if c.Type() != block.CodecDagPB {
		return int64(len(data)), nil
	}
	n, err := pb.Unmarshal(data)
	if err != nil {
		return 0, err
	}
	fs, err := pb.UnmarshalFS(n.Data)
	if err != nil {
		return 0, err
	}
	s := uint64(len(fs.Data))
	for _, b := range fs.BlockSizes {
		s += b
	}
	return int64(s), nil
}

// fileNode emits c, which holds bytes [start, start+size) of the file, and
// recurses into the children overlapping [from, to].
func (w *carWalk) fileNode(c cid.Cid, data []byte, start, from, to int64) error {
	w.cw.block(c, data)
	if c.Type() != block.CodecDagPB {
		return nil
	}
	if w.depth > maxWalkDepth {
		return fmt.Errorf("%s: file DAG deeper than %d", c, maxWalkDepth)
	}
	n, err := pb.Unmarshal(data)
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	fs, err := pb.UnmarshalFS(n.Data)
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	if len(fs.BlockSizes) != len(n.Links) {
		return fmt.Errorf("%s: %w: %d links, %d blocksizes", c, unixfs.ErrMalformed, len(n.Links), len(fs.BlockSizes))
	}
	off := start + int64(len(fs.Data))
	w.depth++
	defer func() { w.depth-- }()
	for i, l := range n.Links {
		end := off + int64(fs.BlockSizes[i]) - 1
		if end >= from && off <= to && fs.BlockSizes[i] > 0 {
			d, err := getBlock(w.ctx, w.g, l.Cid)
			if err != nil {
				return err
			}
			if err := w.fileNode(l.Cid, d, off, from, to); err != nil {
				return err
			}
		}
		off = end + 1
	}
	return nil
}

// blockLinks lists a block's links in order, for any codec trove reads.
func blockLinks(c cid.Cid, data []byte) ([]cid.Cid, error) {
	switch c.Type() {
	case block.CodecRaw:
		return nil, nil
	case block.CodecDagPB:
		l, err := pb.AppendLinks(nil, data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c, err)
		}
		return l, nil
	}
	return ipldLinks(c, data)
}

// attachmentHeaders sets what every download format (raw, CAR, tar)
// answers with: its media type, the immutable caching of content named by
// a CID, and a file name (?filename= or the default) to save it under.
func (q *request) attachmentHeaders(mediaType, etag, defaultName string) {
	hd := q.w.Header()
	hd.Set("Content-Type", mediaType)
	hd.Set("Etag", etag)
	hd.Set("Cache-Control", immutable)
	hd.Set("X-Content-Type-Options", "nosniff")
	name := q.r.URL.Query().Get("filename")
	if name == "" {
		name = defaultName
	}
	hd.Set("Content-Disposition", disposition("attachment", name))
}
