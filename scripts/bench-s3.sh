#!/usr/bin/env bash
# Side-by-side S3 benchmark: the same load against `rhizome serve` and
# against MinIO (six drives, EC:2, SSE-S3 with its built-in KMS key), with
# the servers' data under /dev/shm and then on disk. Prints a markdown
# table of throughput and server CPU-seconds per GiB (docs/benchmarks.md).
#
#   scripts/bench-s3.sh [rhizome-bench flags...]
#   scripts/bench-s3.sh --media /dev/shm --big-objects 8
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-minio.sh >&2
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/rhizome" ./cmd/rhizome
go build -o "$bin/rhizome-bench" ./cmd/rhizome-bench
"$bin/rhizome-bench" --rhizome-bin "$bin/rhizome" "$@"
