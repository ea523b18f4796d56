#!/usr/bin/env bash
# Deletes the kind cluster made by hack/kind-up.sh. Nothing to do when it is gone.
#
#   hack/kind-down.sh
#   KIND_CLUSTER_NAME=dev hack/kind-down.sh
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KO_CONFIG_PATH="${ROOT}/ko.yaml"

CLUSTER="${KIND_CLUSTER_NAME:-serverless-architect}"
KIND_VERSION="${KIND_VERSION:-v0.32.0}"

kind() {
  if command -v kind >/dev/null 2>&1; then
    command kind "$@"
  else
    go run "sigs.k8s.io/kind@${KIND_VERSION}" "$@"
  fi
}

if kind get clusters 2>/dev/null | grep -qx "${CLUSTER}"; then
  kind delete cluster --name "${CLUSTER}"
else
  echo "kind-down: no kind cluster ${CLUSTER}" >&2
fi
