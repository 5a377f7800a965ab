#!/usr/bin/env bash
# bench-daemon.sh BIN [RUNS] [SIZE_MiB]: what the daemon path costs. For
# SIZE_MiB (default 1024) random bytes, per run and interleaved, times
#   add   `trove add -q FILE` into a fresh repo, offline (no daemon: the CLI
#         opens the repo itself) and through a daemon on that repo;
#   get   `trove get CID -o OUT` of the content already in the repo;
#   cat   `trove cat CID > /dev/null`;
# offline and through the daemon, and prints each pair with the ratio
# offline/daemon (issue 11's goal: >= 0.9). Only loopback is used.
set -euo pipefail
HERE=$(dirname "$(realpath "$0")")
BIN=$(realpath "$1"); RUNS=${2:-3}; MIB=${3:-1024}
W=${BENCH_DIR:-/tmp/trove-bench-daemon}
mkdir -p "$W"; cd "$W"
SRC=$W/src-$MIB.bin
[ -f "$SRC" ] || head -c $((MIB << 20)) /dev/urandom > "$SRC"
cat "$SRC" > /dev/null

. "$HERE/lib.sh"
PID=
stop() { kill "$PID"; wait "$PID" || true; PID=; }
trap '[ -n "$PID" ] && kill $PID 2>/dev/null || true' EXIT
took() { local t0; t0=$(now); "$@" >/dev/null; echo "$(now) - $t0" | bc; }

R=$W/repo
for r in $(seq "$RUNS"); do
	loopback "$R"
	t0=$(now); CID=$("$BIN" --repo "$R" add -q "$SRC"); a_off=$(echo "$(now) - $t0" | bc)
	rm -rf "$W/out"; g_off=$(took "$BIN" --repo "$R" get "$CID" -o "$W/out" 2>/dev/null)
	cmp -s "$SRC" "$W/out" || { echo "offline get output differs" >&2; exit 1; }
	c_off=$(took sh -c "'$BIN' --repo '$R' cat $CID > /dev/null")

	loopback "$R"; start "$R"
	t0=$(now); CID2=$("$BIN" --repo "$R" add -q "$SRC"); a_on=$(echo "$(now) - $t0" | bc)
	[ "$CID" = "$CID2" ] || { echo "daemon add gave $CID2, offline $CID" >&2; exit 1; }
	rm -rf "$W/out"; g_on=$(took "$BIN" --repo "$R" get "$CID" -o "$W/out" 2>/dev/null)
	cmp -s "$SRC" "$W/out" || { echo "daemon get output differs" >&2; exit 1; }
	c_on=$(took sh -c "'$BIN' --repo '$R' cat $CID > /dev/null")
	stop
	rm -rf "$W/out"
	awk -v ao="$a_off" -v an="$a_on" -v go="$g_off" -v gn="$g_on" -v co="$c_off" -v cn="$c_on" \
		'BEGIN { printf "add %.2f s offline, %.2f s daemon (%.2f)   get %.2f / %.2f (%.2f)   cat %.2f / %.2f (%.2f)\n", ao, an, ao/an, go, gn, go/gn, co, cn, co/cn }'
done
