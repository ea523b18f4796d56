#!/usr/bin/env bash
# The fast loop: every unit test, no moto, no browser, no image builds.
# Usage: hack/unit.sh [go test flags] [./packages...]   (make unit)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
use_ko_build_settings

# Integration tests run only with SA_INTEGRATION=1 (and the end-to-end ones with the
# whole stack): unset here even when the caller's shell exports them.
unset SA_INTEGRATION MOTO_ENDPOINT
# Flags alone (hack/unit.sh -run TestX, -json) still test every package; packages are
# given as paths (./internal/..., ./services/blog-api/...).
packages=./...
for arg in "$@"; do
	case "$arg" in
	.*) packages= ;;
	esac
done
# -short leaves out, besides the integration tests, the tests that compare with an
# external tool (internal/imagetest.Tool: heif-enc, vips, cwebp, jpegtran), which make
# test runs. No -count=1: a package whose code and test inputs did not change is not
# run again (go test's cache; a test's reads through os.Open are part of its key).
# -vet=off: go test's own vet pass is part of make lint (golangci-lint's govet, every go
# vet analyzer, over every package); left here, it was 15 of the 90 s a full re-run of every package took.
# shellcheck disable=SC2086 # packages is one word or none
go test -short -vet=off "$@" ${packages}
