# lib.sh: what the bench scripts share; source it with BIN set.

# loopback DIR: a fresh repo at DIR whose daemon stays on 127.0.0.1, with
# no gateway (two daemons would want the same default port).
loopback() {
	rm -rf "$1"; "$BIN" --repo "$1" init >/dev/null
	for kv in 'Swarm.ListenAddrs ["/ip4/127.0.0.1/tcp/0"]' 'Swarm.MDNS false' 'Swarm.NAT false' \
		'Swarm.AutoNAT false' 'Swarm.RelayClient false' 'Swarm.HolePunching false' 'DHT.Mode server'; do
		"$BIN" --repo "$1" config set $kv
	done
	"$BIN" --repo "$1" config set Gateway.ListenAddr ''
}

# start DIR: runs a daemon on repo DIR until it is ready; sets PID and
# ADDR (its listen address).
start() {
	"$BIN" --repo "$1" daemon > "$1.ready" 2> "$1.log" &
	PID=$!
	for _ in $(seq 200); do grep -q ready "$1.ready" 2>/dev/null && break; sleep 0.05; done
	grep -q ready "$1.ready" || { echo "daemon did not start: $(cat "$1.log")" >&2; exit 1; }
	ADDR=$(sed -n 's/.* listen=\([^, ]*\).*/\1/p' "$1.ready")
}

now() { date +%s.%N; }
