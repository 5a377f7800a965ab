#!/usr/bin/env bash
# bench-get.sh BIN [RUNS] [SIZE_MiB]: `trove get` of SIZE_MiB (default 1024)
# random bytes between two real daemons on 127.0.0.1, against the disk
# writes it must do, measured in the same run: two `dd conv=fdatasync`
# copies of the same file (the fetching daemon's store, then the output).
# Prints one line per run: get seconds (and when the download part ended,
# from get --json's "fetched" event), dd seconds (both copies), the ratio,
# CPU seconds of the get command and of the fetching daemon, and the
# fetching daemon's peak RSS (VmHWM). Only loopback is used. NOCOPY=1
# runs get --nocopy, whose limit is one dd copy (the output only).
# Each run also moves SIZE_MiB over a raw Noise stream between two
# processes (transfer's BenchmarkRawNoise, built from this checkout), the
# other limit; "of limit" is the get against the slower of the two.
set -euo pipefail
HERE=$(dirname "$(realpath "$0")")
BIN=$(realpath "$1"); RUNS=${2:-3}; MIB=${3:-1024}
W=${BENCH_DIR:-/tmp/trove-bench-get}
mkdir -p "$W"; cd "$W"
SRC=$W/src-$MIB.bin
[ -f "$SRC" ] || head -c $((MIB << 20)) /dev/urandom > "$SRC"
cat "$SRC" > /dev/null # page cache, as a user's fresh file would be

. "$HERE/lib.sh"

loopback "$W/seed"; start "$W/seed"; SEEDPID=$PID; SEED=$ADDR
trap 'kill $SEEDPID 2>/dev/null || true' EXIT
CID=$("$BIN" --repo "$W/seed" add -q "$SRC")
(cd "$HERE/.." && go test -c -o "$W/transfer.test" ./transfer)

for r in $(seq "$RUNS"); do
	rm -f "$W/dd1" "$W/dd2"
	t0=$(now)
	dd if="$SRC" of="$W/dd1" bs=1M conv=fdatasync status=none
	[ -n "${NOCOPY:-}" ] || dd if="$SRC" of="$W/dd2" bs=1M conv=fdatasync status=none
	t1=$(now); rm -f "$W/dd1" "$W/dd2"
	raw=$(cd "$W" && TROVE_BENCH_MB=$MIB "$W/transfer.test" -test.run XXX -test.bench RawNoise -test.benchtime 1x |
		awk '/^BenchmarkRawNoise/ { for (i = 2; i <= NF; i++) if ($i == "raw-MB/s") print $(i-1) }')

	loopback "$W/fetch"; start "$W/fetch"; FPID=$PID
	rm -rf "$W/out"
	t2=$(now)
	/usr/bin/time -f "%U %S" -o "$W/cli.cpu" "$BIN" --repo "$W/fetch" get ${NOCOPY:+--nocopy} --json "$CID" --peer "$SEED" -o "$W/out" > "$W/get.json" 2>/dev/null
	t3=$(now)
	rss=$(awk '/VmHWM/ {print $2}' /proc/$FPID/status)
	dcpu=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' /proc/$FPID/stat)
	ccpu=$(awk '{print $1+$2}' "$W/cli.cpu")
	fetch=$(sed -n 's/.*"Type":"fetched".*"Seconds":\([0-9.e+-]*\).*/\1/p' "$W/get.json")
	kill $FPID; wait $FPID || true
	cmp -s "$SRC" "$W/out" || { echo "output differs" >&2; exit 1; }
	rm -rf "$W/out" "$W/fetch"
	awk -v g="$(echo "$t3 - $t2" | bc)" -v d="$(echo "$t1 - $t0" | bc)" -v rss="$rss" -v f="$fetch" -v cc="$ccpu" -v dc="$dcpu" -v raw="$raw" -v mib="$MIB" \
		'BEGIN { r = mib * 1048576 / (raw * 1e6); l = (r > d ? r : d)
		printf "get %.2f s (download done at %.2f s, %.2f s after it)  dd fdatasync (x2, x1 with NOCOPY) %.2f s  ratio %.2f  raw Noise %.2f s  of limit %.2f  CPU s: cli %.2f fetching daemon %.2f  peak RSS %d MB\n", g, f, g-f, d, g/d, r, g/l, cc, dc, rss/1000 }'
done
