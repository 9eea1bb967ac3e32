#!/usr/bin/env bash
# Regenerates the fixtures in test/fixtures/ (committed; tests never run this)
# with Debian 12's ffmpeg 5.1 and its encoders (apt-get install ffmpeg).
# Deterministic: single thread, bitexact flags and fixed encoder params, so
# rerunning with the same ffmpeg and encoder builds gives byte-identical files.
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

# Enhanced RTMP: codecs that only Enhanced RTMP carries in FLV (HEVC, AV1,
# VP9, Opus), MP3 next to H.264, and several tracks of one kind
# (multitrack). Debian's ffmpeg 5.1 cannot write these to FLV, so they are
# mp4/mkv/webm files that the ffmpeg 9 CLI publishes with -c copy. HEVC
# with B-frames goes in mp4: Matroska keeps no dts, and without a decoder
# ffmpeg cannot rebuild HEVC's. 3 s, GOP 1 s, 320x240 at 30 fps, low
# bitrates.
edur=3
video() { echo "testsrc2=size=${1:-320x240}:rate=${2:-30}:duration=$edur"; }
tone() { echo "sine=frequency=$1:sample_rate=$2:duration=$edur"; }
stereo=(-f lavfi -i "$(tone 440 48000)" -f lavfi -i "$(tone 660 48000)")
x264_gop="keyint=30:min-keyint=30:scenecut=0:b-adapt=0:open-gop=0:threads=1:sliced-threads=0:lookahead-threads=1"
bitexact=(-threads 1 -filter_threads 1 -filter_complex_threads 1 -fflags +bitexact -flags +bitexact -map_metadata -1)
hevc=(-c:v libx265 -preset veryfast -pix_fmt yuv420p -b:v 150k
      -x265-params "keyint=30:min-keyint=30:scenecut=0:bframes=3:b-adapt=0:open-gop=0:pools=none:frame-threads=1:wpp=0:info=0:log-level=error")
av1=(-c:v libsvtav1 -preset 10 -crf 45 -g 30 -pix_fmt yuv420p -svtav1-params "lp=1:scd=0")
vp9=(-c:v libvpx-vp9 -deadline good -cpu-used 5 -b:v 150k -g 30 -keyint_min 30 -auto-alt-ref 1 -lag-in-frames 16 -row-mt 0 -tile-columns 0)
opus=(-c:a libopus -b:a 64k -ar 48000 -ac 2)
aac=(-c:a aac -b:a 96k -ac 2)

# $1 file, then the encoder options; input 0 is video, 1 and 2 the two tones.
enhanced() {
  local file=$1
  shift
  ffmpeg "${common[@]}" -f lavfi -i "$(video)" "${stereo[@]}" \
    -filter_complex "[1:a][2:a]amerge=inputs=2[a]" -map 0:v -map "[a]" \
    "$@" "${bitexact[@]}" -t "$edur" "$out/$file"
}

enhanced hevc-aac.mp4  "${hevc[@]}" "${aac[@]}" -ar 44100
enhanced hevc-opus.mp4 "${hevc[@]}" "${opus[@]}"
enhanced av1-opus.mkv  "${av1[@]}" "${opus[@]}"
enhanced vp9-opus.webm "${vp9[@]}" "${opus[@]}"
enhanced h264-mp3.mp4 -c:v libx264 -profile:v main -preset veryfast -pix_fmt yuv420p -b:v 150k \
  -x264-params "$x264_gop:bframes=0" -c:a libmp3lame -b:a 96k -ar 44100 -ac 2

# VP9 Profile 3 (10-bit 4:4:4), video only: the other branch of the key
# frame header that StreamProbe reads for VP9's dimensions.
ffmpeg "${common[@]}" -f lavfi -i "testsrc2=size=160x120:rate=30:duration=1" \
  -c:v libvpx-vp9 -pix_fmt yuv444p10le -profile:v 3 -deadline good -cpu-used 5 -b:v 100k -g 30 -keyint_min 30 \
  -row-mt 0 -tile-columns 0 "${bitexact[@]}" -t 1 "$out/vp9-444-10bit.webm"

# Two H.264 tracks (different size and profile) and two AAC tracks
# (44.1 kHz stereo, 48 kHz mono).
ffmpeg "${common[@]}" -f lavfi -i "$(video)" -f lavfi -i "$(video 256x144)" \
  "${stereo[@]}" -f lavfi -i "$(tone 880 48000)" \
  -filter_complex "[2:a][3:a]amerge=inputs=2[a]" -map 0:v -map 1:v -map "[a]" -map 4:a \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p -b:v 100k \
  -profile:v:0 high -x264-params:v:0 "$x264_gop:bframes=2" \
  -profile:v:1 baseline -x264-params:v:1 "$x264_gop:bframes=0" \
  -c:a aac -b:a:0 96k -ar:a:0 44100 -ac:a:0 2 -b:a:1 48k -ar:a:1 48000 -ac:a:1 1 \
  "${bitexact[@]}" -t "$edur" "$out/multitrack.mkv"

ls -l "$out"/*.flv "$out"/*.mp4 "$out"/*.mkv "$out"/*.webm
