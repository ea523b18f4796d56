#!/usr/bin/env bash
# Verifies the deployment packaging without a cluster: strict decoding and Knative
# validation of config/ and of the Helm chart, helm lint and the values schema,
# services/ <-> config/ <-> chart in step, container hardening, no secrets, ko.yaml,
# and (unless --quick) a ko build of every service against an in-process registry.
#
#   hack/verify-manifests.sh            # everything (builds the images: minutes)
#   hack/verify-manifests.sh --quick    # skip the image builds (go test -short)
#
# Other arguments go to `go test` (e.g. -run TestChart -v).
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KO_CONFIG_PATH="${ROOT}/ko.yaml"

args=()
for arg in "$@"; do
  case "${arg}" in
    --quick) args+=(-short) ;;
    *) args+=("${arg}") ;;
  esac
done

cd "${ROOT}"
go test -count=1 -timeout 30m "${args[@]}" ./test/packaging/
