#!/usr/bin/env node
// The `rtmp-ingest` command line: listens, shows every live session with its
// bitrate, frame rate, keyframe interval and drops, records and relays, and
// stops cleanly on Ctrl-C (the recordings finished).
//
//   npx rtmp-ingest [--listen rtmp://0.0.0.0:1935] [--key K]... [--record PATTERN] [--segment SEC]
//                   [--relay URL]... [--json] [--log-level LEVEL]
//
// Three outputs: on a terminal, one status line per live session redrawn in
// place once a second, events scrolling above them; on a pipe or file, one
// plain line per event; with --json, one JSON object per line per event
// (and a 'status' one per session each second), nothing else on stdout.
//
// The numbers come from session.stats, sampled every SAMPLE_MS. The CLI is
// no packet consumer: it calls session.resume() so that packets nobody takes
// are not held, and a session with a recorder or a relay then sends no
// packet through JS at all (its stats count them natively).

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RtmpIngest, type RejectedEvent } from './ingest';
import { isLogLevel, LOG_LEVEL_NAMES, type LogLevel } from './log';
import { MAX_STREAM_KEY_BYTES, parseListenUrl, type RtmpIngestOptions } from './options';
import type { IngestSession, SessionEndEvent, SessionStats, StreamInfo } from './session';
import { expandNames, resolveRecordOptions, resolveRelayOptions, type Recorder, type Relay, type SegmentInfo } from './sinks';

// ---- arguments ------------------------------------------------------------

export const DEFAULT_LISTEN = 'rtmp://0.0.0.0:1935';

export const USAGE = `Usage: rtmp-ingest [options]

Receives RTMP publishers (OBS, ffmpeg, cameras) and shows each live session.

Options:
  -l, --listen URL      where to listen (default ${DEFAULT_LISTEN}: any app and key);
                        rtmp://host:port/app takes any key of app; rtmp://host:port/app/key only that one
  -k, --key KEY         accept only this stream key (repeatable: any of them)
  -r, --record PATTERN  record every session, e.g. 'recordings/{app}/{streamKey}/%Y-%m-%d_%H-%M-%S.mp4'
                        ({app}, {streamKey}, strftime fields; .mp4 .mkv .ts .flv pick the format)
      --segment SEC     with --record: start a new file every SEC seconds (at a keyframe)
      --relay URL       push every session on to this RTMP URL (repeatable)
      --json            one JSON object per line per event on stdout, for log collectors
      --log-level LEVEL FFmpeg's log lines up to LEVEL (${LOG_LEVEL_NAMES.join(', ')}; default error)
  -h, --help            this text
  -v, --version         the version

Ctrl-C (SIGINT) or SIGTERM stops: the ingest closes, recordings are finished,
a summary is printed and the exit code is 0; a second Ctrl-C exits at once (130).
`;

export interface CliOptions {
  listen: string;
  keys: string[];
  record: string | undefined;
  segmentSeconds: number | undefined;
  relays: string[];
  json: boolean;
  logLevel: LogLevel;
}

export type ParsedArgs = { kind: 'run'; options: CliOptions } | { kind: 'help' } | { kind: 'version' };

/** A command line that cannot be run: the message says why (exit code 1). */
export class UsageError extends Error {
  override get name(): string {
    return 'UsageError';
  }
}

/** Parses and checks the arguments (without the node and script paths). Throws UsageError. */
export function parseCliArgs(argv: readonly string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        listen: { type: 'string', short: 'l' },
        key: { type: 'string', short: 'k', multiple: true },
        record: { type: 'string', short: 'r' },
        segment: { type: 'string' },
        relay: { type: 'string', multiple: true },
        json: { type: 'boolean' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    // node:util's messages name the option ("Unknown option '--foo'", "Option '--listen <value>' argument missing").
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help === true) return { kind: 'help' };
  if (v.version === true) return { kind: 'version' };

  const listen = v.listen ?? DEFAULT_LISTEN;
  let target;
  try {
    target = parseListenUrl(listen, parseCliArgs);
  } catch (err) {
    throw new UsageError(`--listen: ${(err as Error).message}`);
  }

  const keys = v.key ?? [];
  for (const key of keys) {
    if (key === '') throw new UsageError('--key: a stream key must not be empty');
    if (Buffer.byteLength(key) > MAX_STREAM_KEY_BYTES) throw new UsageError(`--key: a stream key must be at most ${MAX_STREAM_KEY_BYTES} bytes`);
  }
  if (keys.length > 0 && target.streamKey !== undefined) {
    throw new UsageError(`--listen ${listen} names a stream key already; give the keys either in the URL or with --key`);
  }

  const record = v.record;
  if (record !== undefined && record.trim() === '') throw new UsageError('--record: the path pattern must not be empty');
  let segmentSeconds: number | undefined;
  if (v.segment !== undefined) {
    if (record === undefined) throw new UsageError('--segment needs --record');
    segmentSeconds = Number(v.segment);
    if (v.segment.trim() === '' || !Number.isFinite(segmentSeconds) || segmentSeconds <= 0) {
      throw new UsageError(`--segment: expected a number of seconds > 0, got ${JSON.stringify(v.segment)}`);
    }
  }
  if (record !== undefined) {
    // The library's own checks (the format from the extension, ...), now rather than at the first publisher.
    try {
      resolveRecordOptions({ path: record, ...(segmentSeconds !== undefined ? { segmentSeconds } : {}) }, 'record', parseCliArgs);
    } catch (err) {
      throw new UsageError(`--record: ${(err as Error).message}`);
    }
  }

  const relays = v.relay ?? [];
  for (const relay of relays) {
    try {
      resolveRelayOptions(relay, undefined, parseCliArgs);
    } catch {
      throw new UsageError(`--relay: expected rtmp://host[:port]/app/key or rtmps://..., got ${JSON.stringify(relay)}`);
    }
  }

  const level = v['log-level'] ?? 'error';
  if (!isLogLevel(level)) throw new UsageError(`--log-level: expected one of ${LOG_LEVEL_NAMES.join(', ')}, got ${JSON.stringify(level)}`);

  return { kind: 'run', options: { listen, keys, record, segmentSeconds, relays, json: v.json === true, logLevel: level } };
}

/** `authorize` for --key: the stream key must be one of `keys`, compared in constant time (SHA-256 digests). */
export function keyAuthorizer(keys: readonly string[]): (request: { streamKey: string }) => boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  const allowed = keys.map(digest);
  return ({ streamKey }) => {
    const d = digest(streamKey);
    let ok = false;
    for (const a of allowed) ok = timingSafeEqual(a, d) || ok; // every key compared, whatever matched
    return ok;
  };
}

// ---- the numbers -----------------------------------------------------------

interface Sample {
  t: number;
  bytes: number;
  videoPackets: number;
}

/**
 * Bitrate, frame rate and keyframe interval from session.stats sampled over
 * time (t in ms, any monotonic clock). Rates are over the last `windowMs`;
 * the keyframe interval is the time between the samples at which the first
 * video stream's keyframe count went up, averaged over the last few, so it
 * is as precise as the sampling period divided by the keyframes averaged.
 */
export class RateMeter {
  readonly #windowMs: number;
  readonly #samples: Sample[] = [];
  /** Sample times at which the keyframe count rose, and the count then. */
  readonly #keyframes: Array<{ t: number; count: number }> = [];
  static readonly KEYFRAMES_KEPT = 6;

  constructor(windowMs = 2000) {
    this.#windowMs = windowMs;
  }

  sample(t: number, stats: Pick<SessionStats, 'bytes' | 'streams'>): void {
    const video = stats.streams.find((s) => s.type === 'video');
    this.#samples.push({ t, bytes: stats.bytes, videoPackets: video?.packets ?? 0 });
    // Keep one sample at or before the window's start, so a full window is measured.
    while (this.#samples.length > 2 && this.#samples[1]!.t <= t - this.#windowMs) this.#samples.shift();
    if (video !== undefined && video.keyframes > 0) {
      const last = this.#keyframes[this.#keyframes.length - 1];
      if (last === undefined || video.keyframes > last.count) {
        this.#keyframes.push({ t, count: video.keyframes });
        if (this.#keyframes.length > RateMeter.KEYFRAMES_KEPT) this.#keyframes.shift();
      }
    }
  }

  #span(): { dt: number; first: Sample; last: Sample } | undefined {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    // Half a window at least: the packets read while the session was probed arrive at once when it starts.
    if (first === undefined || last === undefined || last.t - first.t < this.#windowMs / 2) return undefined;
    return { dt: (last.t - first.t) / 1000, first, last };
  }

  /** Bits per second; undefined until the samples span half a window. */
  get bitrate(): number | undefined {
    const s = this.#span();
    return s === undefined ? undefined : ((s.last.bytes - s.first.bytes) * 8) / s.dt;
  }

  /** Video packets (frames) per second; undefined until the samples span half a window, or without video. */
  get fps(): number | undefined {
    const s = this.#span();
    if (s === undefined || s.last.videoPackets === 0) return undefined;
    return (s.last.videoPackets - s.first.videoPackets) / s.dt;
  }

  /** Seconds between keyframes; undefined until two keyframes were seen apart. */
  get gopSeconds(): number | undefined {
    const first = this.#keyframes[0];
    const last = this.#keyframes[this.#keyframes.length - 1];
    if (first === undefined || last === undefined || last.count === first.count) return undefined;
    return (last.t - first.t) / 1000 / (last.count - first.count);
  }
}

// ---- formatting ------------------------------------------------------------

export function formatBitrate(bps: number | undefined): string {
  if (bps === undefined) return '- b/s';
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(1)} Gb/s`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mb/s`;
  if (bps >= 1e3) return `${(bps / 1e3).toFixed(0)} kb/s`;
  return `${Math.round(bps)} b/s`;
}

export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} B`;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * A relay target as printed: its stream key (the last path segment, the
 * credential a service such as YouTube gives), query and user info hidden,
 * so that logs do not carry it: rtmp://a.rtmp.youtube.com/live2/*****.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '*****';
  }
  const segments = u.pathname.split('/');
  if (segments.length > 2) segments[segments.length - 1] = '*****';
  const auth = u.username !== '' || u.password !== '' ? '*****@' : '';
  return `${u.protocol}//${auth}${u.host}${segments.join('/')}${u.search !== '' ? '?*****' : ''}`;
}

function formatRemote(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return '-';
  const host = address.includes(':') ? `[${address}]` : address;
  return port === undefined ? host : `${host}:${port}`;
}

function describeStream(s: StreamInfo): string {
  const parts = [s.codec];
  if (s.width !== undefined && s.height !== undefined) parts.push(`${s.width}x${s.height}`);
  if (s.frameRate !== undefined && s.frameRate[1] !== 0) parts.push(`${round1(s.frameRate[0] / s.frameRate[1])} fps`);
  if (s.sampleRate !== undefined) parts.push(`${s.sampleRate} Hz`);
  if (s.channels !== undefined) parts.push(`${s.channels} ch`);
  return parts.join(' ');
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round3(x: number | undefined): number | null {
  return x === undefined ? null : Math.round(x * 1000) / 1000;
}

function errorInfo(e: unknown): { code?: string; message: string } {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' ? { code, message: e.message } : { message: e.message };
  }
  return { message: String(e) };
}

function describeError(e: unknown): string {
  const { code, message } = errorInfo(e);
  return code === undefined ? message : `${code}: ${message}`;
}

// ---- output ----------------------------------------------------------------

/**
 * Text for a terminal or a log file, from what publishers sent (app, stream
 * key) and what FFmpeg logged: control characters become '?', so a stream
 * key cannot move the cursor, clear the screen or retitle the terminal
 * (JSON output escapes them instead).
 */
export function printable(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?'))
    .join('\n');
}

/** Set when stdout's reader went away (EPIPE): nothing more is written to it. */
let stdoutGone = false;

/** Texts never to print, and what to print instead: the relay URLs (FFmpeg's messages name them whole). */
const hidden: Array<[secret: string, shown: string]> = [];

function scrub(text: string): string {
  for (const [secret, shown] of hidden) text = text.split(secret).join(shown);
  return text;
}

function writeOut(text: string): void {
  if (!stdoutGone) process.stdout.write(scrub(text));
}

function writeErr(text: string): void {
  process.stderr.write(scrub(text));
}

interface Output {
  /** An event line (text modes). */
  line(text: string): void;
  /** A diagnostic (stderr). */
  warn(text: string): void;
  /** The live block (TTY only): replaces the previous one. */
  status(lines: string[]): void;
  /** Removes the live block for good (before the summary). */
  finish(): void;
}

const ESC = '\x1b[';

/** A live block of status lines at the bottom of a terminal, redrawn in place; event lines scroll above it. */
class TerminalOutput implements Output {
  readonly #out: NodeJS.WriteStream;
  #block: string[] = [];
  #drawn = 0;
  #finished = false;

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
  }

  line(text: string): void {
    this.#write(this.#erase() + printable(text) + '\n' + this.#render());
  }

  warn(text: string): void {
    this.#write(this.#erase());
    writeErr(printable(text) + '\n');
    this.#write(this.#render());
  }

  status(lines: string[]): void {
    if (this.#finished) return;
    this.#block = lines.map(printable);
    this.#write(this.#erase() + this.#render());
  }

  finish(): void {
    this.#write(this.#erase());
    this.#block = [];
    this.#finished = true;
  }

  #erase(): string {
    if (this.#drawn === 0) return '';
    const n = this.#drawn;
    this.#drawn = 0;
    return `${ESC}${n}A\r${ESC}J`; // up to the block's first line, then clear to the end of the screen
  }

  #render(): string {
    const columns = this.#out.columns > 1 ? this.#out.columns : 80;
    const rows = this.#out.rows > 2 ? this.#out.rows : 24;
    let lines = this.#block;
    if (lines.length > rows - 1) lines = [...lines.slice(0, rows - 2), `... and ${lines.length - (rows - 2)} more`];
    // A line as wide as the terminal would wrap (or leave the cursor in the last column): cut it one short.
    this.#drawn = lines.length;
    return lines.map((l) => (l.length >= columns ? l.slice(0, columns - 1) : l) + '\n').join('');
  }

  #write(s: string): void {
    if (s !== '') writeOut(s);
  }
}

/** Plain lines with a timestamp, for a pipe or a file. */
class PlainOutput implements Output {
  line(text: string): void {
    writeOut(`${new Date().toISOString()} ${printable(text)}\n`);
  }
  warn(text: string): void {
    writeErr(`${new Date().toISOString()} ${printable(text)}\n`);
  }
  status(): void {}
  finish(): void {}
}

function jsonLine(stream: 'stdout' | 'stderr', event: string, fields: Record<string, unknown>): void {
  const line = JSON.stringify({ event, time: new Date().toISOString(), ...fields }) + '\n';
  if (stream === 'stdout') writeOut(line);
  else writeErr(line);
}

// ---- the running command ---------------------------------------------------

/** How often session.stats is sampled, and the status redrawn. */
const SAMPLE_MS = 250;
const STATUS_MS = 1000;

interface Tracked {
  session: IngestSession;
  label: string;
  remote: string;
  meter: RateMeter;
  recorder: Recorder | undefined;
  /** --record's pattern with this session's names in (the strftime fields are filled when a file opens). */
  pattern: string;
  relays: Relay[];
}

function dropped(t: Tracked): number {
  let n = t.recorder?.stats.droppedPackets ?? 0;
  for (const r of t.relays) n += r.stats.droppedPackets;
  return n;
}

/** Filled in by run() once it listens: stop() begins the clean shutdown. */
export interface RunControl {
  stop?: (why: NodeJS.Signals) => void;
  /** Set by stop(): a stop is under way. */
  stopping?: boolean;
}

/** Runs the command; resolves with the exit code (it does not call process.exit). */
export async function run(options: CliOptions, control: RunControl = {}): Promise<number> {
  const json = options.json;
  const tty = !json && process.stdout.isTTY === true;
  const out: Output = tty ? new TerminalOutput(process.stdout) : new PlainOutput();
  const emit = (event: string, fields: Record<string, unknown>, text: string | undefined): void => {
    if (json) jsonLine('stdout', event, fields);
    else if (text !== undefined) out.line(text);
  };
  const fatal = (message: string, error?: unknown): void => {
    if (json) jsonLine('stderr', 'error', { message, ...(error === undefined ? {} : { error: errorInfo(error) }) });
    else if (tty) out.warn(`rtmp-ingest: ${message}`);
    else writeErr(`rtmp-ingest: ${printable(message)}\n`);
  };

  for (const url of options.relays) {
    hidden.push([url, redactUrl(url)]);
    const u = new URL(url);
    if (u.href !== url) hidden.push([u.href, redactUrl(url)]); // as normalized by the library
  }
  hidden.sort((a, b) => b[0].length - a[0].length); // the longest first: one URL may start another

  const ingestOptions: RtmpIngestOptions = { url: options.listen, logLevel: options.logLevel };
  if (options.keys.length > 0) ingestOptions.authorize = keyAuthorizer(options.keys);
  // Every session's sinks, attached by the ingest before the publisher is let in: from its first packet.
  if (options.record !== undefined) {
    ingestOptions.record = { path: options.record, ...(options.segmentSeconds !== undefined ? { segmentSeconds: options.segmentSeconds } : {}) };
  }
  if (options.relays.length > 0) ingestOptions.relay = options.relays;
  let ingest: RtmpIngest;
  try {
    ingest = new RtmpIngest(ingestOptions);
  } catch (err) {
    fatal(describeError(err), err);
    return 1;
  }

  const tracked = new Map<string, Tracked>();
  const startedAt = Date.now();
  const totals = { sessions: 0, bytes: 0, packets: 0, rejected: 0 };
  const finishedAtClose: Array<{ label: string; segment: SegmentInfo }> = [];

  ingest.on('log', (l) => {
    if (json) jsonLine('stdout', 'log', { level: l.level, message: l.message });
    else out.warn(`[ffmpeg ${l.level}] ${l.message}`);
  });
  ingest.on('error', (err) => {
    fatal(`the listener failed: ${describeError(err)}`, err);
    stop('error');
  });
  ingest.on('rejected', (r: RejectedEvent) => {
    totals.rejected++;
    const who = formatRemote(r.remoteAddress, r.remotePort);
    const what = r.app !== undefined ? ` ${r.app}/${r.streamKey ?? ''}` : '';
    const fields: Record<string, unknown> = { reason: r.reason, app: r.app, streamKey: r.streamKey, remoteAddress: r.remoteAddress, remotePort: r.remotePort };
    if (r.error !== undefined) fields.error = errorInfo(r.error);
    emit('rejected', fields, `rejected ${who}${what}: ${r.reason}${r.error !== undefined ? ` (${describeError(r.error)})` : ''}`);
  });
  ingest.on('session', (session) => onSession(session));

  const idFields = (t: Tracked): Record<string, unknown> => ({ id: t.session.id, app: t.session.app, streamKey: t.session.streamKey });

  function onSession(session: IngestSession): void {
    totals.sessions++;
    const t: Tracked = {
      session,
      label: `${session.app}/${session.streamKey}`,
      remote: formatRemote(session.remoteAddress, session.remotePort),
      meter: new RateMeter(),
      recorder: undefined,
      pattern: options.record === undefined ? '' : expandNames(options.record, { app: session.app, streamKey: session.streamKey, sessionId: session.id }),
      relays: [],
    };
    tracked.set(session.id, t);
    session.resume(); // the CLI takes no packets; let them go instead of holding them
    t.meter.sample(performance.now(), session.stats);
    emit(
      'session',
      {
        ...idFields(t),
        remoteAddress: session.remoteAddress,
        remotePort: session.remotePort,
        streams: session.streams.map((s) => {
          const { extradata: _extradata, timeBase: _timeBase, ...rest } = s;
          return rest;
        }),
      },
      `session ${t.label} from ${t.remote}: ${session.streams.map(describeStream).join(', ') || 'no streams yet'}`,
    );
    session.on('stream', (s) => emit('stream', { ...idFields(t), index: s.index, type: s.type, codec: s.codec }, `${t.label}: new stream ${s.index} ${describeStream(s)}`));
    session.on('end', (e) => onEnd(t, e));
    attachSinks(t);
  }

  function attachSinks(t: Tracked): void {
    const rec = t.session.recorders[0];
    if (rec !== undefined) {
      t.recorder = rec;
      rec.on('segment', (seg: SegmentInfo) => {
        if (stopping) finishedAtClose.push({ label: t.label, segment: seg });
        emit('segment', { ...idFields(t), path: seg.path, durationMs: seg.durationMs, bytes: seg.bytes }, `${t.label}: recorded ${seg.path} (${(seg.durationMs / 1000).toFixed(1)} s, ${formatBytes(seg.bytes)})`);
      });
      rec.on('error', (e: unknown) => emit('record-error', { ...idFields(t), error: errorInfo(e) }, `${t.label}: recording failed: ${describeError(e)}`));
      rec.on('dropped', (d: { packets: number }) => emit('record-dropped', { ...idFields(t), packets: d.packets }, `${t.label}: recording dropped ${d.packets} packets (the disk is too slow)`));
    }
    for (const relay of t.session.relays) {
      const url = redactUrl(relay.url);
      t.relays.push(relay);
      relay.on('connected', () => emit('relay-connected', { ...idFields(t), url }, `${t.label}: relaying to ${url}`));
      relay.on('disconnected', (e?: unknown) =>
        emit('relay-disconnected', { ...idFields(t), url, ...(e instanceof Error ? { error: errorInfo(e) } : {}) }, `${t.label}: relay to ${url} disconnected${e instanceof Error ? ` (${describeError(e)})` : ''}`),
      );
      relay.on('error', (e: unknown) => emit('relay-error', { ...idFields(t), url, error: errorInfo(e) }, `${t.label}: relay to ${url} failed: ${describeError(e)}`));
      relay.on('dropped', (d: { packets: number }) => emit('relay-dropped', { ...idFields(t), url, packets: d.packets }, `${t.label}: relay to ${url} dropped ${d.packets} packets`));
    }
  }

  function onEnd(t: Tracked, e: SessionEndEvent): void {
    const stats = t.session.stats;
    tracked.delete(t.session.id);
    totals.bytes += stats.bytes;
    totals.packets += stats.packets;
    const durationMs = (stats.endedAt ?? Date.now()) - stats.startedAt;
    const fields: Record<string, unknown> = { ...idFields(t), reason: e.reason, durationMs, packets: stats.packets, bytes: stats.bytes, dropped: dropped(t) };
    if (e.error !== undefined) fields.error = errorInfo(e.error);
    emit(
      'end',
      fields,
      `end ${t.label} (${e.reason}${e.error !== undefined ? `: ${describeError(e.error)}` : ''}) after ${formatDuration(durationMs)}, ${formatBytes(stats.bytes)}, ${stats.packets} packets`,
    );
    redraw();
  }

  function statusLine(t: Tracked): string {
    const m = t.meter;
    const fps = m.fps;
    const gop = m.gopSeconds;
    const parts = [
      t.label,
      t.remote,
      formatDuration(Date.now() - t.session.stats.startedAt),
      formatBitrate(m.bitrate).padStart(10),
      fps === undefined ? '   - fps' : `${fps.toFixed(1).padStart(4)} fps`,
      gop === undefined ? 'GOP - s' : `GOP ${gop.toFixed(1)} s`,
      `dropped ${dropped(t)}`,
    ];
    if (t.recorder !== undefined) {
      const r = t.recorder.stats;
      parts.push(`rec: ${t.recorder.lastSegment?.path ?? t.pattern} (${r.segments} file${r.segments === 1 ? '' : 's'} done, ${formatBytes(r.bytes)})`);
    }
    if (t.relays.length > 0) parts.push(`relay: ${t.relays.filter((r) => r.connected).length}/${t.relays.length} up`);
    return parts.join('  ');
  }

  let listenLine = '';
  function redraw(): void {
    if (!tty) return;
    const lines = [...tracked.values()].map(statusLine);
    if (lines.length === 0) lines.push(`waiting for publishers on ${listenLine}  (Ctrl-C to stop)`);
    out.status(lines);
  }

  function tick(): void {
    const now = performance.now();
    for (const t of tracked.values()) t.meter.sample(now, t.session.stats);
  }

  function report(): void {
    if (json) {
      for (const t of tracked.values()) {
        const stats = t.session.stats;
        const fields: Record<string, unknown> = {
          ...idFields(t),
          bitrate: t.meter.bitrate === undefined ? null : Math.round(t.meter.bitrate),
          fps: round3(t.meter.fps),
          keyframeInterval: round3(t.meter.gopSeconds),
          packets: stats.packets,
          bytes: stats.bytes,
          keyframes: stats.keyframes,
          dropped: dropped(t),
          uptimeMs: Date.now() - stats.startedAt,
        };
        if (t.recorder !== undefined) fields.recording = { ...t.recorder.stats };
        if (t.relays.length > 0) fields.relays = t.relays.map((r) => ({ url: redactUrl(r.url), connected: r.connected, ...r.stats }));
        jsonLine('stdout', 'status', fields);
      }
    } else {
      redraw();
    }
  }

  // ---- stopping ----
  let stopping = false;
  let resolveStopped!: (code: number) => void;
  const stopped = new Promise<number>((resolve) => (resolveStopped = resolve));
  let exitCode = 0;

  function stop(why: NodeJS.Signals | 'error'): void {
    if (why === 'error') exitCode = 1;
    if (stopping) return;
    stopping = true;
    control.stopping = true;
    const live = tracked.size;
    const recording = [...tracked.values()].filter((t) => t.recorder !== undefined).length;
    emit(
      'stopping',
      { reason: why, sessions: live },
      `stopping${why !== 'error' ? ` (${why})` : ''}: closing ${live} session${live === 1 ? '' : 's'}${recording > 0 ? ', finishing the recordings' : ''}; ${why === 'SIGINT' ? 'Ctrl-C' : 'a second signal'} again to quit at once`,
    );
    void (async () => {
      // close() lets the recorders finish their files (their last 'segment' events come first), then ends the sessions.
      await ingest.close();
      clearInterval(sampler);
      clearInterval(reporter);
      out.finish();
      const uptimeMs = Date.now() - startedAt;
      emit(
        'summary',
        { uptimeMs, sessions: totals.sessions, rejected: totals.rejected, packets: totals.packets, bytes: totals.bytes, finished: finishedAtClose.map((f) => ({ label: f.label, ...f.segment })) },
        `stopped after ${formatDuration(uptimeMs)}: ${totals.sessions} session${totals.sessions === 1 ? '' : 's'}, ${formatBytes(totals.bytes)} received, ${totals.rejected} rejected` +
          finishedAtClose.map((f) => `\n  ${f.label}: finished ${f.segment.path} (${(f.segment.durationMs / 1000).toFixed(1)} s, ${formatBytes(f.segment.bytes)})`).join(''),
      );
      resolveStopped(exitCode);
    })().catch((err: unknown) => {
      fatal(`stopping failed: ${describeError(err)}`, err);
      resolveStopped(1);
    });
  }

  let address;
  try {
    address = await ingest.listen();
  } catch (err) {
    const { code } = errorInfo(err);
    let message = describeError(err);
    if (code === 'EADDRINUSE') message = `cannot listen on ${options.listen}: the port is in use (EADDRINUSE)`;
    else if (code === 'EACCES') message = `cannot listen on ${options.listen}: permission denied (EACCES; ports below 1024 need root or CAP_NET_BIND_SERVICE)`;
    else if (code === 'EADDRNOTAVAIL') message = `cannot listen on ${options.listen}: no such local address (EADDRNOTAVAIL)`;
    else if (code !== 'ERR_INVALID_URL') message = `cannot listen on ${options.listen}: ${message}`;
    fatal(message, err);
    await ingest.close();
    return 1;
  }

  const sampler = setInterval(tick, SAMPLE_MS);
  const reporter = setInterval(report, STATUS_MS);
  const target = parseListenUrl(options.listen, run);
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  listenLine = `rtmp://${host}:${address.port}${target.app !== undefined ? `/${target.app}` : ''}${target.streamKey !== undefined ? `/${target.streamKey}` : ''}`;
  const accepts = options.keys.length > 0 ? `keys: ${options.keys.length}` : target.streamKey !== undefined ? 'one key' : 'any key';
  emit(
    'listening',
    {
      url: options.listen,
      host: address.host,
      port: address.port,
      app: target.app ?? null,
      keys: options.keys.length > 0 ? options.keys.length : null,
      record: options.record ?? null,
      segmentSeconds: options.segmentSeconds ?? null,
      relays: options.relays.map(redactUrl),
    },
    `listening on ${listenLine} (${target.app === undefined ? 'any app' : `app ${target.app}`}, ${accepts})` +
      (options.record !== undefined ? `; recording to ${options.record}${options.segmentSeconds !== undefined ? ` in ${options.segmentSeconds} s segments` : ''}` : '') +
      (options.relays.length > 0 ? `; relaying to ${options.relays.map(redactUrl).join(', ')}` : ''),
  );
  redraw();
  control.stop = stop;
  return stopped;
}

function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * SIGINT/SIGTERM: the first one stops cleanly (control.stop, once run() listens;
 * before that there is nothing to finish: exit at once); a second one exits at
 * once with 128 + its number (130 for Ctrl-C).
 */
export function signalHandler(control: RunControl, exit: (code: number) => void): (signal: NodeJS.Signals) => void {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };
  let stopping = false;
  return (signal) => {
    const code = 128 + (numbers[signal] ?? 0);
    if (stopping || control.stopping === true || control.stop === undefined) {
      exit(code);
      return;
    }
    stopping = true;
    control.stop(signal);
  };
}

/** The command: parses argv, runs, exits. SIGINT/SIGTERM stop cleanly; a second one exits at once (128 + signal number). */
export async function main(argv: readonly string[]): Promise<void> {
  let parsed: ParsedArgs;
  try {
    parsed = parseCliArgs(argv);
  } catch (err) {
    const json = argv.includes('--json');
    if (json) jsonLine('stderr', 'error', { message: (err as Error).message, usage: true });
    else process.stderr.write(`rtmp-ingest: ${(err as Error).message}\nTry 'rtmp-ingest --help'.\n`);
    process.exit(1);
  }
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`${readVersion()}\n`);
    return;
  }
  const control: RunControl = {};
  const onSignal = signalHandler(control, (code) => process.exit(code));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, onSignal);
  // A reader that went away (`rtmp-ingest --json | head`): write nothing more, stop cleanly (the files finished).
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (stdoutGone) return;
    stdoutGone = true;
    if (control.stop !== undefined) control.stop('SIGPIPE');
    else process.exit(0);
  });
  const code = await run(parsed.options, control);
  process.exit(code);
}

// Run when executed (bin), not when imported (tests import the parts; ESM has no `require`).
if (typeof require !== 'undefined' && require.main === module) void main(process.argv.slice(2));
