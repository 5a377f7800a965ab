#!/usr/bin/env bash
# Runs the IPFS gateway conformance suite (v0.13.2, source in
# ../shared/gateway-conformance) against `trove daemon`'s gateway and fails
# only on a regression: a failing leaf test not listed, with its reason, in
# docs/gateway-known-failures.txt. See docs/gateway.md. Called by .ci/run;
# runs on its own too: bash .ci/gateway-conformance.sh
set -euo pipefail

cd "$(dirname "$0")/.."
repo_root=$(pwd)
src=${GATEWAY_CONFORMANCE_SRC:-$repo_root/../shared/gateway-conformance}
if [ ! -d "$src" ]; then
	echo "gateway-conformance: suite source not found at $src (set GATEWAY_CONFORMANCE_SRC)" >&2
	exit 1
fi

tmp=$(mktemp -d)
daemon_pid=
cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# The suite's source is read-only in CI; it builds and runs its tests from
# a writable copy.
cp -r "$src" "$tmp/gwc"
chmod -R u+w "$tmp/gwc"
(cd "$tmp/gwc" && go build -o "$tmp/gateway-conformance" ./cmd/gateway-conformance)
export GATEWAY_CONFORMANCE_HOME="$tmp/gwc"
go build -o "$tmp/trove" ./cmd/trove

"$tmp/gateway-conformance" extract-fixtures --directory "$tmp/fixtures" --merged=true >/dev/null
trove() { "$tmp/trove" --repo "$tmp/repo" "$@"; }
trove init >/dev/null
# The fixtures CAR is deliberately incomplete; import it unpinned.
trove dag import --pin-roots=false "$tmp/fixtures/fixtures.car"

# Offline: the fixtures are all there is, and a test asking for a missing
# block must get its answer at once rather than after a network search.
# Not through the trove function: in the background that is a subshell,
# whose PID cleanup would kill while the daemon it started ran on.
"$tmp/trove" --repo "$tmp/repo" daemon --listen /ip4/127.0.0.1/tcp/0 --no-mdns --gateway 127.0.0.1:0 --gateway-offline \
	>"$tmp/daemon.out" 2>"$tmp/daemon.err" &
daemon_pid=$!
url=
for _ in $(seq 100); do
	url=$(sed -n 's/.* gateway=\(http:[^ ]*\).*/\1/p' "$tmp/daemon.out")
	[ -n "$url" ] && break
	if ! kill -0 "$daemon_pid" 2>/dev/null; then
		cat "$tmp/daemon.err" >&2
		exit 1
	fi
	sleep 0.1
done
if [ -z "$url" ]; then
	echo "gateway-conformance: the daemon did not report a gateway URL" >&2
	cat "$tmp/daemon.err" >&2
	exit 1
fi
port=${url##*:}
echo "gateway-conformance: testing $url"

# The suite exits non-zero whenever any test fails; gwsummary decides.
"$tmp/gateway-conformance" test --gateway-url "$url" \
	--specs trustless-gateway,path-gateway,-trustless-ipns-gateway,-path-ipns-gateway \
	--json "$tmp/report-path.json" -- -timeout 10m >"$tmp/run-path.log" 2>&1 || true
"$tmp/gateway-conformance" test --gateway-url "$url" --subdomain-url "http://localhost:$port" \
	--specs subdomain-ipfs-gateway,redirects-file \
	--json "$tmp/report-subdomain.json" -- -timeout 10m >"$tmp/run-subdomain.log" 2>&1 || true

if ! go run ./.ci/gwsummary -known docs/gateway-known-failures.txt \
	"trustless-gateway,path-gateway=$tmp/report-path.json" \
	"subdomain-ipfs-gateway,redirects-file=$tmp/report-subdomain.json"; then
	tail -n 50 "$tmp/run-path.log" "$tmp/run-subdomain.log" >&2
	exit 1
fi
