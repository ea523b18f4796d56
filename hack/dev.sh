#!/usr/bin/env bash
# Runs the whole system locally: moto_server, provisioning, every service as a process.
# Usage: hack/dev.sh [sa dev flags...]   (make dev)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_moto
# sa itself in the settings sa dev builds the services with: one build cache for both.
use_ko_build_settings
log "downloading Go modules"
go mod download
log "building the operator CLI"
go build -o .dev/bin/sa ./cmd/sa
# --watch first: a --watch=false among the arguments comes later and wins.
exec .dev/bin/sa dev --watch "$@"
