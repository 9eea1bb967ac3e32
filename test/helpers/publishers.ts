// Real RTMP publishers (ffmpeg, GStreamer rtmp2sink and rtmpsink) as child processes, plus
// misbehaving clients for timeout tests. See README.md in this folder for what
// a libavformat listener receives from each of them.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flvPrefix } from './flv.js';
import { spawnTracked, waitForExit, assertExitedCleanly, type ChildHandle, type ExitInfo } from './process.js';
import { probePackets, type RefPacket } from './reference.js';

export interface Publisher {
  child: ChildHandle['child'];
  exited: Promise<ExitInfo>;
  kill(): Promise<ExitInfo>;
  stderr(): string;
  command: string;
}

export function toPublisher(h: ChildHandle): Publisher {
  return { child: h.child, exited: h.exited, kill: () => h.kill(), stderr: () => h.stderr(), command: h.command };
}

const toolCache = new Map<string, boolean>();

/** Returns false (skip), but throws when CI is set. */
export function missing(what: string): false {
  // CI must have every tool: a missing one is a broken CI image, not a reason to skip.
  if (process.env.CI) throw new Error(`${what} is required when CI is set`);
  return false;
}

/** Whether a CLI exists on PATH. Use as `describe.skipIf(!requireTool('ffmpeg'))`; throws under CI. */
export function requireTool(name: string): boolean {
  let found = toolCache.get(name);
  if (found === undefined) {
    found = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' }).status === 0;
    toolCache.set(name, found);
  }
  return found || missing(`the tool '${name}'`);
}

/** Whether gst-launch-1.0 and the given GStreamer elements exist; throws under CI. */
export function requireGstElements(...elements: string[]): boolean {
  if (!requireTool('gst-launch-1.0') || !requireTool('gst-inspect-1.0')) return false;
  for (const el of elements) {
    const key = `gst:${el}`;
    let found = toolCache.get(key);
    if (found === undefined) {
      found = spawnSync('gst-inspect-1.0', ['--exists', el], { stdio: 'ignore' }).status === 0;
      toolCache.set(key, found);
    }
    if (!found) return missing(`the GStreamer element '${el}'`);
  }
  return true;
}

/** Elements the GStreamer publisher needs (Debian: gstreamer1.0-plugins-good for flv*, -bad for rtmp2sink). */
export const GST_PUBLISH_ELEMENTS = ['filesrc', 'flvdemux', 'flvmux', 'queue', 'rtmp2sink', 'filesink'];

export interface FfmpegPublishOptions {
  /** -re: send at the native frame rate instead of as fast as possible. */
  realtime?: boolean;
  /** -stream_loop -1: publish the file over and over until killed (a long-running live stream). */
  loop?: boolean;
}

/** `ffmpeg [-re] -i file -c copy -f flv url`: what most encoders' RTMP output looks like to a server. */
export function publishWithFfmpeg(file: string, url: string, opts: FfmpegPublishOptions = {}): Publisher {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'warning'];
  if (opts.realtime) args.push('-re');
  if (opts.loop) args.push('-stream_loop', '-1');
  args.push('-i', file, '-map', '0', '-c', 'copy', '-f', 'flv', url);
  return toPublisher(spawnTracked('ffmpeg', args));
}

export interface GstPublishOptions {
  /** rtmp2sink chunk-size (outgoing RTMP chunk size). GStreamer's default is 128; OBS uses 4096. */
  chunkSize?: number;
  /** sync=true on rtmp2sink: pace by the clock (5 s for a 5 s fixture). Default: as fast as possible. */
  realtime?: boolean;
}

/**
 * gst-launch-1.0 argv for fixture -> flvdemux -> flvmux -> sink. Remuxing
 * without parsers keeps the payloads byte-identical; flvmux may still rewrite
 * timestamps (see README.md), which is why gstreamerReference() exists.
 */
export function gstPipeline(file: string, sink: readonly string[]): string[] {
  return [
    '-q',
    'filesrc', `location=${file}`, '!', 'flvdemux', 'name=d',
    'd.video', '!', 'queue', '!', 'm.video',
    'd.audio', '!', 'queue', '!', 'm.audio',
    'flvmux', 'name=m', 'streamable=true', '!', ...sink,
  ];
}

/** GStreamer rtmp2sink publish of an FLV fixture (GStreamer's own RTMP client, as in many hardware/OBS-like senders). */
export function publishWithGstreamer(file: string, url: string, opts: GstPublishOptions = {}): Publisher {
  const sink = ['rtmp2sink', `location=${url}`, `chunk-size=${opts.chunkSize ?? 128}`, `sync=${opts.realtime ? 'true' : 'false'}`];
  return toPublisher(spawnTracked('gst-launch-1.0', gstPipeline(file, sink)));
}

/** rtmpsink (gstreamer1.0-plugins-bad) publishes through librtmp, the library OBS's RTMP output descends from. */
export const GST_RTMPSINK_ELEMENTS = ['filesrc', 'flvdemux', 'flvmux', 'queue', 'rtmpsink', 'filesink'];

/**
 * GStreamer rtmpsink publish: librtmp sends 128-byte chunks and never reads
 * the socket while it publishes, so whatever the receiver sends it stays
 * unread until it closes (see the README's limits).
 */
export function publishWithRtmpsink(file: string, url: string, opts: { realtime?: boolean } = {}): Publisher {
  const sink = ['rtmpsink', `location=${url}`, `sync=${opts.realtime ? 'true' : 'false'}`];
  return toPublisher(spawnTracked('gst-launch-1.0', gstPipeline(file, sink)));
}

/**
 * The packets a GStreamer publish of `file` carries: the same pipeline written
 * to a file with filesink, probed with ffprobe. flvmux rebases timestamps when
 * the fixture does not start at 0, so the fixture itself is not the reference.
 */
export async function gstreamerReference(file: string): Promise<RefPacket[]> {
  const dir = await mkdtemp(join(tmpdir(), 'rtmp-ingest-gst-'));
  try {
    const out = join(dir, 'gst.flv');
    const h = spawnTracked('gst-launch-1.0', gstPipeline(file, ['filesink', `location=${out}`]));
    assertExitedCleanly(h, await waitForExit(h, 30_000));
    return await probePackets(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface StallingPublisher extends Publisher {
  /** Resolves once everything before stallAtMs was handed to ffmpeg (it reaches the socket moments later). */
  stalled: Promise<void>;
  /** Sends the rest of the file and ends the publish normally. */
  resume(): void;
}

export interface StallOptions {
  /**
   * Media timestamp (ms) at which sending stops; tags from here on are held
   * back. At least MIN_STALL_MS: ffmpeg only connects after probing 200 ms of
   * input. The receiver gets everything before the cut except the last one or
   * two packets, which ffmpeg's interleaving queue holds until it resumes.
   */
  stallAtMs: number;
}

export const MIN_STALL_MS = 250;

/**
 * A publisher that sends the fixture up to stallAtMs and then sends nothing
 * more while keeping the RTMP connection open (for idle-timeout tests).
 * ffmpeg reads the FLV from its stdin; we write whole tags up to the cut and
 * keep the pipe open, so ffmpeg blocks on read with its socket established.
 * Checked with `ss -ti`: bytes_sent stays constant while stalled.
 */
export function publishStalling(file: string, url: string, opts: StallOptions): StallingPublisher {
  if (opts.stallAtMs < MIN_STALL_MS) throw new Error(`stallAtMs must be >= ${MIN_STALL_MS} (ffmpeg probes 200 ms before connecting)`);
  const whole = readFileSync(file);
  const head = flvPrefix(whole, opts.stallAtMs);
  // Short probe: by default ffmpeg analyses up to 90 s of FLV input before it
  // opens the output, so a short head would never be sent. 200 ms is enough
  // for the AAC parameters; much less (or -probesize 32) fails to init audio.
  const args = ['-hide_banner', '-loglevel', 'warning', '-analyzeduration', '200000',
    '-f', 'flv', '-i', 'pipe:0', '-map', '0', '-c', 'copy', '-f', 'flv', url];
  const h = spawnTracked('ffmpeg', args, { stdin: 'pipe' });
  const stdin = h.child.stdin;
  if (!stdin) throw new Error('ffmpeg stdin is not a pipe');
  stdin.on('error', () => {}); // EPIPE when ffmpeg is killed while we write
  const stalled = new Promise<void>((resolve) => stdin.write(head, () => resolve()));
  let resumed = false;
  return {
    ...toPublisher(h),
    stalled,
    resume() {
      if (resumed) return;
      resumed = true;
      stdin.end(whole.subarray(head.length));
    },
  };
}

/**
 * SIGSTOPs a publisher (e.g. a realtime GStreamer publish): the kernel keeps
 * its TCP connection open, nothing more is sent. Returns a function that
 * SIGCONTs it. kill() works on a stopped publisher (it sends SIGCONT first).
 */
export function freeze(pub: Publisher): () => void {
  pub.child.kill('SIGSTOP');
  return () => {
    pub.child.kill('SIGCONT');
  };
}

export interface RawTcpClient {
  socket: Socket;
  /** Resolves when the server closes (or resets) the connection. */
  closed: Promise<{ hadError: boolean; afterMs: number; bytesReceived: number }>;
  destroy(): void;
}

const sockets = new Set<Socket>();

/** Connects to 127.0.0.1:port and sends nothing, not even the RTMP C0/C1 (for handshake-timeout tests). */
export function rawTcpClient(port: number): Promise<RawTcpClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    sockets.add(socket);
    let bytesReceived = 0;
    let connectedAt = 0;
    socket.on('data', (d: Buffer) => {
      bytesReceived += d.length;
    });
    const closed = new Promise<{ hadError: boolean; afterMs: number; bytesReceived: number }>((res) => {
      socket.once('close', (hadError) => {
        sockets.delete(socket);
        res({ hadError, afterMs: connectedAt ? Date.now() - connectedAt : 0, bytesReceived });
      });
    });
    socket.on('error', () => {}); // ECONNRESET shows up as close(hadError = true)
    socket.once('connect', () => {
      connectedAt = Date.now();
      resolve({ socket, closed, destroy: () => socket.destroy() });
    });
    socket.once('error', (err) => {
      if (!connectedAt) reject(err);
    });
  });
}

/** Destroys every rawTcpClient socket still open. Use in afterEach. */
export function destroyRawClients(): void {
  for (const s of sockets) s.destroy();
}
