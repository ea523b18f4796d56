#!/usr/bin/env bash
# Renders the Helm chart and resolves its ko:// images: ko builds every service,
# pushes it to KO_DOCKER_REPO and writes the manifests with digest references to
# stdout. Use it for GitOps or to `kubectl apply -f -` without Helm:
#
#   KO_DOCKER_REPO=kind.local hack/resolve-chart.sh | kubectl apply -f -
#   KO_DOCKER_REPO=<registry>/serverless-architect \
#     hack/resolve-chart.sh -f values-eu-west-2.yaml > release.yaml
#
# Arguments go to `helm template` (values files, --set, --namespace; the namespace
# defaults to serverless-architect; aws.sesSender is required). The rendered objects
# carry no namespace-creating object and no Secret: the chart never generates keys, so
# rendering again changes nothing; create the namespace and the two key Secrets once
# first (hack/deploy.sh does both). The test hook (templates/tests/) is skipped;
# `helm test` needs a Helm release (hack/deploy.sh --helm).
#
# ko and helm come from PATH, or are run with `go run` at pinned versions.
set -o errexit -o nounset -o pipefail

# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RELEASE="${RELEASE:-serverless-architect}"

if [[ -z "${KO_DOCKER_REPO:-}" ]]; then
  echo "resolve-chart: set KO_DOCKER_REPO (kind.local for kind, or a registry repository)" >&2
  exit 1
fi

namespace_args=(--namespace serverless-architect)
for arg in "$@"; do
  if [[ "${arg}" == "--namespace" || "${arg}" == "-n" || "${arg}" == --namespace=* ]]; then
    namespace_args=()
  fi
done

# kind runs the host's architecture: build only that one.
ko_args=(--base-import-paths)
if [[ "${KO_DOCKER_REPO}" == kind.local* ]]; then
  ko_args+=(--platform "linux/$(go env GOARCH)")
fi

cd "${ROOT}"
helm template "${RELEASE}" charts/serverless-architect "${namespace_args[@]}" --skip-tests "$@" |
  ko resolve "${ko_args[@]}" -f -
