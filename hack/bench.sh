#!/usr/bin/env bash
# Runs the benchmarks behind the project's speed and memory targets, each beside its
# reference measured in the same run, and prints the figures (ratios included).
# Usage: hack/bench.sh [regexp]   (make bench; BENCH=regexp make bench)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_moto
# wrk is the load generator of the HTTP benchmarks, taskset (util-linux) places it and
# the servers on separate CPUs; nginx is the cache-hit reference (only its binary is
# used, with a configuration of the benchmark's own on a free port); vipsthumbnail is
# the thumbnail reference, heif-enc (libheif-examples) and jpegtran
# (libjpeg-turbo-progs) make its HEIC, AVIF and progressive inputs, GNU time measures
# peak memory.
apt_install wrk nginx libvips-tools libheif-examples libjpeg-turbo-progs time
use_ko_build_settings
command -v taskset >/dev/null 2>&1 || apt_install util-linux
export SA_INTEGRATION=1

# benchmark name and -benchtime: the wrk-driven ones run wrk for seconds per iteration.
benches=(
  "BenchmarkStartup 20x"
  "BenchmarkSaveToServing 5x"
  "BenchmarkGatewayCacheHit 1x"
  "BenchmarkGatewayVersusNginx 1x"
  "BenchmarkGatewayReplicas 1x"
  "BenchmarkGatewayProxyHop 1x"
  "BenchmarkGatewayMissPath 1x"
  "BenchmarkGatewayCacheMemory 1x"
  "BenchmarkEdgeCacheHit 1x"
  "BenchmarkFilesCredentials 200x"
  "BenchmarkFilesUpload100MB 3x"
  "BenchmarkSubscribeToEmail 20x"
  "BenchmarkReplicationLag 50x"
  "BenchmarkSubscribeToWelcomeTwoRegions 20x"
  "BenchmarkUploadToThumbnail 10x"
  "BenchmarkThumbnailVersusVips 3x"
)
filter=${1:-${BENCH:-.}}
for entry in "${benches[@]}"; do
  read -r name times <<<"$entry"
  [[ "$name" =~ $filter ]] || continue
  go test -run '^$' -bench "^${name}\$" -benchtime "$times" -count 1 -timeout 30m ./test/bench/
done
