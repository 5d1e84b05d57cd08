#!/usr/bin/env bash
# Measures `rhizome put` and `rhizome get` of one large file end to end:
# throughput and peak RSS. Backends live under /dev/shm (CPU cost) or on
# disk (pass a directory as the second argument).
#
#   scripts/bench-cli.sh [SIZE_MiB=2048] [STORE_PARENT=/dev/shm]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-2048}
parent=${2:-/dev/shm}
work=$(mktemp -d "$parent/rhizome-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
go build -o "$work/rhizome" ./cmd/rhizome
store="$work/store"
"$work/rhizome" --dir "$store" init -q >/dev/null
if [ "$parent" = /dev/shm ]; then
  # RAM disk: fsync is meaningless, measure CPU cost.
  sed -i 's/type: fs$/type: fs\n      no_sync: true/' "$store/rhizome.yaml" || true
fi
src="$work/src.bin"
head -c $((size_mib << 20)) /dev/urandom > "$src"
bytes=$((size_mib << 20))

run() { # label cmd...
  local label=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/rss" "$@"
  t1=$(date +%s.%N)
  awk -v b="$bytes" -v t0="$t0" -v t1="$t1" -v rss="$(cat "$work/rss")" -v l="$label" \
    'BEGIN { s = t1 - t0; printf "%-4s %8.0f MiB in %6.2f s = %6.2f GB/s, peak RSS %4.0f MiB\n", l, b/1048576, s, b/s/1e9, rss/1024 }'
}
run put "$work/rhizome" --dir "$store" -q put bench/big.bin "$src"
run get "$work/rhizome" --dir "$store" -q get bench/big.bin "$work/out.bin"
cmp "$src" "$work/out.bin" && echo "round trip identical"
