package p2p

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestSwarmKeyRoundTrip(t *testing.T) {
	k := GenerateSwarmKey()
	if len(k) != SwarmKeySize {
		t.Fatalf("key is %d bytes", len(k))
	}
	if bytes.Equal(k, GenerateSwarmKey()) {
		t.Fatal("two generated keys are equal")
	}
	enc, err := EncodeSwarmKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(enc), "/key/swarm/psk/1.0.0/\n/base16/\n") {
		t.Fatalf("unexpected file header: %q", enc)
	}
	got, err := DecodeSwarmKey(bytes.NewReader(enc))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, k) {
		t.Fatalf("round trip changed the key")
	}
}

func TestDecodeSwarmKey(t *testing.T) {
	hex64 := strings.Repeat("0f", 32)
	want := bytes.Repeat([]byte{0x0f}, 32)
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"base16", "/key/swarm/psk/1.0.0/\n/base16/\n" + hex64 + "\n", true},
		{"crlf", "/key/swarm/psk/1.0.0/\r\n/base16/\r\n" + hex64 + "\r\n", true},
		{"no trailing newline", "/key/swarm/psk/1.0.0/\n/base16/\n" + hex64, true},
		{"base64", "/key/swarm/psk/1.0.0/\n/base64/\n" + base64.StdEncoding.EncodeToString(want) + "\n", true},
		{"bin", "/key/swarm/psk/1.0.0/\n/bin/\n" + string(want), true},
		{"short", "/key/swarm/psk/1.0.0/\n/base16/\n" + hex64[:62] + "\n", false},
		{"long", "/key/swarm/psk/1.0.0/\n/base16/\n" + hex64 + "00\n", false},
		{"not hex", "/key/swarm/psk/1.0.0/\n/base16/\n" + strings.Repeat("zz", 32) + "\n", false},
		{"wrong header", "/key/swarm/psk/2.0.0/\n/base16/\n" + hex64 + "\n", false},
		{"unknown encoding", "/key/swarm/psk/1.0.0/\n/base32/\n" + hex64 + "\n", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeSwarmKey(strings.NewReader(tc.in))
			if !tc.ok {
				if !errors.Is(err, ErrBadSwarmKey) {
					t.Fatalf("err = %v, want ErrBadSwarmKey", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("key = %x", got)
			}
		})
	}
	if _, err := EncodeSwarmKey(make([]byte, 31)); !errors.Is(err, ErrBadSwarmKey) {
		t.Errorf("encoding a 31-byte key: %v", err)
	}
}

func FuzzDecodeSwarmKey(f *testing.F) {
	enc, _ := EncodeSwarmKey(bytes.Repeat([]byte{7}, 32))
	f.Add(enc)
	f.Add([]byte("/key/swarm/psk/1.0.0/\n/bin/\n" + strings.Repeat("x", 32)))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := DecodeSwarmKey(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadSwarmKey) {
				t.Fatalf("error not wrapping ErrBadSwarmKey: %v", err)
			}
			return
		}
		if len(k) != SwarmKeySize {
			t.Fatalf("decoded %d-byte key", len(k))
		}
		// Whatever decodes must survive our own encoding unchanged.
		re, err := EncodeSwarmKey(k)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := DecodeSwarmKey(bytes.NewReader(re))
		if err != nil || !bytes.Equal(k, k2) {
			t.Fatalf("re-encode round trip: %v", err)
		}
	})
}
