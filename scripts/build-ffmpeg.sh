#!/usr/bin/env bash
# Builds FFmpeg from the pinned release into deps/. One source tarball, one
# cached build mechanism, two variants:
#
#   build-ffmpeg.sh [lib]  the minimal, static, LGPL libraries the addon
#                          links, with scripts/ffmpeg-patches/ applied, in
#                          deps/ffmpeg;
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
# Each build is cached by a stamp over version, configure line, patches
# and compiler, so rebuilding the addon does not rebuild FFmpeg.
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
    # Only what ingest needs: the RTMP listener, the FLV demuxers and the
    # parsers that fill in stream parameters. No decoders, no encoders, no
    # GPL parts, no external libraries. x86 assembly is off so no nasm is
    # needed; the parsers spend little time in it.
    configure_flags=(
      --disable-everything --disable-autodetect --disable-programs --disable-doc
      --disable-avdevice --disable-swscale --disable-swresample --disable-avfilter
      --disable-x86asm --disable-debug
      --enable-static --disable-shared --enable-pic
      --enable-network --enable-protocol=rtmp,tcp,file
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

fetch_from_debian() {
  local status=0 apt_dir
  apt_dir=$(mktemp -d)
  fetch_into "$apt_dir" || status=$?
  rm -rf "$apt_dir"
  return $status
}

fetch_into() {
  local apt_dir=$1 version
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/sources.d" "$apt_dir/download"
  cat >"$apt_dir/sources.d/ffmpeg-src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $DEBIAN_SUITES
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  local apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources.d"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
  log "looking for ffmpeg $FFMPEG_VERSION in Debian's source archive ($DEBIAN_SUITES)"
  apt-get "${apt_opts[@]}" -qq update >&2 || return 1
  # Any Debian revision of the pinned upstream release has the same orig tarball.
  version=$(apt-cache "${apt_opts[@]}" showsrc ffmpeg 2>/dev/null |
    sed -n 's/^Version: //p' | grep -E "^([0-9]+:)?$FFMPEG_VERSION-" | head -1) || true
  [[ -n $version ]] || return 1
  log "downloading the source of ffmpeg $version"
  # The .dsc or the Debian tarball may be gone from the pool while the orig
  # tarball is still there: judge by the file we need, not by apt's status.
  (cd "$apt_dir/download" && apt-get "${apt_opts[@]}" -qq source --download-only "ffmpeg=$version" >&2) || true
  [[ -f $apt_dir/download/ffmpeg_$FFMPEG_VERSION.orig.tar.xz ]] || return 1
  mkdir -p "$src_cache"
  mv "$apt_dir/download/ffmpeg_$FFMPEG_VERSION.orig.tar.xz" "$tarball.part"
  mv "$tarball.part" "$tarball"
}

how_to_supply="Download ffmpeg-$FFMPEG_VERSION.tar.xz (SHA-256 $FFMPEG_SHA256) from ffmpeg.org/releases
and run again with RTMP_INGEST_FFMPEG_TARBALL=/path/to/ffmpeg-$FFMPEG_VERSION.tar.xz"

if [[ -n ${RTMP_INGEST_FFMPEG_TARBALL:-} ]]; then
  [[ -f $RTMP_INGEST_FFMPEG_TARBALL ]] || die "RTMP_INGEST_FFMPEG_TARBALL=$RTMP_INGEST_FFMPEG_TARBALL does not exist"
  [[ "$(sha_of "$RTMP_INGEST_FFMPEG_TARBALL")" == "$FFMPEG_SHA256" ]] ||
    die "$RTMP_INGEST_FFMPEG_TARBALL is not ffmpeg $FFMPEG_VERSION (SHA-256 mismatch; expected $FFMPEG_SHA256)"
  mkdir -p "$src_cache"
  cp "$RTMP_INGEST_FFMPEG_TARBALL" "$tarball"
elif [[ ! -f $tarball || "$(sha_of "$tarball")" != "$FFMPEG_SHA256" ]]; then
  rm -f "$tarball"
  command -v apt-get >/dev/null || die "no apt-get here to fetch the FFmpeg source.
$how_to_supply"
  fetch_from_debian || die "Debian's archive no longer has ffmpeg $FFMPEG_VERSION.
$how_to_supply"
fi
[[ "$(sha_of "$tarball")" == "$FFMPEG_SHA256" ]] || {
  rm -f "$tarball"
  die "the downloaded tarball's SHA-256 does not match $FFMPEG_SHA256"
}

work=$(mktemp -d "$deps/ffmpeg-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "unpacking${patches[0]:+ and patching}"
tar -xJf "$tarball" -C "$work"
srcdir=$work/ffmpeg-$FFMPEG_VERSION
for p in ${patches[@]+"${patches[@]}"}; do
  patch -s -p1 -d "$srcdir" <"$p" || die "patch $(basename "$p") does not apply"
done

log "configuring: ${configure_flags[*]}"
rm -rf "$prefix"
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
if [[ ${#patches[@]} -gt 0 ]]; then
  mkdir -p "$prefix/patches"
  cp "${patches[@]}" "$prefix/patches/"
fi
stamp_value >"$prefix/.stamp"
log "FFmpeg $FFMPEG_VERSION ($variant) installed in $prefix"
