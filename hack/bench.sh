#!/usr/bin/env bash
# Runs the benchmarks that check the project's speed and memory targets, each beside its
# reference measured in the same run. Usage: hack/bench.sh [go test -bench regexp]   (make bench)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_moto
export SA_INTEGRATION=1
pattern=${1:-.}
go test -run '^$' -bench "$pattern" -benchtime "${BENCHTIME:-20x}" -count 1 ./test/bench/...
