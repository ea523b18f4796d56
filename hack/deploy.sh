#!/usr/bin/env bash
# Builds every service with ko and deploys the project to the current kubectl
# context, in one of two ways:
#
#   hack/deploy.sh                      # ko apply -f config/ (the raw manifests)
#   hack/deploy.sh --helm [-f my.yaml] [--set k=v ...]
#                                       # ko build each service, then helm upgrade
#                                       # --install with the built image references
#
# Options:
#   --helm              use the Helm chart instead of config/
#   --release NAME      Helm release name (default serverless-architect)
#   --namespace NS      Helm namespace (default serverless-architect; config/ always
#                       uses serverless-architect)
#   anything else       passed to helm (with --helm) or to ko apply
#
# Before deploying it creates, once, the three key Secrets the services need when they
# are missing (todo-api-page-token, unsubscribe-key and gateway-peer-key, or
# PAGE_TOKEN_SECRET, UNSUBSCRIBE_SECRET and PEER_KEY_SECRET): 32 random bytes each. Neither config/ nor the chart ever makes a
# key, so re-applying or re-rendering keeps them. The unsubscribe key must be the same
# in every region: for a second region, copy the first region's Secret before running
# this (docs/deploy.md, "Several regions").
#
# KO_DOCKER_REPO says where images go; it defaults to kind.local (loads them into the
# kind cluster KIND_CLUSTER_NAME) when the current context is a kind cluster. ko and
# helm come from PATH, or are run with `go run` at pinned versions.
set -o errexit -o nounset -o pipefail

# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CHART="${ROOT}/charts/serverless-architect"

# camel turns a service directory name into its values key: todo-api -> todoApi.
camel() {
  local out="" part first=1
  local IFS=-
  for part in $1; do
    if ((first)); then
      out="${part}"
      first=0
    else
      out="${out}${part^}"
    fi
  done
  printf '%s' "${out}"
}

mode=ko
release=serverless-architect
namespace=serverless-architect
extra=()
while (($#)); do
  case "$1" in
    --helm) mode=helm ;;
    --release) release="$2"; shift ;;
    --namespace) namespace="$2"; shift ;;
    -h|--help) sed -n '2,28p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) extra+=("$1") ;;
  esac
  shift
done

if [[ -z "${KO_DOCKER_REPO:-}" ]]; then
  context="$(kubectl config current-context 2>/dev/null || true)"
  if [[ "${context}" == kind-* ]]; then
    export KO_DOCKER_REPO=kind.local
    export KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-${context#kind-}}"
  else
    echo "deploy: set KO_DOCKER_REPO (e.g. <account>.dkr.ecr.<region>.amazonaws.com/serverless-architect)" >&2
    exit 1
  fi
fi

# ensure_key creates Secret $2 in namespace $1 holding a new random key under "key",
# unless it exists: an existing key is never replaced.
ensure_key() {
  local ns="$1" name="$2"
  if kubectl -n "${ns}" get secret "${name}" >/dev/null 2>&1; then
    echo "==> secret ${ns}/${name} exists: kept" >&2
    return
  fi
  echo "==> secret ${ns}/${name} missing: creating it with a new random key" >&2
  kubectl -n "${ns}" create secret generic "${name}" --from-literal=key="$(head -c 32 /dev/urandom | base64 | tr -d '\n')" >/dev/null
}

key_namespace="${namespace}"
if [[ "${mode}" == ko ]]; then
  key_namespace=serverless-architect # config/ always installs there
fi
kubectl get namespace "${key_namespace}" >/dev/null 2>&1 || kubectl create namespace "${key_namespace}" >/dev/null
ensure_key "${key_namespace}" "${PAGE_TOKEN_SECRET:-todo-api-page-token}"
ensure_key "${key_namespace}" "${UNSUBSCRIBE_SECRET:-unsubscribe-key}"
ensure_key "${key_namespace}" "${PEER_KEY_SECRET:-gateway-peer-key}"

# kind runs the host's architecture: build only that one.
ko_args=(--base-import-paths)
if [[ "${KO_DOCKER_REPO}" == kind.local* ]]; then
  ko_args+=(--platform "linux/$(go env GOARCH)")
fi

cd "${ROOT}"
case "${mode}" in
  ko)
    echo "==> ko apply -f config/ (images to ${KO_DOCKER_REPO})" >&2
    ko apply "${ko_args[@]}" -f config/ "${extra[@]}"
    ;;
  helm)
    sets=()
    for dir in services/*/; do
      svc="$(basename "${dir}")"
      echo "==> ko build ./services/${svc} (to ${KO_DOCKER_REPO})" >&2
      ref="$(ko build "${ko_args[@]}" "./services/${svc}")"
      sets+=(--set "$(camel "${svc}").image=${ref}")
    done
    echo "==> helm upgrade --install ${release} (namespace ${namespace})" >&2
    helm upgrade --install "${release}" "${CHART}" \
      --namespace "${namespace}" --create-namespace \
      "${sets[@]}" "${extra[@]}"
    ;;
esac
