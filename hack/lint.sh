#!/usr/bin/env bash
# Static checks: gofmt, golangci-lint (pinned in hack/tools/go.mod, config in
# .golangci.yml; its govet runs every analyzer of go vet), the whole module type-checked
# for macOS and todo for Windows, shellcheck, govulncheck where its database can be
# reached.
# Usage: hack/lint.sh   (make lint)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
use_ko_build_settings

log "gofmt"
unformatted=$(git ls-files -z --cached --others --exclude-standard '*.go' | xargs -0 -r gofmt -l)
[ -z "$unformatted" ] || die "these files need gofmt -w: ${unformatted}"
# golangci-lint's govet runs the analyzers go vet runs (all of them, as go vet does by
# default), so go vet itself would only repeat them. It takes ko.yaml's build tags from
# GOFLAGS (.golangci.yml sets none): it checks the files ko builds, and loads the export
# data compiled under them instead of compiling every package again.
log "golangci-lint"
go tool -modfile=hack/tools/go.mod golangci-lint run ./...
log "type-check for macOS (the whole module: make dev builds every service there) and todo for Windows"
# Process handling differs per system (internal/childproc). hack/typecheck says why a
# type check from source stands in for cross-compiling.
go run ./hack/typecheck -tests -platforms darwin/arm64,darwin/amd64 ./...
go run ./hack/typecheck -tests -platforms windows/amd64 ./cmd/todo/... ./internal/childproc
# golangci-lint runs on Linux and never sees the files only other systems build
# (internal/childproc's today): go vet the packages that have such files on macOS, and
# on Windows those with a _windows.go file. Their dependencies are the standard library:
# about 20 s each on a fresh machine, a second after.
mapfile -t os_specific < <(go list -f '{{if .IgnoredGoFiles}}{{.ImportPath}} {{join .IgnoredGoFiles " "}}{{end}}' ./...)
if [ "${#os_specific[@]}" -gt 0 ]; then
  log "go vet for macOS and Windows: the packages with files Linux does not build"
  mapfile -t darwin_pkgs < <(printf '%s\n' "${os_specific[@]}" | cut -d' ' -f1)
  GOOS=darwin GOARCH=arm64 go vet "${darwin_pkgs[@]}"
  mapfile -t windows_pkgs < <(printf '%s\n' "${os_specific[@]}" | awk '/_windows\.go( |$)/ {print $1}')
  [ "${#windows_pkgs[@]}" -eq 0 ] || GOOS=windows GOARCH=amd64 go vet "${windows_pkgs[@]}"
fi
log "shellcheck"
ensure_shellcheck
mapfile -t scripts < <(find hack .ci -type f \( -name '*.sh' -o -name run \) | sort)
shellcheck -x "${scripts[@]}"
"$ROOT/hack/vulncheck.sh"
log "lint clean"
