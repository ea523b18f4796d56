#!/usr/bin/env bash
# Static checks: gofmt, go vet, golangci-lint (pinned in hack/tools/go.mod, config in
# .golangci.yml), the macOS and Windows builds of the CLIs, shellcheck, govulncheck
# where its database can be reached.
# Usage: hack/lint.sh   (make lint)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
use_ko_build_settings

log "gofmt"
unformatted=$(git ls-files -z --cached --others --exclude-standard '*.go' | xargs -0 -r gofmt -l)
[ -z "$unformatted" ] || die "these files need gofmt -w: ${unformatted}"
log "go vet"
go vet ./...
log "golangci-lint"
go tool -modfile=hack/tools/go.mod golangci-lint run ./...
log "cross-compile: sa and todo for macOS, todo for Windows"
# Process handling differs per system (internal/childproc): these builds keep the CLIs
# working on every laptop. The services run in Linux containers and are not built here.
for target in darwin/arm64 darwin/amd64; do
  GOOS=${target%/*} GOARCH=${target#*/} go build -o /dev/null ./cmd/sa
  GOOS=${target%/*} GOARCH=${target#*/} go build -o /dev/null ./cmd/todo
  GOOS=${target%/*} GOARCH=${target#*/} go vet ./internal/childproc ./internal/mototest ./internal/proctest
done
GOOS=windows GOARCH=amd64 go build -o /dev/null ./cmd/todo
GOOS=windows GOARCH=amd64 go vet ./internal/childproc
log "shellcheck"
ensure_shellcheck
mapfile -t scripts < <(find hack .ci -type f \( -name '*.sh' -o -name run \) | sort)
shellcheck -x "${scripts[@]}"
"$ROOT/hack/vulncheck.sh"
log "lint clean"
