// Clips too large to commit, made at test time with Debian's ffmpeg and
// cached in the system's temporary folder (keyed by the command line), for
// tests that need streams crossing RTMP's acknowledgement window (1 MB to
// 2.5 MB, as the publisher sets it) many times.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface ClipSpec {
  width: number;
  height: number;
  fps: number;
  seconds: number;
  videoKbps: number;
  /** Film grain over the test pattern, so key frames are large (over 1 MB at 2160p). */
  grain?: boolean;
}

/** H.264 (2 B-frames, 2 s GOP) + AAC 128 kb/s 44.1 kHz stereo, as FLV. */
export const CLIPS = {
  'ack-3mb': { width: 1280, height: 720, fps: 30, seconds: 6, videoKbps: 4000 },
  'ack-12mb': { width: 1280, height: 720, fps: 30, seconds: 12, videoKbps: 8000 },
  'hd1080-20mbps': { width: 1920, height: 1080, fps: 30, seconds: 25, videoKbps: 20000 },
  'uhd2160-45mbps': { width: 3840, height: 2160, fps: 30, seconds: 6, videoKbps: 45000, grain: true },
  // Every video frame is about 300 KB: over a second each on a slow link.
  'grain720-1s': { width: 1280, height: 720, fps: 30, seconds: 1, videoKbps: 8000, grain: true },
} as const satisfies Record<string, ClipSpec>;
export type ClipName = keyof typeof CLIPS;

function ffmpegArgs(spec: ClipSpec, out: string): string[] {
  const { width, height, fps, seconds, videoKbps, grain } = spec;
  return [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}:duration=${seconds}${grain ? ',noise=alls=12:allf=t' : ''}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
    '-b:v', `${videoKbps}k`, '-maxrate', `${videoKbps}k`, '-bufsize', `${videoKbps * 2}k`,
    '-x264-params', `keyint=${fps * 2}:min-keyint=${fps * 2}:scenecut=0:bframes=2:b-adapt=0`,
    '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
    '-f', 'flv', out,
  ];
}

const made = new Map<ClipName, Promise<string>>();

/** The clip's path, made on first use. */
export function clipPath(name: ClipName): Promise<string> {
  let path = made.get(name);
  if (!path) {
    path = make(name);
    made.set(name, path);
  }
  return path;
}

async function make(name: ClipName): Promise<string> {
  const dir = join(tmpdir(), 'rtmp-ingest-clips');
  const key = createHash('sha256').update(JSON.stringify(ffmpegArgs(CLIPS[name], ''))).digest('hex').slice(0, 12);
  const out = join(dir, `${name}-${key}.flv`);
  if (existsSync(out)) return out;
  await mkdir(dir, { recursive: true });
  // Written aside and renamed, so a run that was killed leaves no half clip.
  const part = `${out}.${process.pid}.part`;
  try {
    await execFileAsync('ffmpeg', ffmpegArgs(CLIPS[name], part), { timeout: 300_000 });
    await rename(part, out);
  } finally {
    await rm(part, { force: true });
  }
  return out;
}
