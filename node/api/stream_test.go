package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trove-p2p/trove/block"
)

// genReader produces n deterministic bytes on the fly, so a test can upload
// far more than it could afford to hold.
type genReader struct {
	left int64
	x    uint32
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	for i := range p {
		g.x = g.x*1664525 + 1013904223
		p[i] = byte(g.x >> 24)
	}
	g.left -= int64(len(p))
	return len(p), nil
}

type uploadResult struct {
	N   int64  `json:"n"`
	CRC uint32 `json:"crc"`
}

type progress struct {
	N int64 `json:"n"`
}

func uploadRoutes(s *Server) {
	// Consumes the body while reporting progress, as add does.
	s.Handle("POST /v0/upload", EventHandler(func(ctx context.Context, a echoArgs, body io.Reader, emit func(any) error) (uploadResult, error) {
		h := crc32.NewIEEE()
		buf := make([]byte, 64<<10)
		var n int64
		for {
			k, err := body.Read(buf)
			h.Write(buf[:k])
			n += int64(k)
			if k > 0 && a.Times > 0 {
				if err := emit(progress{n}); err != nil {
					return uploadResult{}, err
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return uploadResult{}, err
			}
		}
		return uploadResult{N: n, CRC: h.Sum32()}, nil
	}))
}

// peakHeapGrowth runs fn while sampling the heap and returns the largest
// growth over the starting point.
func peakHeapGrowth(fn func()) int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-sampled
	return int64(peak.Load()) - int64(base)
}

func TestLargeTransfersStream(t *testing.T) {
	size := int64(200 << 20)
	if testing.Short() {
		size = 32 << 20
	}
	s := startServer(t, Options{}, func(s *Server) {
		uploadRoutes(s)
		s.Handle("POST /v0/download", BodyHandler("", func(_ context.Context, a uploadResult, _ io.Reader, w io.Writer) error {
			_, err := io.Copy(w, &genReader{left: a.N})
			return err
		}))
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := crc32.NewIEEE()
	io.Copy(want, &genReader{left: size})

	t.Run("upload", func(t *testing.T) {
		var res uploadResult
		growth := peakHeapGrowth(func() {
			err = c.Events(context.Background(), Request{Path: "/v0/upload", Body: &genReader{left: size}, ContentType: ContentTar}, nil, &res)
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.N != size || res.CRC != want.Sum32() {
			t.Fatalf("server saw %d bytes crc %08x, want %d %08x", res.N, res.CRC, size, want.Sum32())
		}
		t.Logf("uploaded %d MiB; heap in use grew by at most %.1f MiB", size>>20, float64(growth)/(1<<20))
		if growth > 32<<20 {
			t.Errorf("heap grew by %d MiB during a %d MiB upload: body is being buffered", growth>>20, size>>20)
		}
	})
	t.Run("download", func(t *testing.T) {
		got := crc32.NewIEEE()
		var n int64
		growth := peakHeapGrowth(func() {
			var body io.ReadCloser
			body, err = c.Stream(context.Background(), Request{Path: "/v0/download", Args: uploadResult{N: size}})
			if err != nil {
				return
			}
			defer body.Close()
			n, err = io.Copy(got, body)
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != size || got.Sum32() != want.Sum32() {
			t.Fatalf("downloaded %d bytes crc %08x, want %d %08x", n, got.Sum32(), size, want.Sum32())
		}
		t.Logf("downloaded %d MiB; heap in use grew by at most %.1f MiB", size>>20, float64(growth)/(1<<20))
		if growth > 32<<20 {
			t.Errorf("heap grew by %d MiB during a %d MiB download", growth>>20, size>>20)
		}
	})
}

func TestArgsWithDataBody(t *testing.T) {
	type addArgs struct {
		Name string `json:"name"`
		Pin  bool   `json:"pin"`
	}
	type addResult struct {
		Name string `json:"name"`
		Pin  bool   `json:"pin"`
		Body string `json:"body"`
	}
	s := startServer(t, Options{}, func(s *Server) {
		s.Handle("POST /v0/add", EventHandler(func(_ context.Context, a addArgs, body io.Reader, _ func(any) error) (addResult, error) {
			b, err := io.ReadAll(body)
			return addResult{a.Name, a.Pin, string(b)}, err
		}))
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name string
		args any
		body string
		want addResult
		err  error
	}{
		{"unicode and newlines", addArgs{"héllo ✓\nx\"q\"", true}, "data", addResult{"héllo ✓\nx\"q\"", true, "data"}, nil},
		{"no args", nil, "raw stdin", addResult{Body: "raw stdin"}, nil},
		{"json-looking body is data", nil, `{"name":"not args"}`, addResult{Body: `{"name":"not args"}`}, nil},
		{"unknown option refused", map[string]any{"name": "x", "recursive": true}, "d", addResult{}, ErrBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res addResult
			err := c.Events(context.Background(), Request{Path: "/v0/add", Args: tc.args, Body: strings.NewReader(tc.body)}, nil, &res)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || res != tc.want {
				t.Fatalf("got %+v %v, want %+v", res, err, tc.want)
			}
		})
	}
}

// TestUploadDuplex proves the server consumes the body while the client is
// still producing it and that progress flows back meanwhile: the client only
// writes the next chunk after seeing the event for the previous one, which
// would deadlock if either side buffered the whole stream.
func TestUploadDuplex(t *testing.T) {
	s := startServer(t, Options{}, uploadRoutes)
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	const chunk, chunks = 1 << 20, 8
	seen := make(chan int64, chunks*64)
	writeErr := make(chan error, 1)
	go func() {
		buf := bytes.Repeat([]byte{7}, chunk)
		for i := 1; i <= chunks; i++ {
			if _, err := pw.Write(buf); err != nil {
				writeErr <- err
				return
			}
			for n := int64(0); n < int64(i*chunk); {
				select {
				case n = <-seen:
				case <-ctx.Done():
					pw.CloseWithError(ctx.Err())
					writeErr <- fmt.Errorf("no progress for chunk %d: %w", i, ctx.Err())
					return
				}
			}
		}
		writeErr <- pw.Close()
	}()
	var res uploadResult
	err = c.Events(ctx, Request{Path: "/v0/upload", Args: echoArgs{Times: 1}, Body: pr}, func(raw json.RawMessage) error {
		var p progress
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		seen <- p.N
		return nil
	}, &res)
	if werr := <-writeErr; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.N != chunk*chunks {
		t.Fatalf("server read %d bytes", res.N)
	}
}

func eventRoutes(s *Server) {
	// Emits Times events, then fails with the error named by Text.
	s.Handle("POST /v0/events", EventHandler(func(ctx context.Context, a echoArgs, _ io.Reader, emit func(any) error) (echoResult, error) {
		for i := 0; i < a.Times; i++ {
			if err := emit(progress{int64(i)}); err != nil {
				return echoResult{}, err
			}
		}
		switch a.Text {
		case "ok":
			return echoResult{Out: "done"}, nil
		case "abort":
			panic(http.ErrAbortHandler) // connection dies without a final frame
		}
		return echoResult{}, fmt.Errorf("after %d events: %w", a.Times, block.ErrNotFound)
	}))
	s.Handle("POST /v0/cat", BodyHandler("", func(ctx context.Context, a echoArgs, _ io.Reader, w io.Writer) error {
		for i := 0; i < a.Times; i++ {
			if _, err := w.Write(bytes.Repeat([]byte(a.Text[:1]), 64<<10)); err != nil {
				return err
			}
		}
		if a.Text == "ok" {
			return nil
		}
		return fmt.Errorf("block %d: %w", a.Times, block.ErrNotFound)
	}))
}

func TestEventStreams(t *testing.T) {
	s := startServer(t, Options{}, eventRoutes)
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name     string
		args     echoArgs
		events   int
		status   int // of the resulting *Error, 0 = in-stream
		wantErr  error
		wantDone bool
	}{
		{"success", echoArgs{"ok", 5}, 5, 0, nil, true},
		{"mid-stream error", echoArgs{"fail", 3}, 3, 0, block.ErrNotFound, false},
		{"error before any event", echoArgs{"fail", 0}, 0, 404, block.ErrNotFound, false},
		{"connection dies", echoArgs{"abort", 2}, 2, 0, io.ErrUnexpectedEOF, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int64
			var res echoResult
			err := c.Events(context.Background(), Request{Path: "/v0/events", Args: tc.args}, func(raw json.RawMessage) error {
				var p progress
				if err := json.Unmarshal(raw, &p); err != nil {
					return err
				}
				got = append(got, p.N)
				return nil
			}, &res)
			if len(got) != tc.events {
				t.Errorf("saw %d events, want %d", len(got), tc.events)
			}
			if tc.wantErr == nil {
				if err != nil || res.Out != "done" {
					t.Fatalf("err %v result %+v", err, res)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var ae *Error
			if errors.As(err, &ae) && ae.Status != tc.status {
				t.Errorf("status %d, want %d", ae.Status, tc.status)
			}
		})
	}
}

func TestStreamBodyErrors(t *testing.T) {
	s := startServer(t, Options{}, eventRoutes)
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name    string
		args    echoArgs
		n       int
		wantErr error
		early   bool // error returned by Stream itself, with a status
	}{
		{"complete", echoArgs{"ok", 4}, 4 << 16, nil, false},
		{"empty", echoArgs{"ok", 0}, 0, nil, false},
		{"fails after bytes", echoArgs{"x", 3}, 3 << 16, block.ErrNotFound, false},
		{"fails before bytes", echoArgs{"x", 0}, 0, block.ErrNotFound, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := c.Stream(context.Background(), Request{Path: "/v0/cat", Args: tc.args})
			if tc.early {
				var ae *Error
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &ae) || ae.Status != 404 {
					t.Fatalf("Stream = %v, want a 404 not-found", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer body.Close()
			n, err := io.Copy(io.Discard, body)
			if n != int64(tc.n) {
				t.Errorf("read %d bytes, want %d", n, tc.n)
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("read error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestClientCancelReachesHandler(t *testing.T) {
	handlerSaw := make(chan error, 1)
	entered := make(chan struct{})
	s := startServer(t, Options{}, func(s *Server) {
		s.HandleFunc("POST /v0/block", func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			select {
			case <-r.Context().Done():
				handlerSaw <- r.Context().Err()
			case <-time.After(10 * time.Second):
				handlerSaw <- errors.New("handler was never canceled")
			}
		})
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-entered
		cancel()
	}()
	err = c.Call(ctx, "POST", "/v0/block", nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Call = %v, want context.Canceled", err)
	}
	if herr := <-handlerSaw; !errors.Is(herr, context.Canceled) {
		t.Errorf("handler: %v", herr)
	}
}
