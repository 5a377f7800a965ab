package api

import (
	"context"
	"io"
	"testing"
)

func benchClient(b *testing.B, tcp bool) *Client {
	b.Helper()
	o := Options{RepoPath: shortRepo(b)}
	if tcp {
		o.TCPAddr = "127.0.0.1:0"
	}
	s, err := NewServer(o)
	if err != nil {
		b.Fatal(err)
	}
	testRoutes(s, nil)
	s.Handle("POST /v0/download", BodyHandler("", func(_ context.Context, a uploadResult, _ io.Reader, w io.Writer) error {
		_, err := io.Copy(w, &genReader{left: a.N})
		return err
	}))
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if !tcp {
		c, err := Dial(o.RepoPath)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	tok, err := LoadOrCreateToken(o.RepoPath)
	if err != nil {
		b.Fatal(err)
	}
	return NewTCPClient(addrOf(b, s, "tcp"), tok, ClientOptions{})
}

func BenchmarkCall(b *testing.B) {
	for _, tc := range []struct {
		name string
		tcp  bool
	}{{"unix", false}, {"tcp", true}} {
		b.Run(tc.name, func(b *testing.B) {
			c := benchClient(b, tc.tcp)
			defer c.Close()
			ctx := context.Background()
			var out echoResult
			for b.Loop() {
				if err := c.Call(ctx, "POST", "/v0/echo", echoArgs{"x", 1}, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDownload(b *testing.B) {
	const size = 64 << 20
	c := benchClient(b, false)
	defer c.Close()
	b.SetBytes(size)
	for b.Loop() {
		body, err := c.Stream(context.Background(), Request{Path: "/v0/download", Args: uploadResult{N: size}})
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, body); err != nil || n != size {
			b.Fatal(n, err)
		}
		body.Close()
	}
}
