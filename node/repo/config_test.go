package repo

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// An old config file without the network sections must come back with the
// defaults, not with every switch off.
func TestConfigMissingSectionsTakeDefaults(t *testing.T) {
	old := `{"Version":1,"Identity":{"PeerID":"x"},"Datastore":{"VerifyOnRead":false},"Import":{"Profile":""}}`
	c, err := DecodeConfig(strings.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if !c.Swarm.MDNS || !c.Swarm.NAT || !c.Swarm.AutoNAT || !c.Swarm.HolePunching || !c.Swarm.RelayClient {
		t.Errorf("switches not defaulted on: %+v", c.Swarm)
	}
	if strings.Join(c.Swarm.ListenAddrs, ",") != strings.Join(d.Swarm.ListenAddrs, ",") {
		t.Errorf("listen addrs %v", c.Swarm.ListenAddrs)
	}
	if c.DHT.Mode != "auto" || c.Provide.ReprovideInterval != "12h" {
		t.Errorf("DHT/Provide: %+v %+v", c.DHT, c.Provide)
	}
	// A field given explicitly wins over the default.
	c, err = DecodeConfig(strings.NewReader(`{"Version":1,"Swarm":{"MDNS":false}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Swarm.MDNS || !c.Swarm.NAT {
		t.Errorf("explicit MDNS=false lost or NAT reset: %+v", c.Swarm)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name, json, field string
	}{
		{"dht mode", `{"Version":1,"DHT":{"Mode":"sever"}}`, "DHT.Mode"},
		{"private addrs", `{"Version":1,"Swarm":{"PrivateAddrs":"maybe"}}`, "Swarm.PrivateAddrs"},
		{"listen addr", `{"Version":1,"Swarm":{"ListenAddrs":["tcp/4801"]}}`, "Swarm.ListenAddrs[0]"},
		{"bootstrap without peer", `{"Version":1,"DHT":{"Bootstrap":["/ip4/1.2.3.4/tcp/4801"]}}`, "DHT.Bootstrap[0]"},
		{"connmgr", `{"Version":1,"Swarm":{"ConnMgr":{"Low":10,"High":5}}}`, "Swarm.ConnMgr"},
		{"interval", `{"Version":1,"Provide":{"ReprovideInterval":"soon"}}`, "Provide.ReprovideInterval"},
		{"negative interval", `{"Version":1,"Provide":{"ReprovideInterval":"-1h"}}`, "Provide.ReprovideInterval"},
		{"api", `{"Version":1,"API":{"TCPAddr":"5801"}}`, "API.TCPAddr"},
		{"gateway addr", `{"Version":1,"Gateway":{"ListenAddr":"8180"}}`, "Gateway.ListenAddr"},
		{"gateway timeout", `{"Version":1,"Gateway":{"RetrievalTimeout":"soon"}}`, "Gateway.RetrievalTimeout"},
		{"gateway duration", `{"Version":1,"Gateway":{"MaxRequestDuration":"-1s"}}`, "Gateway.MaxRequestDuration"},
		{"gateway concurrency", `{"Version":1,"Gateway":{"MaxConcurrent":-1}}`, "Gateway.MaxConcurrent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeConfig(strings.NewReader(tc.json))
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("err = %v, want ErrBadConfig naming %s", err, tc.field)
			}
		})
	}
	ok := `{"Version":1,"DHT":{"Mode":"client","Bootstrap":["/ip4/127.0.0.1/tcp/4801/p2p/12D3KooWLRPJAA5o6Z6hpvSGc1pCZMRrgYGHYa8vbEkQFQk5Pyoq"]},"API":{"TCPAddr":"127.0.0.1:0"},"Provide":{"ReprovideInterval":"off"}}`
	c, err := DecodeConfig(strings.NewReader(ok))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := c.Provide.Reprovide(); d >= 0 {
		t.Errorf("off = %v, want negative", d)
	}
	c.Provide.ReprovideInterval = "90m"
	if d, _ := c.Provide.Reprovide(); d != 90*time.Minute {
		t.Errorf("90m = %v", d)
	}
}

func TestWriteSwarmKey(t *testing.T) {
	r, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteSwarmKey([]byte("k1\n")); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteSwarmKey([]byte("k2\n")); err == nil {
		t.Error("second WriteSwarmKey replaced the key")
	}
}

// TestGatewayConfigDefaults: a config without a Gateway section (every
// file written before the gateway existed) serves it on loopback port 8180
// with the 30 s retrieval timeout; "" turns it off.
func TestGatewayConfigDefaults(t *testing.T) {
	c, err := DecodeConfig(strings.NewReader(`{"Version":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Gateway.ListenAddr != "127.0.0.1:8180" || c.Gateway.Offline {
		t.Fatalf("Gateway = %+v", c.Gateway)
	}
	if r, d, err := c.Gateway.Durations(); err != nil || r != 30*time.Second || d != 0 {
		t.Fatalf("Durations = %v, %v, %v", r, d, err)
	}
	c, err = DecodeConfig(strings.NewReader(`{"Version":1,"Gateway":{"ListenAddr":""}}`))
	if err != nil || c.Gateway.ListenAddr != "" {
		t.Fatalf("off: %+v, %v", c.Gateway, err)
	}
}
