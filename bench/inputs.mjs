// The inputs, made at bench time with the system ffmpeg (libx264, native AAC)
// and cached in bench/.cache/inputs (never committed). CBR with filler NAL
// units (nal-hrd=cbr) so the streams really carry the nominal bit rate.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR } from './measure.mjs';

export const INPUTS = {
  // The throughput / latency / memory input.
  main: { size: '1920x1080', fps: 60, kbps: 20000, seconds: 60 },
  // What each of the scale test's listeners receives.
  scale: { size: '1280x720', fps: 60, kbps: 6000, seconds: 30 },
};

export const PROFILE_SECONDS = 6;
export const REALTIME_SECONDS = 12;

export const QUICK_INPUTS = {
  main: { size: '1920x1080', fps: 60, kbps: 20000, seconds: 4 },
  scale: { size: '1280x720', fps: 60, kbps: 6000, seconds: 4 },
};

function encode(spec, out) {
  const { size, fps, kbps, seconds } = spec;
  const gop = fps * 2;
  const args = [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${fps}:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-map', '0:v', '-map', '1:a',
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

/** Packet counts and payload bytes as libavformat demuxes the file (what a receiver should deliver). */
function probe(file) {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'packet=codec_type,size', '-of', 'csv=p=0', file], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`ffprobe ${file}: ${r.stderr}`);
  const info = { packets: 0, video: 0, audio: 0, payloadBytes: 0 };
  for (const line of r.stdout.split('\n')) {
    const [type, size] = line.split(',');
    if (!size) continue;
    info.packets++;
    info.payloadBytes += Number(size);
    if (type === 'video') info.video++;
    else if (type === 'audio') info.audio++;
  }
  return info;
}

/** The first `seconds` of an input, stream-copied (cached). */
function clipOf(input, seconds) {
  const secs = Math.min(seconds, input.spec.seconds);
  if (secs === input.spec.seconds) return input;
  const clip = input.file.replace(/\.flv$/, `-first${secs}s.flv`);
  const clipInfo = clip.replace(/\.flv$/, '.json');
  if (!existsSync(clip) || !existsSync(clipInfo)) {
    const r = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-i', input.file, '-t', String(secs), '-map', '0', '-c', 'copy', '-f', 'flv', `${clip}.part`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ffmpeg could not cut ${clip}: ${r.stderr}`);
    renameSync(`${clip}.part`, clip);
    writeFileSync(clipInfo, JSON.stringify(probe(clip)));
  }
  return { file: clip, fileBytes: statSync(clip).size, spec: { ...input.spec, seconds: secs }, ...JSON.parse(readFileSync(clipInfo, 'utf8')) };
}

/** Makes (or reuses) the inputs; returns {name: {file, fileBytes, packets, video, audio, payloadBytes, spec}}. */
export function prepareInputs(quick, log = () => {}) {
  const dir = join(CACHE_DIR, 'inputs');
  mkdirSync(dir, { recursive: true });
  const out = {};
  for (const [name, spec] of Object.entries(quick ? QUICK_INPUTS : INPUTS)) {
    const base = `${name}-${spec.size}p${spec.fps}-${spec.kbps}k-${spec.seconds}s`;
    const file = join(dir, `${base}.flv`);
    const infoFile = join(dir, `${base}.json`);
    if (!existsSync(file) || !existsSync(infoFile)) {
      log(`making input ${base}.flv with ffmpeg/libx264 ...`);
      const t0 = Date.now();
      encode(spec, file);
      writeFileSync(infoFile, JSON.stringify(probe(file)));
      log(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    out[name] = { file, fileBytes: statSync(file).size, spec, ...JSON.parse(readFileSync(infoFile, 'utf8')) };
  }
  // The strace runs (tracing slows a receiver that makes 2 syscalls per chunk
  // some 10x) and the realtime CPU runs use the start of the main input.
  out.profile = clipOf(out.main, PROFILE_SECONDS);
  out.realtime = clipOf(out.main, REALTIME_SECONDS);
  return out;
}
