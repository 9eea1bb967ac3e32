// The Debian ffmpeg CLI tools as reference RTMP receivers (libavformat's RTMP
// listener + FLV demuxer, the same code the addon runs in-process).
import { getFreePort, waitForListeningPort } from './net.js';
import { spawnTracked, waitForExit, type ChildHandle } from './process.js';
import { FFPROBE_PACKET_ARGS, parseFfprobePackets, parseFfprobeStreams, toPacketType, type PacketType, type RefPacket, type RefStream } from './reference.js';

export interface ReceiverOptions {
  port?: number;
  app?: string;
  streamKey?: string;
  /** Seconds the listener waits for a publisher before giving up. */
  listenTimeoutSec?: number;
  /** Milliseconds to wait for the receiver to finish after the publish ended. */
  exitTimeoutMs?: number;
  /** The ffprobe / ffmpeg executable (default: the one on PATH). */
  bin?: string;
}

export interface Receiver<P> {
  port: number;
  url: string;
  handle: ChildHandle;
  /** Resolves with what was received once the receiver exits (the publisher disconnected). */
  result(): Promise<P>;
}

async function startListener<P>(
  cmd: string,
  argsFor: (url: string, timeoutSec: number) => string[],
  parse: (stdout: string) => P,
  opts: ReceiverOptions,
): Promise<Receiver<P>> {
  const port = opts.port ?? (await getFreePort());
  const url = `rtmp://127.0.0.1:${port}/${opts.app ?? 'live'}/${opts.streamKey ?? 'key'}`;
  const handle = spawnTracked(opts.bin ?? cmd, argsFor(url, opts.listenTimeoutSec ?? 30), { stdout: 'pipe' });
  await waitForListeningPort(port, { process: handle });
  return {
    port,
    url,
    handle,
    async result() {
      const info = await waitForExit(handle, opts.exitTimeoutMs ?? 30_000);
      // Both tools end a publish with "Input/output error" from the RTMP
      // protocol (the socket closes after deleteStream) yet exit 0.
      if (info.code !== 0) {
        throw new Error(`${handle.command}\n exited with ${info.code ?? info.signal}; stderr:\n${handle.stderr()}`);
      }
      return parse(handle.stdout());
    },
  };
}

/**
 * `ffprobe -listen 1 -show_packets`: every packet av_read_frame() returns, in
 * demux order, with key flags and data hashes. The strictest reference.
 */
export function listenWithFfprobe(opts: ReceiverOptions = {}): Promise<Receiver<RefPacket[]>> {
  return startListener(
    'ffprobe',
    (url, t) => [...FFPROBE_PACKET_ARGS, '-listen', '1', '-timeout', String(t), '-i', url],
    parseFfprobePackets,
    opts,
  );
}

/**
 * listenWithFfprobe with `-show_streams` too: the packets, and the streams
 * with their extradata hashes (the sequence headers that are not packets).
 */
export function listenWithFfprobeStreams(opts: ReceiverOptions = {}): Promise<Receiver<{ packets: RefPacket[]; streams: RefStream[] }>> {
  return startListener(
    'ffprobe',
    (url, t) => [...FFPROBE_PACKET_ARGS, '-show_streams', '-listen', '1', '-timeout', String(t), '-i', url],
    (json) => ({ packets: parseFfprobePackets(json), streams: parseFfprobeStreams(json) }),
    opts,
  );
}

/** A packet from ffmpeg's framehash muxer: no key flag (framehash has none). */
export type FramehashPacket = Omit<RefPacket, 'keyframe'>;

export interface FramehashStream {
  index: number;
  type: PacketType;
  timeBase: string;
  extradataSize: number;
  extradataHash: string | null;
}

export interface FramehashResult {
  streams: FramehashStream[];
  packets: FramehashPacket[];
}

/** Parses `-f framehash -hash sha256` output (version 2). */
export function parseFramehash(text: string): FramehashResult {
  const streams = new Map<number, FramehashStream>();
  const stream = (i: number): FramehashStream => {
    let s = streams.get(i);
    if (!s) {
      s = { index: i, type: 'data', timeBase: '', extradataSize: 0, extradataHash: null };
      streams.set(i, s);
    }
    return s;
  };
  const packets: FramehashPacket[] = [];
  for (const line of text.split('\n')) {
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^#extradata (\d+),\s*(\d+),\s*([0-9a-f]+)/))) {
      const s = stream(Number(m[1]));
      s.extradataSize = Number(m[2]);
      s.extradataHash = `SHA256:${m[3]}`;
    } else if ((m = line.match(/^#tb (\d+): (\S+)/))) {
      stream(Number(m[1])).timeBase = m[2]!;
    } else if ((m = line.match(/^#media_type (\d+): (\S+)/))) {
      stream(Number(m[1])).type = toPacketType(m[2]);
    } else if (line && !line.startsWith('#')) {
      const f = line.split(',').map((x) => x.trim());
      if (f.length < 6) throw new Error(`unexpected framehash line: ${line}`);
      const idx = Number(f[0]);
      packets.push({
        streamIndex: idx,
        type: stream(idx).type, // #media_type lines precede all packet lines
        dts: Number(f[1]),
        pts: Number(f[2]),
        duration: Number(f[3]),
        size: Number(f[4]),
        hash: `SHA256:${f[5]}`,
      });
    }
  }
  return { streams: [...streams.values()].sort((a, b) => a.index - b.index), packets };
}

/**
 * `ffmpeg -listen 1 -i rtmp://… -copyts -c copy -f framehash`. -copyts (and
 * -copytb 1) keep the demuxed timestamps: without it ffmpeg subtracts the
 * input start time. ffmpeg's muxer interleaves by dts, so only the per-stream
 * order is the demux order.
 */
export function listenWithFfmpeg(opts: ReceiverOptions = {}): Promise<Receiver<FramehashResult>> {
  return startListener(
    'ffmpeg',
    (url, t) => ['-hide_banner', '-nostdin', '-loglevel', 'error', '-listen', '1', '-timeout', String(t), '-i', url,
      '-copyts', '-copytb', '1', '-map', '0', '-c', 'copy', '-f', 'framehash', '-hash', 'sha256', '-'],
    parseFramehash,
    opts,
  );
}
