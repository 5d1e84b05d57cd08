#!/usr/bin/env bash
# Measures reads from stores of six real MinIO servers each (4+2, two per
# region) while backends misbehave. Each benchmark runs two such stores
# holding the same objects, one healthy and one degraded, and alternates
# reads between them so both see the same background load:
#   - latency of sequential 1 MiB GETs with one server paused (SIGSTOP):
#     p50, p99 and the p99 ratio to healthy (target <= 2);
#   - GET throughput with two servers stopped, for a 64 MiB object read
#     sequentially and 1 MiB objects read by 8 readers at once (target:
#     at least 0.8 of healthy).
# Needs the MinIO binary (scripts/install-minio.sh).
#
#   scripts/bench-degraded.sh [COUNT=3]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3}
go test -run x -bench 'MinIOGetLatency$' -benchtime 500x -count "$count" ./internal/store
go test -run x -bench 'MinIOGetThroughput/64MiB' -benchtime 20x -count "$count" ./internal/store
go test -run x -bench 'MinIOGetThroughput/1MiBx8' -benchtime 800x -count "$count" ./internal/store
