// The inputs, made at bench time with the system ffmpeg (libx264, native AAC)
// and cached in bench/.cache/inputs (never committed). CBR with filler NAL
// units (nal-hrd=cbr) so the streams really carry the nominal bit rate.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readSync, closeSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR } from './measure.mjs';

export const INPUTS = {
  // The throughput / latency / memory input.
  main: { size: '1920x1080', fps: 60, kbps: 20000, seconds: 60 },
  // What each of the scale test's listeners receives.
  scale: { size: '1280x720', fps: 60, kbps: 6000, seconds: 30 },
};

// The input matrix (issue 11): one frame size and packet shape per entry, so
// that a cost per byte that depends on them shows. The 1080p60 entry is the
// main input above. Durations keep each publish near 50 MB (the audio-only
// one is about its 14,000 small packets), so a full run stays near 40 min on
// 2 cores; minKeyframeBytes is asserted on the encoded file.
export const MATRIX = [
  { id: '720p30-3M', size: '1280x720', fps: 30, kbps: 3000, seconds: 120 },
  { id: '1080p30-6M', size: '1920x1080', fps: 30, kbps: 6000, seconds: 60 },
  { id: '1080p30-20M', size: '1920x1080', fps: 30, kbps: 20000, seconds: 20 },
  { id: '1080p60-20M', main: true },
  // grain: a fixed noise pattern over the picture, as in a detailed scene:
  // key frames cost much more than the frames between them (over 1 MB here;
  // testsrc2 alone gave 0.3 MB).
  { id: '2160p30-45M', size: '3840x2160', fps: 30, kbps: 45000, seconds: 10, grain: 12, minKeyframeBytes: 1_000_000 },
  { id: 'audio-128k', audioOnly: true, seconds: 300 },
];

export const PROFILE_SECONDS = 6;
export const REALTIME_SECONDS = 12;
// The realtime runs of the matrix's other inputs: shorter than the main
// input's, since each costs its length in wall time.
export const MATRIX_REALTIME_SECONDS = 8;

export const QUICK_INPUTS = {
  main: { size: '1920x1080', fps: 60, kbps: 20000, seconds: 4 },
  scale: { size: '1280x720', fps: 60, kbps: 6000, seconds: 4 },
};

/** "1920x1080p60 H.264 20 Mb/s" or "AAC 128 kb/s only". */
export const inputLabel = (spec) => (spec.audioOnly ? 'AAC 128 kb/s only (no video)' : `${spec.size.split('x')[1]}p${spec.fps} H.264 ${spec.kbps / 1000} Mb/s`);

function encode(spec, out) {
  const { size, fps, kbps, seconds } = spec;
  const gop = fps * 2;
  const args = spec.audioOnly ? [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
    '-t', String(seconds), '-f', 'flv', `${out}.part`,
  ] : [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${fps}:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-map', '0:v', '-map', '1:a',
    ...(spec.grain ? ['-vf', `noise=alls=${spec.grain}`] : []),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
    '-b:v', `${kbps}k`, '-minrate', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`,
    '-x264-params', `nal-hrd=cbr:keyint=${gop}:min-keyint=${gop}:scenecut=0`,
    '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
    '-t', String(seconds), '-f', 'flv', `${out}.part`,
  ];
  const r = spawnSync('ffmpeg', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg could not make ${out}: ${r.stderr || r.error}`);
  renameSync(`${out}.part`, out);
}

/**
 * Packet counts and payload bytes as libavformat demuxes the file (what a
 * receiver should deliver), key frame sizes, and the fewest bytes an RTMP
 * publisher must send for its media (wireMinBytes).
 */
function probe(file) {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'packet=codec_type,size,flags', '-of', 'csv=p=0', file], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`ffprobe ${file}: ${r.stderr}`);
  const info = { packets: 0, video: 0, audio: 0, payloadBytes: 0, keyframes: 0, minKeyframeBytes: undefined, maxVideoPacketBytes: 0 };
  const videoSizes = [];
  for (const line of r.stdout.split('\n')) {
    const [type, size, flags] = line.split(',');
    if (!size) continue;
    const n = Number(size);
    info.packets++;
    info.payloadBytes += n;
    if (type === 'video') {
      info.video++;
      videoSizes.push(n);
      info.maxVideoPacketBytes = Math.max(info.maxVideoPacketBytes, n);
      if (flags?.includes('K')) {
        info.keyframes++;
        info.minKeyframeBytes = Math.min(info.minKeyframeBytes ?? Infinity, n);
      }
    } else if (type === 'audio') info.audio++;
  }
  videoSizes.sort((a, b) => a - b);
  info.medianVideoPacketBytes = videoSizes.length ? videoSizes[videoSizes.length >> 1] : undefined;
  info.wireMinBytes = wireMinBytes(file);
  return info;
}

/**
 * Per RTMP chunk size, the fewest bytes that carry the file's media tags:
 * each tag body (as in the FLV file) plus at least one header byte per chunk.
 * Receivers that count no packets (nginx-rtmp) are checked against it.
 * Script tags, codec headers and end-of-sequence tags are left out
 * (publishers write their own).
 */
function wireMinBytes(file) {
  const fd = openSync(file, 'r');
  const out = { 128: 0, 4096: 0 };
  try {
    const size = statSync(file).size;
    const hdr = Buffer.alloc(13);
    readSync(fd, hdr, 0, 9, 0);
    let pos = hdr.readUInt32BE(5) + 4; // the FLV header, then PreviousTagSize0
    while (pos + 13 <= size) {
      readSync(fd, hdr, 0, 13, pos);
      const type = hdr[0] & 0x1f;
      const body = hdr.readUIntBE(1, 3);
      // byte 12: AVCPacketType / AACPacketType after the codec byte; 1 = a frame (0 codec header, 2 end of sequence)
      if ((type === 8 || type === 9) && hdr[12] === 1) for (const c of [128, 4096]) out[c] += body + Math.ceil(body / c);
      pos += 11 + body + 4;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** The first `seconds` of an input, stream-copied (cached). */
function clipOf(input, seconds) {
  const secs = Math.min(seconds, input.spec.seconds);
  if (secs === input.spec.seconds) return input;
  const clip = input.file.replace(/\.flv$/, `-first${secs}s.flv`);
  const clipInfo = clip.replace(/\.flv$/, '.v2.json');
  if (!existsSync(clip)) {
    const r = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-i', input.file, '-t', String(secs), '-map', '0', '-c', 'copy', '-f', 'flv', `${clip}.part`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ffmpeg could not cut ${clip}: ${r.stderr}`);
    renameSync(`${clip}.part`, clip);
  }
  if (!existsSync(clipInfo)) writeFileSync(clipInfo, JSON.stringify(probe(clip)));
  return { file: clip, fileBytes: statSync(clip).size, spec: { ...input.spec, seconds: secs }, ...JSON.parse(readFileSync(clipInfo, 'utf8')) };
}

/** Makes (or reuses) one input, cached in bench/.cache/inputs; returns {file, fileBytes, spec, ...probe(file)}. */
export function makeInput(name, spec, log = () => {}) {
  const dir = join(CACHE_DIR, 'inputs');
  mkdirSync(dir, { recursive: true });
  const base = spec.audioOnly ? `${name}-aac128k-${spec.seconds}s` : `${name}-${spec.size}p${spec.fps}-${spec.kbps}k-${spec.seconds}s${spec.grain ? `-grain${spec.grain}` : ''}`;
  const file = join(dir, `${base}.flv`);
  // v2: the info gained key frame sizes and wireMinBytes.
  const infoFile = join(dir, `${base}.v2.json`);
  if (!existsSync(file)) {
    log(`making input ${base}.flv with ffmpeg${spec.audioOnly ? '' : '/libx264'} ...`);
    const t0 = Date.now();
    encode(spec, file);
    log(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (!existsSync(infoFile)) writeFileSync(infoFile, JSON.stringify(probe(file)));
  const input = { file, fileBytes: statSync(file).size, spec, ...JSON.parse(readFileSync(infoFile, 'utf8')) };
  if (spec.minKeyframeBytes && !(input.minKeyframeBytes > spec.minKeyframeBytes))
    throw new Error(`${base}.flv: its smallest key frame has ${input.minKeyframeBytes} bytes, not over ${spec.minKeyframeBytes}`);
  return input;
}

/**
 * Makes (or reuses) the inputs; returns {name: {file, fileBytes, packets,
 * video, audio, payloadBytes, spec}}, and under `matrix` the matrix's inputs
 * by id (all, or those in matrixIds; the main one always) with their realtime clips.
 */
export function prepareInputs(quick, log = () => {}, matrixIds = undefined) {
  const out = {};
  const make = (name, spec) => makeInput(name, spec, log);
  for (const [name, spec] of Object.entries(quick ? QUICK_INPUTS : INPUTS)) out[name] = make(name, spec);
  // The strace runs (tracing slows a receiver that makes 2 syscalls per chunk
  // some 10x) and the realtime CPU runs use the start of the main input.
  out.profile = clipOf(out.main, PROFILE_SECONDS);
  out.realtime = clipOf(out.main, REALTIME_SECONDS);
  // Quick mode (CI) has the main input only.
  out.matrix = {};
  if (!quick) {
    for (const entry of MATRIX) {
      const { id, main, ...spec } = entry;
      if (!main && matrixIds && !matrixIds.includes(id)) continue;
      const input = main ? out.main : make(id, spec);
      out.matrix[id] = { ...input, id, main: !!main, realtime: main ? out.realtime : clipOf(input, MATRIX_REALTIME_SECONDS) };
    }
  }
  return out;
}
