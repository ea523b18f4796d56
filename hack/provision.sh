#!/usr/bin/env bash
# Creates (or finds) every AWS resource the project needs, in the account and region of
# the current AWS credentials, or in moto when AWS_ENDPOINT_URL points at it.
# Usage: hack/provision.sh [sa provision flags...]   (make provision)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

go run ./cmd/sa provision "$@"
