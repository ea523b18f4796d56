#!/usr/bin/env bash
# The cluster test tier: a real Kubernetes control plane and Knative as local
# processes, and the project applied to it as a user does (test/cluster/README.md).
# Usage: hack/test-cluster.sh [go test flags, e.g. -run TestChart]   (make test-cluster)
#
# Needs root (network namespaces) and Linux. Builds etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, Knative's controllers and webhooks and
# kwok from the modules test/cluster/tools pins, once: the binaries are cached in
# ${XDG_CACHE_HOME:-~/.cache}/serverless-architect/cluster/, keyed by each tools
# module's go.mod and go.sum and the Go version.
#
# SA_CLUSTER_KEEP=1 keeps the work directory (logs of every process, kubeconfig).
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

[ "$(uname -s)" = Linux ] || die "the cluster tier needs Linux network namespaces"
[ "$(id -u)" -eq 0 ] || die "the cluster tier needs root (it makes network namespaces); run it with sudo"
command -v ip >/dev/null 2>&1 || apt_install iproute2
use_ko_build_settings

cache_root="${XDG_CACHE_HOME:-${HOME}/.cache}/serverless-architect/cluster"
go_version=$(go env GOVERSION)
# Two cores are shared with other work: builds run at a lower priority.
build() { nice -n 10 go build -trimpath "$@"; }

# tools_dir NAME: the cache directory of one tools module's binaries, keyed by
# its go.mod and go.sum, the Go version and the function that builds them.
tools_dir() {
  local mod="$ROOT/test/cluster/tools/$1" key
  key=$(cat "$mod/go.mod" "$mod/go.sum" <(echo "$go_version") <(declare -f "build_$1") | sha256sum | cut -c1-16)
  echo "$cache_root/$1-$key"
}

# build_tools NAME FUNCTION: builds a tools module's binaries into its cache
# directory unless they are there; FUNCTION gets the output directory.
build_tools() {
  local name=$1 fn=$2 dir tmp start
  dir=$(tools_dir "$name")
  if [ -f "$dir/.complete" ]; then
    log "cached: $name binaries in $dir"
    return 0
  fi
  start=$SECONDS
  log "building $name binaries (once; cached in $dir)"
  tmp="$dir.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  (cd "$ROOT/test/cluster/tools/$name" && GOFLAGS=-mod=readonly "$fn" "$tmp")
  touch "$tmp/.complete"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  log "built $name binaries in $((SECONDS - start))s"
}

# ko:// references name binaries by import path: a/b/c is a_b_c.
bin_name() { echo "${1//\//_}"; }

# etcd at the version Kubernetes v1.37 itself pins (go.etcd.io/etcd v3.7.0).
# Debian's etcd-server (3.4.23) is too old for this API server: it lacks the
# watch progress requests the API server needs for watch-list streams, which
# kwok's informers ask for, and kwok then sees nodes and pods late.
build_etcd() {
  build -ldflags "-s -w" -o "$1/etcd" go.etcd.io/etcd/server/v3
}

build_kubernetes() {
  local version
  version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
  local minor=${version#v1.}
  minor=${minor%%.*}
  build -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/component-base/version.gitTreeState=clean" \
    -o "$1/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
}

build_knative() {
  local pkg
  # Every package in go.mod's tool block, one binary each (several are "controller").
  while read -r pkg; do
    build -ldflags "-s -w" -o "$1/$(bin_name "$pkg")" "$pkg"
  done < <(sed -n '/^tool (/,/^)/{/^\t/p;}' go.mod)
}

build_kwok() {
  local version
  version=$(go list -m -f '{{.Version}}' sigs.k8s.io/kwok)
  build -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${version}" -o "$1/" sigs.k8s.io/kwok/cmd/kwok
}

build_tools etcd build_etcd
build_tools kubernetes build_kubernetes
build_tools knative build_knative
build_tools kwok build_kwok

log "downloading Go modules (the tier builds the services offline, inside its network namespace)"
go mod download
# module_dir TOOLS MODULE: where a module pinned by a tools module is on disk
# (Knative's and kwok's config/ trees are read from there).
module_dir() {
  (cd "$ROOT/test/cluster/tools/$1" && go mod download "$2" && go list -m -f '{{.Dir}}' "$2")
}
serving_dir=$(module_dir knative knative.dev/serving)
eventing_dir=$(module_dir knative knative.dev/eventing)
networking_dir=$(module_dir knative knative.dev/networking)
caching_dir=$(module_dir knative knative.dev/caching)
kwok_dir=$(module_dir kwok sigs.k8s.io/kwok)
work=$(mktemp -d /dev/shm/sa-cluster.XXXXXX 2>/dev/null || mktemp -d /tmp/sa-cluster.XXXXXX)
# The tier's own module: vet and its unit tests (the cluster tests themselves skip
# outside the network namespace below).
log "go vet and the unit tests of test/cluster"
(cd test/cluster && go vet ./... && go test -count=1 ./...)
log "building the cluster tests"
(cd test/cluster && go test -c -o "$work/cluster.test" .)

# The cluster's own network namespace: a bridge with the API server's address;
# the process node adds one namespace per pod (named "$netns-<n>") on the bridge.
netns="sa-cluster-$$"
cleanup() {
  local rc=$? ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${netns}(-|$)" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -TERM "$pid" 2>/dev/null || true
    done
  done
  sleep 1
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${netns}(-|$)" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns delete "$ns" 2>/dev/null || true
  done
  if [ "${SA_CLUSTER_KEEP:-}" = 1 ] || [ "$rc" -ne 0 ]; then
    rm -f "$work/cluster.test"
    log "kept the cluster's work directory (logs of every process): $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
# The tests run in the background so that a signal reaches this script at once
# (bash runs traps only between foreground commands); it stops them, then the
# EXIT trap removes the namespaces.
test_pid=""
stop_tests() {
  [ -n "$test_pid" ] && kill -TERM "$test_pid" 2>/dev/null
  exit 130
}
trap stop_tests INT TERM

# 10.211.0.1: the API server (and the pods' gateway and DNS); .250 and .251: the
# ingress's public and cluster-local load balancers; kwok's pods get addresses in
# 10.244.0.0/16, routed to this namespace itself, where the tier answers the
# autoscaler's scrapes of them (test/cluster/podmetrics). Services' cluster IPs
# come from 10.96.0.0/16, also routed here, where the tier's service proxy
# carries them to their endpoints as kube-proxy would (test/cluster/serviceproxy).
gateway=10.211.0.1
services=10.96.0.0/16
ip netns add "$netns"
ip -n "$netns" link set lo up
ip -n "$netns" link add br0 type bridge
ip -n "$netns" addr add "$gateway/24" dev br0
ip -n "$netns" addr add 10.211.0.250/24 dev br0
ip -n "$netns" addr add 10.211.0.251/24 dev br0
ip -n "$netns" link set br0 up
ip -n "$netns" route add local 10.244.0.0/16 dev lo
ip -n "$netns" route add local "$services" dev lo

# go test flags (-run X, -run=X) as the compiled test binary takes them (-test.run).
test_args=()
for arg in "$@"; do
  case "$arg" in
    -test.*) test_args+=("$arg") ;;
    -*) test_args+=("-test.${arg#-}") ;;
    *) test_args+=("$arg") ;;
  esac
done

log "running the cluster tests in network namespace $netns (work directory $work)"
cd "$ROOT/test/cluster"
ip netns exec "$netns" env \
  SA_CLUSTER=1 \
  SA_CLUSTER_WORKDIR="$work" \
  SA_CLUSTER_NETNS="$netns" \
  SA_CLUSTER_BRIDGE=br0 \
  SA_CLUSTER_GATEWAY="$gateway" \
  SA_CLUSTER_PODS=10.211.0.0/24 \
  SA_CLUSTER_INGRESS=10.211.0.250,10.211.0.251 \
  SA_CLUSTER_KWOK_PODS=10.244.0.0/16 \
  SA_CLUSTER_SERVICES="$services" \
  SA_CLUSTER_ETCD_BIN="$(tools_dir etcd)" \
  SA_CLUSTER_KUBERNETES_BIN="$(tools_dir kubernetes)" \
  SA_CLUSTER_KNATIVE_BIN="$(tools_dir knative)" \
  SA_CLUSTER_KWOK_BIN="$(tools_dir kwok)" \
  SA_CLUSTER_SERVING_DIR="$serving_dir" \
  SA_CLUSTER_EVENTING_DIR="$eventing_dir" \
  SA_CLUSTER_NETWORKING_DIR="$networking_dir" \
  SA_CLUSTER_CACHING_DIR="$caching_dir" \
  SA_CLUSTER_KWOK_DIR="$kwok_dir" \
  GOFLAGS=-mod=readonly GOPROXY=off \
  "$work/cluster.test" -test.v -test.count=1 -test.timeout 40m "${test_args[@]}" &
test_pid=$!
wait "$test_pid"
