#!/usr/bin/env bash
# Creates (or reuses) a kind cluster with Knative Serving, Kourier as its ingress,
# and Knative Eventing with the in-memory channel and the MT channel-based broker, all
# at one pinned Knative release. Safe to run again: it only adds what is missing.
#
#   hack/kind-up.sh                 # cluster "serverless-architect"
#   KIND_CLUSTER_NAME=dev hack/kind-up.sh
#
# Then deploy with hack/deploy.sh. Services answer on http://127.0.0.1:${KIND_HTTP_PORT}
# with the Host header of their URL (kubectl -n serverless-architect get ksvc), or
# directly at http://<service>.<namespace>.127.0.0.1.sslip.io:${KIND_HTTP_PORT}.
#
# Needs docker and kubectl. kind comes from PATH, or is run with `go run` at the
# pinned version.
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KO_CONFIG_PATH="${ROOT}/ko.yaml"

CLUSTER="${KIND_CLUSTER_NAME:-serverless-architect}"
# Knative v1.23 is Go module version v0.50 (knative.dev/serving, knative.dev/eventing).
KNATIVE_VERSION="${KNATIVE_VERSION:-1.23.0}"
KIND_VERSION="${KIND_VERSION:-v0.32.0}"
# Host port that reaches Kourier (a NodePort inside kind).
KIND_HTTP_PORT="${KIND_HTTP_PORT:-31080}"
# Optional: a kindest/node image (pin by digest) for a specific Kubernetes version.
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-}"

SERVING="https://github.com/knative/serving/releases/download/knative-v${KNATIVE_VERSION}"
KOURIER="https://github.com/knative-extensions/net-kourier/releases/download/knative-v${KNATIVE_VERSION}"
EVENTING="https://github.com/knative/eventing/releases/download/knative-v${KNATIVE_VERSION}"

log() { printf '==> %s\n' "$*" >&2; }

kind() {
  if command -v kind >/dev/null 2>&1; then
    command kind "$@"
  else
    go run "sigs.k8s.io/kind@${KIND_VERSION}" "$@"
  fi
}

for tool in docker kubectl; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    echo "kind-up: ${tool} is required but not on PATH" >&2
    exit 1
  fi
done

if kind get clusters 2>/dev/null | grep -qx "${CLUSTER}"; then
  log "kind cluster ${CLUSTER} exists; reusing it"
else
  log "creating kind cluster ${CLUSTER}"
  image_args=()
  if [[ -n "${KIND_NODE_IMAGE}" ]]; then
    image_args=(--image "${KIND_NODE_IMAGE}")
  fi
  kind create cluster --name "${CLUSTER}" "${image_args[@]}" --wait 120s --config - <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    extraPortMappings:
      # Kourier's NodePort (patched below) on the host's loopback only.
      - containerPort: 31080
        hostPort: ${KIND_HTTP_PORT}
        listenAddress: 127.0.0.1
YAML
fi
kubectl config use-context "kind-${CLUSTER}" >/dev/null

# apply_wait applies a release file and waits for every Deployment in the namespace.
apply_wait() {
  local url="$1" ns="$2"
  log "applying ${url}"
  kubectl apply -f "${url}"
  kubectl wait deployment --all -n "${ns}" --for=condition=Available --timeout=300s
}

log "Knative Serving ${KNATIVE_VERSION}"
kubectl apply -f "${SERVING}/serving-crds.yaml"
kubectl wait --for=condition=Established crd -l knative.dev/crd-install=true --timeout=120s
apply_wait "${SERVING}/serving-core.yaml" knative-serving

log "Kourier ingress"
apply_wait "${KOURIER}/kourier.yaml" kourier-system
kubectl patch configmap/config-network -n knative-serving --type merge \
  -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev","autocreate-cluster-domain-claims":"true"}}'
# Reach Kourier through kind's port mapping instead of a LoadBalancer.
kubectl patch service/kourier -n kourier-system \
  -p '{"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":31080}]}}'
kubectl patch configmap/config-domain -n knative-serving --type merge \
  -p '{"data":{"127.0.0.1.sslip.io":""}}'

log "Knative Eventing ${KNATIVE_VERSION}"
kubectl apply -f "${EVENTING}/eventing-crds.yaml"
kubectl wait --for=condition=Established crd -l knative.dev/crd-install=true --timeout=120s
apply_wait "${EVENTING}/eventing-core.yaml" knative-eventing
apply_wait "${EVENTING}/in-memory-channel.yaml" knative-eventing
apply_wait "${EVENTING}/mt-channel-broker.yaml" knative-eventing

log "ready: kind cluster ${CLUSTER} (context kind-${CLUSTER}), Knative ${KNATIVE_VERSION}"
log "next: KO_DOCKER_REPO=kind.local KIND_CLUSTER_NAME=${CLUSTER} hack/deploy.sh"
