#!/usr/bin/env bash
# Builds FFmpeg from the pinned release into deps/. One source tarball, one
# cached build mechanism, two variants:
#
#   build-ffmpeg.sh [lib]  the minimal, static, LGPL libraries the addon
#                          links, with scripts/ffmpeg-patches/ applied, in
#                          deps/ffmpeg, and Mbed TLS (static, in the same
#                          prefix) for FFmpeg's tls protocol (rtmps://);
#   build-ffmpeg.sh cli    unmodified ffmpeg and ffprobe programs that remux
#                          (no decoders or encoders), in deps/ffmpeg-cli: the
#                          tests' Enhanced RTMP publisher and reference. A
#                          publisher is never patched.
#
# Source, in this order:
#   1. RTMP_INGEST_FFMPEG_TARBALL=/path/to/ffmpeg-9.0.2.tar.xz (any upstream or
#      Debian .orig tarball of the pinned release; its SHA-256 must match);
#   2. a cached copy in deps/src/;
#   3. Debian's source archive (`apt-get source --download-only`), through a
#      private apt directory so the machine's apt configuration is untouched.
# Mbed TLS (lib only) comes the same way: RTMP_INGEST_MBEDTLS_TARBALL, a
# cached copy in deps/src/, or Debian's source archive.
# Each build is cached by a stamp over version, configure line, patches,
# Mbed TLS's version and configuration and the compiler, so rebuilding the
# addon does not rebuild FFmpeg, and a new Mbed TLS rebuilds both.
#
# Cross builds (scripts/build-prebuilds.sh, for the prebuilds): with
# RTMP_INGEST_FFMPEG_CROSS_ARCH=x86_64|aarch64 the lib variant is configured
# with --enable-cross-compile for that arch, with the `cc`, `ar` and `ranlib`
# found first on PATH (the caller's zig wrappers) and gcc as the host
# compiler, into RTMP_INGEST_FFMPEG_PREFIX.
set -euo pipefail

# 9.0.x: the first release line that pins Enhanced RTMP v2 (HEVC, AV1, VP9,
# multitrack) in the flv demuxer. SHA-256 of ffmpeg_9.0.2.orig.tar.xz, which
# is upstream's ffmpeg-9.0.2.tar.xz renamed.
FFMPEG_VERSION=9.0.2
FFMPEG_SHA256=8c3850283eb25fa026482078a04051e0be17347b09ef81a0849bec15a96e002e
DEBIAN_SUITES="forky sid trixie"
# Mbed TLS, FFmpeg's TLS backend for rtmps:// (README, License): the 3.6
# long-term-support branch (FFmpeg 9.0's tls_mbedtls.c is written for 2.x
# and 3.x; 4.x removed the APIs it calls). SHA-256 of Debian's
# mbedtls_3.6.7.orig.tar.bz2 (forky, sid).
MBEDTLS_VERSION=3.6.7
MBEDTLS_SHA256=a7e8bcbec0e6f761b4af24f25677626b35f762f68eef79c08677a363212d11f6

variant=${1:-lib}
root=$(cd "$(dirname "$0")/.." && pwd)
deps=${RTMP_INGEST_DEPS_DIR:-$root/deps}
src_cache=$deps/src
tarball=$src_cache/ffmpeg_$FFMPEG_VERSION.orig.tar.xz
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

case $variant in
  lib)
    prefix=${RTMP_INGEST_FFMPEG_PREFIX:-$deps/ffmpeg}
    patches=("$root"/scripts/ffmpeg-patches/*.patch)
    install_targets=(install)
    with_mbedtls=1
    # Only what ingest needs: the RTMP listener, the FLV demuxers and the
    # parsers that fill in stream parameters, and for relaying the muxers
    # and rtmp:// and rtmps:// out. No decoders, no encoders, no GPL parts;
    # one external library, Mbed TLS (Apache-2.0), for the tls protocol that
    # rtmps runs on: FFmpeg's configure requires --enable-version3 with it,
    # so this build is LGPL version 3 or later. x86 assembly is off so no
    # nasm is needed; the parsers spend little time in it.
    configure_flags=(
      --disable-everything --disable-autodetect --disable-programs --disable-doc
      --disable-avdevice --disable-swscale --disable-swresample --disable-avfilter
      --disable-x86asm --disable-debug
      --enable-static --disable-shared --enable-pic
      --enable-version3 --enable-mbedtls
      --enable-network --enable-protocol=rtmp,rtmps,tcp,tls,file
      --enable-demuxer=flv,live_flv
      --enable-muxer=mp4,matroska,mpegts,flv
      --enable-parser=h264,hevc,av1,vp9,aac,opus,mpegaudio
      --extra-cflags=-fvisibility=hidden
    )
    cross_arch=${RTMP_INGEST_FFMPEG_CROSS_ARCH:-}
    if [[ -n $cross_arch ]]; then
      # The tools by name, not by path, so the stamp does not depend on
      # where the checkout is (the wrappers' contents are in the stamp).
      configure_flags+=(--enable-cross-compile --target-os=linux --arch="$cross_arch"
        --cc=cc --cxx=c++ --ar=ar --ranlib=ranlib --host-cc=gcc)
    fi
    ;;
  cli)
    with_mbedtls=
    prefix=$deps/ffmpeg-cli
    patches=()
    install_targets=(install-progs)
    # Remux only: read the fixtures (mp4/mov, matroska/webm, flv), write FLV
    # (Enhanced RTMP included) to a file or an RTMP URL, listen as a
    # reference receiver, probe with packet hashes. The mp4, matroska and
    # mpegts muxers and the mpegts demuxer make and probe the reference
    # remuxes the recording tests compare with (test/helpers/recorded.ts);
    # those muxers select the bitstream filters they insert themselves
    # (h264/hevc_mp4toannexb, vp9_superframe, the adts muxer); the segment
    # muxer makes the segmented ones. The flv muxer adds
    # aac_adtstoasc or extract_extradata when a stream needs it. One
    # decoder: the flv muxer writes VP9's vpcC from the pixel format, which
    # only decoding the first frame tells; without it the sequence header is
    # sent empty, which no ordinary ffmpeg 9 does.
    configure_flags=(
      --disable-everything --disable-autodetect --disable-doc --disable-debug
      --disable-x86asm --disable-avdevice --disable-swscale --disable-swresample
      --disable-ffplay --enable-ffmpeg --enable-ffprobe
      --enable-static --disable-shared
      --enable-network --enable-protocol=rtmp,tcp,file,pipe
      --enable-demuxer=mov,matroska,flv,live_flv,mpegts
      --enable-muxer=flv,framehash,mp4,matroska,mpegts,segment
      --enable-parser=h264,hevc,av1,vp9,aac,opus,mpegaudio
      --enable-bsf=aac_adtstoasc,extract_extradata
      --enable-decoder=vp9
    )
    ;;
  *)
    printf 'usage: %s [lib|cli]\n' "$0" >&2
    exit 2
    ;;
esac

log() { printf 'build-ffmpeg: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

stamp_value() {
  {
    echo "$FFMPEG_VERSION $FFMPEG_SHA256"
    if [[ -n $with_mbedtls ]]; then
      echo "mbedtls $MBEDTLS_VERSION $MBEDTLS_SHA256"
      cat "$root/scripts/mbedtls-config.h"
    fi
    printf '%s\n' "${configure_flags[@]}"
    [[ ${#patches[@]} -eq 0 ]] || cat "${patches[@]}"
    # (zig cc prints its version, then fails on the glibc version in the target.)
    { ${CC:-cc} --version 2>/dev/null || true; } | head -1
    # A wrapper script (the cross builds' zig cc) is part of the compiler.
    if [[ -n ${cross_arch:-} ]]; then cat "$(command -v cc)"; fi
  } | sha256sum | cut -d' ' -f1
}

if [[ -f $prefix/.stamp && "$(cat "$prefix/.stamp")" == "$(stamp_value)" ]]; then
  log "FFmpeg $FFMPEG_VERSION ($variant) is up to date in $prefix"
  exit 0
fi

# fetch_from_debian PACKAGE VERSION FILE: the orig tarball FILE of any
# Debian revision of upstream VERSION of source package PACKAGE, into deps/src/.
fetch_from_debian() {
  local status=0 apt_dir
  apt_dir=$(mktemp -d)
  fetch_into "$apt_dir" "$@" || status=$?
  rm -rf "$apt_dir"
  return $status
}

fetch_into() {
  local apt_dir=$1 package=$2 upstream=$3 file=$4 version
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/sources.d" "$apt_dir/download"
  cat >"$apt_dir/sources.d/deb-src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $DEBIAN_SUITES
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  local apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources.d"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
  log "looking for $package $upstream in Debian's source archive ($DEBIAN_SUITES)"
  apt-get "${apt_opts[@]}" -qq update >&2 || return 1
  # Any Debian revision of the pinned upstream release has the same orig tarball.
  version=$(apt-cache "${apt_opts[@]}" showsrc "$package" 2>/dev/null |
    sed -n 's/^Version: //p' | grep -E "^([0-9]+:)?$upstream-" | head -1) || true
  [[ -n $version ]] || return 1
  log "downloading the source of $package $version"
  # The .dsc or the Debian tarball may be gone from the pool while the orig
  # tarball is still there: judge by the file we need, not by apt's status.
  (cd "$apt_dir/download" && apt-get "${apt_opts[@]}" -qq source --download-only "$package=$version" >&2) || true
  [[ -f $apt_dir/download/$file ]] || return 1
  mkdir -p "$src_cache"
  mv "$apt_dir/download/$file" "$src_cache/$file.part"
  mv "$src_cache/$file.part" "$src_cache/$file"
}

# source_tarball PACKAGE VERSION SHA256 FILE OVERRIDE HOW: deps/src/FILE with
# that SHA-256, from $OVERRIDE (a path) if set, else the cache, else Debian.
source_tarball() {
  local package=$1 upstream=$2 sha=$3 file=$4 override=$5 how=$6 cached=$src_cache/$4
  if [[ -n $override ]]; then
    [[ -f $override ]] || die "$override does not exist"
    [[ "$(sha_of "$override")" == "$sha" ]] ||
      die "$override is not $package $upstream (SHA-256 mismatch; expected $sha)"
    mkdir -p "$src_cache"
    cp "$override" "$cached"
  elif [[ ! -f $cached || "$(sha_of "$cached")" != "$sha" ]]; then
    rm -f "$cached"
    command -v apt-get >/dev/null || die "no apt-get here to fetch the $package source.
$how"
    fetch_from_debian "$package" "$upstream" "$file" || die "Debian's archive no longer has $package $upstream.
$how"
  fi
  [[ "$(sha_of "$cached")" == "$sha" ]] || {
    rm -f "$cached"
    die "the downloaded $file's SHA-256 does not match $sha"
  }
}

source_tarball ffmpeg "$FFMPEG_VERSION" "$FFMPEG_SHA256" "ffmpeg_$FFMPEG_VERSION.orig.tar.xz" \
  "${RTMP_INGEST_FFMPEG_TARBALL:-}" \
  "Download ffmpeg-$FFMPEG_VERSION.tar.xz (SHA-256 $FFMPEG_SHA256) from ffmpeg.org/releases
and run again with RTMP_INGEST_FFMPEG_TARBALL=/path/to/ffmpeg-$FFMPEG_VERSION.tar.xz"
if [[ -n $with_mbedtls ]]; then
  mbedtls_tarball=$src_cache/mbedtls_$MBEDTLS_VERSION.orig.tar.bz2
  source_tarball mbedtls "$MBEDTLS_VERSION" "$MBEDTLS_SHA256" "mbedtls_$MBEDTLS_VERSION.orig.tar.bz2" \
    "${RTMP_INGEST_MBEDTLS_TARBALL:-}" \
    "Get Debian's mbedtls_$MBEDTLS_VERSION.orig.tar.bz2 (SHA-256 $MBEDTLS_SHA256) from a Debian
mirror or snapshot and run again with RTMP_INGEST_MBEDTLS_TARBALL=/path/to/mbedtls_$MBEDTLS_VERSION.orig.tar.bz2"
fi

work=$(mktemp -d "$deps/ffmpeg-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "unpacking${patches[0]:+ and patching}"
tar -xJf "$tarball" -C "$work"
srcdir=$work/ffmpeg-$FFMPEG_VERSION
for p in ${patches[@]+"${patches[@]}"}; do
  patch -s -p1 -d "$srcdir" <"$p" || die "patch $(basename "$p") does not apply"
done

rm -rf "$prefix"
if [[ -n $with_mbedtls ]]; then
  command -v pkg-config >/dev/null || die "pkg-config is needed (FFmpeg's configure finds Mbed TLS through it)"
  command -v bzip2 >/dev/null || die "bzip2 is needed (the Mbed TLS tarball)"
  # Mbed TLS first, into the same prefix (the addon links lib/libmbed*.a
  # after FFmpeg's libraries): static, PIC, hidden, the library only (no
  # programs, no tests), with scripts/mbedtls-config.h appended to its
  # configuration header, which is installed with the others.
  log "building Mbed TLS $MBEDTLS_VERSION${cross_arch:+ ($cross_arch)}"
  tar -xjf "$mbedtls_tarball" -C "$work"
  mbedtls_src=$work/mbedtls-$MBEDTLS_VERSION
  cat "$root/scripts/mbedtls-config.h" >>"$mbedtls_src/include/mbedtls/mbedtls_config.h"
  make -C "$mbedtls_src/library" -j"$jobs" CC="${CC:-cc}" AR=ar \
    CFLAGS="-O2 -fPIC -fvisibility=hidden" static >"$work/mbedtls.log" 2>&1 || {
    tail -40 "$work/mbedtls.log" >&2
    die "the Mbed TLS build failed"
  }
  mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
  cp "$mbedtls_src"/library/libmbed{tls,x509,crypto}.a "$prefix/lib/"
  cp -r "$mbedtls_src/include/mbedtls" "$mbedtls_src/include/psa" "$prefix/include/"
  install -m 0644 "$mbedtls_src/LICENSE" "$prefix/LICENSE.mbedtls"
  # What FFmpeg's configure looks for first (check_pkg_config mbedtls).
  cat >"$prefix/lib/pkgconfig/mbedtls.pc" <<EOF
prefix=$prefix
Name: mbedtls
Description: Mbed TLS $MBEDTLS_VERSION (rtmp-ingest's static build)
Version: $MBEDTLS_VERSION
Cflags: -I\${prefix}/include
Libs: -L\${prefix}/lib -lmbedtls -lmbedx509 -lmbedcrypto -lpthread
EOF
  # Only this prefix's .pc files, never the machine's (a cross build's
  # configure would otherwise find the host's libraries).
  export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig PKG_CONFIG_PATH=
fi

log "configuring: ${configure_flags[*]}"
(cd "$srcdir" && ./configure --prefix="$prefix" "${configure_flags[@]}" >"$work/configure.log" 2>&1) || {
  tail -30 "$work/configure.log" >&2
  die "configure failed"
}
if [[ -n ${cross_arch:-} ]]; then
  # configure only links a call to sysctl(), which glibc 2.28 (zig's
  # symbol stubs for it) still exports; but zig's headers come from a newer
  # glibc, which has no <sys/sysctl.h>, and libavutil/cpu.c includes it when
  # HAVE_SYSCTL is set. On Linux FFmpeg counts CPUs without sysctl anyway.
  sed -i 's/^#define HAVE_SYSCTL 1$/#define HAVE_SYSCTL 0/' "$srcdir/config.h"
fi
log "building ($variant${cross_arch:+, $cross_arch}) with $jobs jobs"
make -C "$srcdir" -j"$jobs" >"$work/make.log" 2>&1 || {
  tail -40 "$work/make.log" >&2
  die "make failed"
}
make -C "$srcdir" "${install_targets[@]}" >"$work/install.log" 2>&1 || die "make ${install_targets[*]} failed"
install -m 0644 "$srcdir/COPYING.LGPLv2.1" "$prefix/COPYING.LGPLv2.1"
[[ -z $with_mbedtls ]] || install -m 0644 "$srcdir/COPYING.LGPLv3" "$prefix/COPYING.LGPLv3"
if [[ ${#patches[@]} -gt 0 ]]; then
  mkdir -p "$prefix/patches"
  cp "${patches[@]}" "$prefix/patches/"
fi
stamp_value >"$prefix/.stamp"
log "FFmpeg $FFMPEG_VERSION ($variant) installed in $prefix"
