#!/usr/bin/env bash
# Deletes every AWS resource `sa provision` created, in the account and region of the
# current AWS credentials, or in moto when AWS_ENDPOINT_URL points at it. It lists them
# and asks first; without a terminal it needs --yes.
# Usage: hack/destroy.sh [sa destroy flags...]   (make destroy)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

go run ./cmd/sa destroy "$@"
