package repo

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestInitOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	r, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	if st, err := os.Stat(r.BlocksPath()); err != nil || !st.IsDir() {
		t.Errorf("blocks dir: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "\n  \"Identity\"") || !strings.Contains(string(raw), r.PeerID.String()) {
		t.Errorf("config is not indented JSON with the peer ID:\n%s", raw)
	}
	o, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if o.PeerID != r.PeerID || !o.Key.Equals(r.Key) || !reflect.DeepEqual(o.Config, r.Config) {
		t.Errorf("reopened repo differs: %+v vs %+v", o, r)
	}
	if _, err := Init(dir); !errors.Is(err, ErrExists) {
		t.Errorf("second Init: %v, want ErrExists", err)
	}
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Open empty dir: %v", err)
	}
}

func TestOpenOrInitConcurrent(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Go(func() {
			r, err := OpenOrInit(dir)
			errs[i] = err
			if err == nil {
				ids[i] = r.PeerID.String()
			}
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil {
			t.Fatalf("OpenOrInit %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("racing inits produced two identities: %s and %s", ids[0], ids[i])
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if len(left) > 0 {
		t.Errorf("temp files left behind: %v", left)
	}
}

func TestIdentityMismatch(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if _, err := Init(a); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(b); err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(filepath.Join(b, KeyFile))
	if err := os.WriteFile(filepath.Join(a, KeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(a); !errors.Is(err, ErrIdentity) {
		t.Errorf("Open with swapped key: %v, want ErrIdentity", err)
	}
	os.WriteFile(filepath.Join(a, KeyFile), []byte("garbage"), 0o600)
	if _, err := Open(a); !errors.Is(err, ErrIdentity) {
		t.Errorf("Open with garbage key: %v, want ErrIdentity", err)
	}
}

func TestDecodeConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unknown top", `{"Version":1,"Bogus":3}`, `"Bogus"`},
		{"unknown nested", `{"Version":1,"Import":{"Profil":"x"}}`, `"Profil"`},
		{"wrong type", `{"Version":"one"}`, `"Version"`},
		{"bad profile", `{"Version":1,"Import":{"Profile":"zip"}}`, `Import.Profile`},
		{"future version", `{"Version":99}`, `Version`},
		{"syntax", `{"Version":1,`, `syntax`},
		{"empty", ``, `empty`},
		{"trailing", `{"Version":1} {}`, `trailing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeConfig(strings.NewReader(tc.in))
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("err = %v, want ErrBadConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestSaveConfigRoundTrip(t *testing.T) {
	r, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := r.Config
	c.Datastore.VerifyOnRead = true
	c.Import.Profile = "unixfs-v0-2015"
	if err := r.SaveConfig(c); err != nil {
		t.Fatal(err)
	}
	o, err := Open(r.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Config, c) {
		t.Errorf("got %+v, want %+v", o.Config, c)
	}
	c.Import.Profile = "nope"
	if err := r.SaveConfig(c); !errors.Is(err, ErrBadConfig) {
		t.Errorf("saving invalid config: %v", err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv(EnvPath, "/from/env")
	t.Setenv("HOME", "/home/u")
	for _, tc := range []struct{ flag, env, want string }{
		{"/flag", "/from/env", "/flag"},
		{"", "/from/env", "/from/env"},
		{"", "", "/home/u/.trove"},
	} {
		t.Setenv(EnvPath, tc.env)
		got, err := DefaultPath(tc.flag)
		if err != nil || got != tc.want {
			t.Errorf("DefaultPath(%q) env %q = %q, %v; want %q", tc.flag, tc.env, got, err, tc.want)
		}
	}
}

func FuzzDecodeConfig(f *testing.F) {
	good, _ := DefaultConfig().Encode()
	f.Add(good)
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := DecodeConfig(strings.NewReader(string(in)))
		if err != nil {
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("error not ErrBadConfig: %v", err)
			}
			return
		}
		// Whatever decodes must survive a re-encode unchanged.
		out, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := DecodeConfig(strings.NewReader(string(out)))
		if err != nil || !reflect.DeepEqual(c2, c) {
			t.Fatalf("re-decode: %+v, %v; want %+v", c2, err, c)
		}
	})
}
