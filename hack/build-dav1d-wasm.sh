#!/usr/bin/env bash
# Builds internal/thumbnail/dav1d/dav1d.wasm.gz: dav1d 1.0.0 (Debian's source tarball,
# checked against its SHA-256) compiled to WebAssembly (wasm32-wasi, single-threaded,
# no assembly, SIMD128 for the compiler's vectorizer) with the entry points of
# internal/thumbnail/dav1d/csrc/glue.c. Only needed to change the module: make test
# uses the committed artifact.
# Usage: hack/build-dav1d-wasm.sh   (needs Debian bookworm's clang 14 toolchain)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

version=1.0.0
url="http://deb.debian.org/debian/pool/main/d/dav1d/dav1d_${version}.orig.tar.xz"
sha256=51737db7e4897e599684f873a4725176dd3c779e639411d7c4fce134bb5ebb82
out="${ROOT}/internal/thumbnail/dav1d"
cflags=(-O2 -msimd128 -mbulk-memory -mnontrapping-fptoint -msign-ext)

apt_install clang lld llvm wasi-libc libclang-rt-dev-wasm32 meson ninja-build curl xz-utils

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch_source "dav1d ${version}" "$url" "$sha256" "$work"
src="${work}/dav1d-${version}"

# wasi-libc (2022) has no threads: no -pthread (which would ask for shared memory and
# atomics), and csrc/pthread.h stands in for the calls dav1d makes with one thread.
sed -i "s/thread_dependency = dependency('threads')/thread_dependency = declare_dependency()/" "${src}/meson.build"
grep -q "thread_dependency = declare_dependency()" "${src}/meson.build" || die "dav1d's meson.build changed: the threads patch no longer applies"

quote() { local s="" a; for a in "$@"; do s+="'${a}', "; done; printf '[%s]' "${s%, }"; }
cat >"${work}/cross.ini" <<INI
[binaries]
c = 'clang'
ar = 'llvm-ar'
strip = 'llvm-strip'

[built-in options]
c_args = $(quote --target=wasm32-wasi "-I${out}/csrc" "${cflags[@]}")
c_link_args = ['--target=wasm32-wasi']

[host_machine]
system = 'wasi'
cpu_family = 'wasm32'
cpu = 'wasm32'
endian = 'little'
INI

log "building libdav1d"
meson setup "${work}/build" "$src" --cross-file "${work}/cross.ini" --buildtype=release \
  -Denable_asm=false -Denable_tools=false -Denable_tests=false -Dlogging=false \
  -Ddefault_library=static -Dbitdepths=8,16 >"${work}/meson.log" || { cat "${work}/meson.log" >&2; die "meson setup failed"; }
ninja -C "${work}/build" >"${work}/ninja.log" || { cat "${work}/ninja.log" >&2; die "ninja failed"; }

log "linking dav1d.wasm"
clang --target=wasm32-wasi -mexec-model=reactor "${cflags[@]}" \
  -I"${src}/include" -I"${work}/build/include" -I"${work}/build/include/dav1d" \
  -Wl,--strip-all -Wl,-z,stack-size=1048576 \
  -o "${work}/dav1d.wasm" "${out}/csrc/glue.c" "${work}/build/src/libdav1d.a"
gzip -9 -n -c "${work}/dav1d.wasm" >"${out}/dav1d.wasm.gz"
cp "${src}/COPYING" "${out}/LICENSE.dav1d"
log "wrote ${out}/dav1d.wasm.gz ($(wc -c <"${out}/dav1d.wasm.gz") bytes)"
