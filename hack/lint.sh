#!/usr/bin/env bash
# Static checks: gofmt, go vet, golangci-lint (pinned in hack/tools/go.mod, config in
# .golangci.yml), shellcheck, govulncheck where its database can be reached.
# Usage: hack/lint.sh   (make lint)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

log "gofmt"
unformatted=$(git ls-files -z --cached --others --exclude-standard '*.go' | xargs -0 -r gofmt -l)
[ -z "$unformatted" ] || die "these files need gofmt -w: ${unformatted}"
log "go vet"
go vet ./...
# The cluster tier is a module of its own (test/cluster/README.md).
(cd test/cluster && go vet ./...)
log "golangci-lint"
go tool -modfile=hack/tools/go.mod golangci-lint run ./...
log "shellcheck"
ensure_shellcheck
mapfile -t scripts < <(find hack .ci -type f \( -name '*.sh' -o -name run \) | sort)
shellcheck -x "${scripts[@]}"
"$ROOT/hack/vulncheck.sh"
log "lint clean"
