#!/usr/bin/env bash
# The fast loop: every unit test, no moto, no browser, no image builds.
# Usage: hack/unit.sh [go test flags or packages]   (make unit)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

# Integration tests run only with SA_INTEGRATION=1 (and the end-to-end ones with the
# whole stack): unset here even when the caller's shell exports them.
unset SA_INTEGRATION MOTO_ENDPOINT
if [ "$#" -eq 0 ]; then
	set -- ./...
fi
go test -short -tags=nodynamic "$@"
