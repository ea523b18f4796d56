#!/usr/bin/env bash
# govulncheck (pinned in hack/tools/go.mod) over the whole module, against the Go
# vulnerability database (GOVULNDB, default https://vuln.go.dev). Where the database
# cannot be reached it says so and exits 0 (--strict: 1), so an offline make lint still
# runs the other checks. Usage: hack/vulncheck.sh [--strict]
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
use_ko_build_settings

strict=false
[ "${1:-}" = "--strict" ] && strict=true
db="${GOVULNDB:-https://vuln.go.dev}"
case "$db" in
file://*) reachable=true ;;
*) if curl -fsS -m 10 -o /dev/null "$db/index/db.json"; then reachable=true; else reachable=false; fi ;;
esac
if ! $reachable; then
	log "govulncheck SKIPPED: the vulnerability database $db cannot be reached (set GOVULNDB to a mirror, or file:// a local copy)"
	$strict && die "govulncheck did not run"
	exit 0
fi
log "govulncheck ($db)"
go tool -modfile=hack/tools/go.mod govulncheck -db "$db" "-tags=${KO_TAGS}" ./...
