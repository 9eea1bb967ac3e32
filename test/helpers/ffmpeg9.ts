// The ffmpeg 9.0.2 CLI that scripts/build-ffmpeg.sh builds into
// deps/ffmpeg-cli (`npm run build:ffmpeg-cli`; `npm test` runs it first):
// upstream's code without the project's patches, remux only. Its flv muxer
// writes Enhanced RTMP (HEVC, AV1, VP9, Opus, multitrack), which Debian's
// ffmpeg 5.1 cannot, so it is both the publisher of those streams and,
// writing the same remux to a file, their reference.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, waitForExit, assertExitedCleanly } from './process.js';
import { missing, toPublisher, type Publisher } from './publishers.js';
import { listenWithFfprobeStreams, type Receiver, type ReceiverOptions } from './receivers.js';
import { probePackets, probeStreams, type RefPacket, type RefStream } from './reference.js';

const BIN = fileURLToPath(new URL('../../deps/ffmpeg-cli/bin/', import.meta.url));
export const FFMPEG9 = join(BIN, 'ffmpeg');
export const FFPROBE9 = join(BIN, 'ffprobe');

/** A fixture by its file name, e.g. 'hevc-aac.mp4'. */
export const mediaFixture = (file: string): string => fileURLToPath(new URL(`../fixtures/${file}`, import.meta.url));

/** Whether the ffmpeg 9 CLI is built. Use as `describe.skipIf(!requireFfmpeg9())`; throws under CI. */
export function requireFfmpeg9(): boolean {
  return (existsSync(FFMPEG9) && existsSync(FFPROBE9)) || missing(`the ffmpeg 9 CLI in ${BIN} (npm run build:ffmpeg-cli)`);
}

export interface Ffmpeg9PublishOptions {
  /** -re: send at the native frame rate instead of as fast as possible. */
  realtime?: boolean;
  /** -map arguments; default every stream of the input ('0'). */
  map?: readonly string[];
}

function args(file: string, out: string, opts: Ffmpeg9PublishOptions): string[] {
  const a = ['-hide_banner', '-nostdin', '-loglevel', 'warning'];
  if (opts.realtime) a.push('-re');
  a.push('-i', file);
  for (const m of opts.map ?? ['0']) a.push('-map', m);
  // Several streams of a kind: the flv muxer writes them as Enhanced RTMP tracks.
  a.push('-c', 'copy', '-f', 'flv', out);
  return a;
}

/** `ffmpeg9 [-re] -i file -map … -c copy -f flv url`. */
export function publishWithFfmpeg9(file: string, url: string, opts: Ffmpeg9PublishOptions = {}): Publisher {
  return toPublisher(spawnTracked(FFMPEG9, args(file, url, opts)));
}

export interface Ffmpeg9Reference {
  /** Every packet of the remux, as the ffmpeg 9 ffprobe demuxes it. */
  packets: RefPacket[];
  /** Its streams, with extradata hashes (the sequence headers). */
  streams: RefStream[];
}

/**
 * What publishWithFfmpeg9 sends: the same remux written to an FLV file,
 * probed by the ffmpeg 9 ffprobe (the flv demuxer of the same release the
 * addon links, without its patches).
 */
export async function ffmpeg9Reference(file: string, opts: Omit<Ffmpeg9PublishOptions, 'realtime'> = {}): Promise<Ffmpeg9Reference> {
  const dir = await mkdtemp(join(tmpdir(), 'rtmp-ingest-ffmpeg9-'));
  try {
    const out = join(dir, 'remux.flv');
    const h = spawnTracked(FFMPEG9, args(file, out, opts));
    assertExitedCleanly(h, await waitForExit(h, 30_000));
    return { packets: await probePackets(out, FFPROBE9), streams: await probeStreams(out, FFPROBE9) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The ffmpeg 9 ffprobe as an RTMP listener: `ffprobe -listen 1 -show_packets -show_streams`. */
export function listenWithFfprobe9(opts: ReceiverOptions = {}): Promise<Receiver<Ffmpeg9Reference>> {
  return listenWithFfprobeStreams({ ...opts, bin: FFPROBE9 });
}
