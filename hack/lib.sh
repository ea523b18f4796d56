#!/usr/bin/env bash
# Shared helpers for the hack/ scripts. Source it; do not run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
# ko reads .ko.yaml by default; ours is ko.yaml.
export KO_CONFIG_PATH="${ROOT}/ko.yaml"

# ko and helm run from PATH, or with `go run` at these pinned versions.
KO_VERSION="${KO_VERSION:-v0.19.1}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"

ko() {
  if command -v ko >/dev/null 2>&1; then
    command ko "$@"
  else
    go run "github.com/google/ko@${KO_VERSION}" "$@"
  fi
}

helm() {
  if command -v helm >/dev/null 2>&1; then
    command helm "$@"
  else
    go run "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" "$@"
  fi
}

# use_ko_build_settings: every Go build and test of the scripts in ko.yaml's
# configuration: CGO_ENABLED=0 and ko.yaml's defaultFlags (-trimpath, the build tags,
# -gcflags; read from it, so the two cannot drift). Go's build cache keys every package
# on all of them, so each other mix compiles the standard library and every dependency
# again: a fresh machine paid that once for lint and go test, once more for sa dev's
# services, once more for the cluster tier. -trimpath also keeps the checkout's
# directory out of the keys, so a clone anywhere reuses what any other built.
use_ko_build_settings() {
  local list flags tags
  # The entries of the defaultFlags list, one flag a line (GOFLAGS splits on spaces).
  list=$(sed -n '/^defaultFlags:/,/^[^ -]/s/^ *- *\(-[^ ]*\) *$/\1/p' "${ROOT}/ko.yaml")
  flags=$(paste -sd ' ' - <<<"$list")
  tags=$(sed -n 's/^-tags=//p' <<<"$list")
  [ -n "$tags" ] || die "ko.yaml's defaultFlags have no -tags= line: hack/lib.sh reads the build flags from it"
  export KO_TAGS=$tags
  export CGO_ENABLED=0
  # Once: a script run by another inherits its GOFLAGS. (A caller's own -trimpath
  # alone must not stop the rest from being added.)
  case " ${GOFLAGS:-} " in
    *" ${flags} "*) ;;
    *) export GOFLAGS="${GOFLAGS:+${GOFLAGS} }${flags}" ;;
  esac
}

# The time the outermost script began (scripts that run others share it), so each log
# line says how far in it is: where make test spends its minutes.
SA_STARTED="${SA_STARTED:-$(date +%s)}"
export SA_STARTED

log() {
  local t=$(($(date +%s) - SA_STARTED))
  printf '==> [%dm%02ds] %s\n' $((t / 60)) $((t % 60)) "$*" >&2
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# fetch_source NAME URL SHA256 DIR: downloads a source tarball into DIR, checks it
# against SHA256, and extracts it there (gzip or xz, as tar sees it).
fetch_source() {
  local name=$1 url=$2 sha256=$3 dir=$4 file
  file="${dir}/${url##*/}"
  log "downloading ${name}"
  curl -sSfL -o "$file" "$url"
  echo "${sha256}  ${file}" | sha256sum --check --quiet || die "${name} tarball checksum mismatch"
  tar -xf "$file" -C "$dir"
}

# brew_name PKG: the Homebrew formula for a Debian package the scripts use ("" when
# macOS needs none).
brew_name() {
  case "$1" in
    libheif-examples) echo libheif ;;
    libjpeg-turbo-progs) echo jpeg-turbo ;;
    libvips-tools) echo vips ;;
    python3-pip) echo python ;;
    time) echo gnu-time ;;
    chromium) echo "--cask chromium" ;;
    util-linux) echo "" ;;
    *) echo "$1" ;;
  esac
}

# apt_install PKG...: installs Debian packages that are missing (needs root or sudo).
# On macOS it installs the Homebrew equivalents (brew_name) of those not on PATH.
apt_install() {
  if [ "$(uname -s)" = Darwin ]; then
    brew_install "$@"
    return
  fi
  local missing=()
  local p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# brew_install PKG...: the macOS side of apt_install.
brew_install() {
  command -v brew >/dev/null 2>&1 || die "Homebrew is needed to install: $*; see README.md, Prerequisites"
  local p f
  for p in "$@"; do
    f=$(brew_name "$p")
    [ -n "$f" ] || continue
    # shellcheck disable=SC2086 # "--cask chromium" is two words on purpose
    brew list ${f#--cask } >/dev/null 2>&1 || { log "installing with Homebrew: $f"; brew install $f; }
  done
}

# ensure_moto: makes moto_server available, installing moto with pip where missing.
ensure_moto() {
  command -v moto_server >/dev/null 2>&1 && return 0
  log "moto_server not found: installing moto[server] with pip"
  if command -v pip3 >/dev/null 2>&1; then
    pip3 install --quiet 'moto[server]>=5.1,<6' || die "pip could not install moto; install it by hand: pip install 'moto[server]'"
  elif command -v pip >/dev/null 2>&1; then
    pip install --quiet 'moto[server]>=5.1,<6' || die "pip could not install moto; install it by hand: pip install 'moto[server]'"
  else
    apt_install python3-pip
    pip3 install --quiet --break-system-packages 'moto[server]>=5.1,<6' || die "pip could not install moto"
  fi
  hash -r
  command -v moto_server >/dev/null 2>&1 || die "moto was installed but moto_server is not on PATH (add pip's bin directory to PATH)"
}

# ensure_shellcheck: installs shellcheck from Debian where missing.
ensure_shellcheck() {
  command -v shellcheck >/dev/null 2>&1 || apt_install shellcheck
}

# free_port: prints a free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL SECONDS: waits until URL answers.
wait_http() {
  local url=$1 secs=$2 i
  for ((i = 0; i < secs * 10; i++)); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
