package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTCPRequiresToken(t *testing.T) {
	s := startServer(t, Options{TCPAddr: "127.0.0.1:0"}, func(s *Server) { testRoutes(s, nil) })
	tcp := addrOf(t, s, "tcp")
	token, err := LoadOrCreateToken(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"none", "", http.StatusUnauthorized},
		{"wrong", "Bearer " + strings.Repeat("0", len(token)), http.StatusUnauthorized},
		{"prefix", "Bearer " + token[:len(token)-1], http.StatusUnauthorized},
		{"basic", "Basic " + token, http.StatusUnauthorized},
		{"right", "Bearer " + token, http.StatusOK},
		{"right-lowercase-scheme", "bearer " + token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://"+tcp+"/v0/echo", strings.NewReader(`{"text":"ab","times":2}`))
			req.Header.Set("Content-Type", ContentJSON)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want != http.StatusOK {
				if env := readEnvelope(t, resp); env.Kind != KindPermission {
					t.Errorf("kind %q, want permission", env.Kind)
				}
				return
			}
			defer resp.Body.Close()
			var out echoResult
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Out != "abab" {
				t.Errorf("result %+v, %v", out, err)
			}
		})
	}
}

func TestBrowserRequestsRefused(t *testing.T) {
	s := startServer(t, Options{TCPAddr: "127.0.0.1:0"}, func(s *Server) { testRoutes(s, nil) })
	token, _ := LoadOrCreateToken(s.repo)
	unixHC := rawUnix(addrOf(t, s, "unix"))
	listeners := []struct {
		name string
		hc   *http.Client
		base string
	}{
		{"unix", unixHC, "http://trove"},
		{"tcp", http.DefaultClient, "http://" + addrOf(t, s, "tcp")},
	}
	headers := []struct{ k, v string }{
		{"Origin", "http://evil.example"},
		{"Origin", "null"},
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-origin"},
	}
	for _, l := range listeners {
		for _, h := range headers {
			t.Run(l.name+"/"+h.k+"="+h.v, func(t *testing.T) {
				req, _ := http.NewRequest("POST", l.base+"/v0/echo", strings.NewReader(`{"text":"x","times":1}`))
				req.Header.Set("Content-Type", ContentJSON)
				req.Header.Set("Authorization", "Bearer "+token) // even a valid token does not help
				req.Header.Set(h.k, h.v)
				resp, err := l.hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("status %d, want 403", resp.StatusCode)
				}
				if env := readEnvelope(t, resp); env.Kind != KindPermission {
					t.Errorf("kind %q", env.Kind)
				}
			})
		}
	}
}

func TestInsecureTokenRefused(t *testing.T) {
	repo := shortRepo(t)
	if err := os.WriteFile(filepath.Join(repo, TokenName), []byte(strings.Repeat("a", 64)), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(repo, TokenName), 0o644) // umask-proof
	s, _ := NewServer(Options{RepoPath: repo, TCPAddr: "127.0.0.1:0"})
	if err := s.Start(); !errors.Is(err, ErrInsecureToken) {
		t.Fatalf("Start = %v, want ErrInsecureToken", err)
	}
	// A failed start must leave nothing behind that would make the CLI
	// think a daemon runs.
	if _, err := Dial(repo); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("Dial = %v, want ErrNoDaemon", err)
	}
}
