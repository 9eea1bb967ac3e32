#!/usr/bin/env bash
# Regenerates the FLV fixtures in test/fixtures/ (committed; tests never run this).
# Deterministic: single thread, bitexact flags and fixed x264 params, so rerunning
# with the same ffmpeg/libx264 build gives byte-identical files.
set -euo pipefail

out="${1:-$(cd "$(dirname "$0")/.." && pwd)/test/fixtures}"
mkdir -p "$out"

common=(-hide_banner -loglevel error -y)
# Audio: native AAC encoder, 44.1 kHz stereo (sine 440 Hz left, 660 Hz right).
audio_src=(-f lavfi -i "sine=frequency=440:sample_rate=44100:duration=5"
           -f lavfi -i "sine=frequency=660:sample_rate=44100:duration=5")
audio_enc=(-filter_complex "[1:a][2:a]amerge=inputs=2[a]" -map 0:v -map "[a]"
           -c:a aac -b:a 96k -ar 44100 -ac 2)

# $1 name, $2 WxH, $3 fps, $4 profile, $5 bframes, $6 bitrate kbit/s
make() {
  local name=$1 size=$2 fps=$3 profile=$4 bf=$5 kbps=$6
  local keyint=$((fps * 2)) # GOP 2 s
  # Output options (incl. -fflags/-threads) must come after the inputs to apply to the output.
  ffmpeg "${common[@]}" \
    -f lavfi -i "testsrc2=size=${size}:rate=${fps}:duration=5" \
    "${audio_src[@]}" \
    "${audio_enc[@]}" \
    -c:v libx264 -profile:v "$profile" -preset veryfast -pix_fmt yuv420p \
    -b:v "${kbps}k" -maxrate "${kbps}k" -bufsize "$((kbps * 2))k" \
    -x264-params "keyint=${keyint}:min-keyint=${keyint}:scenecut=0:bframes=${bf}:b-adapt=0:open-gop=0:threads=1:sliced-threads=0:lookahead-threads=1" \
    -threads 1 -filter_threads 1 -filter_complex_threads 1 \
    -fflags +bitexact -flags +bitexact -map_metadata -1 \
    -t 5 -f flv "$out/$name.flv"
}

make small  320x240  30 main 0 300
make hd720  1280x720 30 main 0 1400
make bframes 640x360 25 high 3 600

ls -l "$out"/*.flv
