#!/usr/bin/env bash
# Builds internal/thumbnail/de265/de265.wasm.gz: libde265 1.0.11 (Debian bookworm's
# source tarball, checked against its SHA-256) compiled to WebAssembly (wasm32-wasi,
# single-threaded, no assembly) with the entry points of
# internal/thumbnail/de265/csrc/glue.cc. Only needed to change the module: make test
# uses the committed artifact.
# Usage: hack/build-libde265-wasm.sh   (needs Debian bookworm's clang 14 toolchain)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

version=1.0.11
url="http://deb.debian.org/debian/pool/main/libd/libde265/libde265_${version}.orig.tar.gz"
sha256=2f8f12cabbdb15e53532b7c1eb964d4e15d444db1be802505e6ac97a25035bab
out="${ROOT}/internal/thumbnail/de265"
cflags=(-O2 -mbulk-memory -mnontrapping-fptoint -msign-ext -fno-exceptions)
# The decoder's sources (the encoder, the sample applications and the x86/ARM
# assembly are left out).
sources=(alloc_pool bitstream cabac configparam contextmodel de265 deblock decctx dpb
  fallback-dct fallback-motion fallback image intrapred md5 motion nal-parser nal pps
  quality refpic sao scan sei slice sps threads transform util vps vui)
# The pixel kernels (inverse transforms, intra prediction, the in-loop filters, sample
# copies) are compiled with -msimd128, so clang vectorizes their loops over samples;
# the rest is not: clang 14's vectorizer miscompiles libde265's parameter-set parsing
# for wasm32 (every slice then refers to a "non-existing PPS"; TestDecode catches it).
simd_sources=(fallback-dct fallback-motion transform intrapred deblock sao)

apt_install clang lld llvm wasi-libc libclang-rt-dev-wasm32 libc++-14-dev-wasm32 libc++abi-14-dev-wasm32 curl

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch_source "libde265 ${version}" "$url" "$sha256" "$work"
src="${work}/libde265-${version}"

# libc++ built for WASI without threads has no std::mutex: de265.cc's one use (guarding
# its one-time initialisation) becomes csrc/single_thread.h's stand-in.
sed -i 's/std::lock_guard<std::mutex>/sa_lock_guard/g; s/std::mutex/sa_mutex/g' "${src}/libde265/de265.cc"
grep -q "sa_lock_guard" "${src}/libde265/de265.cc" || die "libde265's de265.cc changed: the mutex patch no longer applies"

# csrc/pthread.h stands in for the pthread calls libde265 makes without worker threads;
# slice.cc includes signal.h without using it.
flags=(--target=wasm32-wasi "${cflags[@]}" -D_WASI_EMULATED_SIGNAL -DHAVE_POSIX_MEMALIGN -DNDEBUG
  -include "${out}/csrc/single_thread.h" -I"${out}/csrc" -I"$src" -I"${src}/libde265" -w)
log "compiling libde265 (${#sources[@]} files)"
mkdir -p "${work}/obj"
compile() { # compile EXTRA-FLAG|"" FILE...: xargs runs nproc compilers at a time
  local -a extra=()
  [[ -z "$1" ]] || extra=("$1")
  shift
  printf '%s\n' "$@" | xargs -P "$(nproc)" -I{} clang++ "${flags[@]}" "${extra[@]}" -c "${src}/libde265/{}.cc" -o "${work}/obj/{}.o"
}
plain=()
for s in "${sources[@]}"; do
  [[ " ${simd_sources[*]} " == *" ${s} "* ]] || plain+=("$s")
done
compile "" "${plain[@]}"
compile -msimd128 "${simd_sources[@]}"
clang++ "${flags[@]}" -c "${out}/csrc/glue.cc" -o "${work}/obj/glue.o"

log "linking de265.wasm"
clang++ --target=wasm32-wasi -mexec-model=reactor "${cflags[@]}" \
  -Wl,--strip-all -Wl,-z,stack-size=1048576 \
  -o "${work}/de265.wasm" "${work}"/obj/*.o
gzip -9 -n -c "${work}/de265.wasm" >"${out}/de265.wasm.gz"
cp "${src}/COPYING" "${out}/LICENSE.libde265"
log "wrote ${out}/de265.wasm.gz ($(wc -c <"${out}/de265.wasm.gz") bytes)"
