// Recorders and relays: the JS handles of the addon's sinks (native/sink.h).
// A sink muxes on a thread of its own from the packets the addon already
// holds; these objects only name it, shape its events and read its counters.

import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { fromNative, IngestError, invalidArgType, invalidArgValue } from './errors';
import type { NativeSinkEvent, NativeSinkStats } from './native';

export type RecordFormat = 'mp4' | 'mkv' | 'mpegts' | 'flv';

export interface RecordOptions {
  /**
   * Where to write: strftime fields (%Y %m %d %H %M %S ..., local time) plus {app} {streamKey} {sessionId},
   * expanded when each file opens. Folders are created. An existing file is never overwritten: '-1', '-2', ...
   * go before the extension.
   */
  path: string;
  /** Default: from the extension (.mp4 .m4v .mov → mp4, .mkv → mkv, .ts .m2ts → mpegts, .flv → flv). mp4 is fragmented. */
  format?: RecordFormat;
  /** Cut at the first keyframe at or after this many seconds: every segment starts with a keyframe. Default: one file. */
  segmentSeconds?: number;
  /** How long a packet may wait for a slow disk before the oldest whole GOPs are dropped (counted). Default 30000. */
  maxBufferMs?: number;
}

export interface RelayOptions {
  /** How long a packet may wait for a slow or unreachable target before the oldest whole GOPs are dropped (counted). Default 5000. */
  maxBufferMs?: number;
  /** rtmps:// only. The server's certificate is verified (chain and host name) unless `verify` is false. */
  tls?: {
    /** PEM file of the CAs to trust. Default: $SSL_CERT_FILE, else the system's bundle, else Node's Mozilla roots. */
    ca?: string;
    /** Default true. */
    verify?: boolean;
  };
}

export interface SegmentInfo {
  path: string;
  /** From the first packet's DTS to the end of the last packet. */
  durationMs: number;
  bytes: number;
}

export interface RecorderStats {
  /** Written to the files. */
  packets: number;
  bytes: number;
  /** Files finished. */
  segments: number;
  /** Not written: dropped while the disk was too slow, of a stream the container cannot hold, or after an error. */
  droppedPackets: number;
  /** Packets whose DTS (not increasing) or PTS (before the DTS) the muxer would have refused, written moved to the nearest value it accepts. */
  timestampFixups: number;
}

export interface RelayStats {
  sentPackets: number;
  /** Dropped while the target was down or slow (whole GOPs), or lost with a connection. */
  droppedPackets: number;
  /** Connections made after the first. */
  reconnects: number;
  timestampFixups: number;
}

export const SINK_DEFAULTS = Object.freeze({ recordMaxBufferMs: 30_000, relayMaxBufferMs: 5_000 });

/** What the addon is told for a recorder (lib/native.ts NativeServer.record). */
export interface ResolvedRecordOptions {
  path: string;
  format: RecordFormat;
  segmentMs: number;
  maxBufferMs: number;
}

const FORMAT_OF_EXTENSION: Record<string, RecordFormat> = {
  mp4: 'mp4',
  m4v: 'mp4',
  mov: 'mp4',
  mkv: 'mkv',
  ts: 'mpegts',
  m2ts: 'mpegts',
  flv: 'flv',
};
const FORMATS: readonly RecordFormat[] = ['mp4', 'mkv', 'mpegts', 'flv'];

export function resolveRecordOptions(options: unknown, name: string, stackFrom: Function): ResolvedRecordOptions {
  if (typeof options !== 'object' || options === null) throw invalidArgType(name, 'an object', options, stackFrom);
  const o = options as Record<string, unknown>;
  if (typeof o.path !== 'string' || o.path === '') throw invalidArgType(`${name}.path`, 'a non-empty string', o.path, stackFrom);
  let format: RecordFormat;
  if (o.format === undefined) {
    const ext = /\.([A-Za-z0-9]+)$/.exec(o.path)?.[1]?.toLowerCase();
    const found = ext === undefined ? undefined : FORMAT_OF_EXTENSION[ext];
    if (found === undefined) {
      throw invalidArgValue(`${name}.format`, `needed: the extension of ${JSON.stringify(o.path)} names no format (${FORMATS.join(', ')})`, o.format, stackFrom);
    }
    format = found;
  } else if (typeof o.format === 'string' && (FORMATS as readonly string[]).includes(o.format)) {
    format = o.format as RecordFormat;
  } else {
    throw invalidArgValue(`${name}.format`, `must be one of ${FORMATS.join(', ')}`, o.format, stackFrom);
  }
  let segmentMs = 0;
  if (o.segmentSeconds !== undefined) {
    if (typeof o.segmentSeconds !== 'number' || !(o.segmentSeconds > 0) || !Number.isFinite(o.segmentSeconds)) {
      throw invalidArgValue(`${name}.segmentSeconds`, 'must be a positive number of seconds', o.segmentSeconds, stackFrom);
    }
    segmentMs = Math.round(o.segmentSeconds * 1000);
  }
  return { path: o.path, format, segmentMs, maxBufferMs: bufferOption(o.maxBufferMs, `${name}.maxBufferMs`, SINK_DEFAULTS.recordMaxBufferMs, stackFrom) };
}

/** What the addon is told for a relay (lib/native.ts NativeServer.relay). */
export interface ResolvedRelayOptions {
  url: string;
  maxBufferMs: number;
  ioOptions: Record<string, string>;
}

export function resolveRelayOptions(url: unknown, options: unknown, stackFrom: Function): ResolvedRelayOptions {
  const text = url instanceof URL ? url.href : url;
  if (typeof text !== 'string' || !/^rtmps?:\/\/[^/]+\/./.test(text)) {
    throw invalidArgValue('url', 'must be rtmp://host[:port]/app/key or rtmps://...', url, stackFrom);
  }
  const o = (options ?? {}) as Record<string, unknown>;
  if (typeof o !== 'object') throw invalidArgType('options', 'an object', options, stackFrom);
  const maxBufferMs = bufferOption(o.maxBufferMs, 'options.maxBufferMs', SINK_DEFAULTS.relayMaxBufferMs, stackFrom);
  const tls = (o.tls ?? {}) as { ca?: unknown; verify?: unknown };
  if (typeof tls !== 'object' || tls === null) throw invalidArgType('options.tls', 'an object', o.tls, stackFrom);
  if (tls.ca !== undefined && typeof tls.ca !== 'string') throw invalidArgType('options.tls.ca', 'a path (string)', tls.ca, stackFrom);
  if (tls.verify !== undefined && typeof tls.verify !== 'boolean') throw invalidArgType('options.tls.verify', 'a boolean', tls.verify, stackFrom);
  const ioOptions: Record<string, string> = {};
  if (text.startsWith('rtmps:')) {
    // FFmpeg's TLS on Mbed TLS loads no CA store of its own: always name one, and always say whether to verify.
    const verify = tls.verify !== false;
    ioOptions.tls_verify = verify ? '1' : '0';
    if (verify) ioOptions.ca_file = tls.ca ?? defaultCaFile();
  }
  return { url: text, maxBufferMs, ioOptions };
}

const SYSTEM_CA_FILES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Arch
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL, Amazon Linux
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // RHEL 7+
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/ssl/cert.pem', // Alpine
];
let caFile: string | undefined;

/** $SSL_CERT_FILE, the system's CA bundle, or else Node's Mozilla roots written once to a file. */
function defaultCaFile(): string {
  const fromEnv = process.env.SSL_CERT_FILE;
  if (fromEnv) return fromEnv;
  if (caFile !== undefined) return caFile;
  caFile = SYSTEM_CA_FILES.find((f) => existsSync(f));
  if (caFile === undefined) {
    const pem = rootCertificates.join('\n');
    caFile = join(tmpdir(), `rtmp-ingest-roots-${createHash('sha256').update(pem).digest('hex').slice(0, 16)}.pem`);
    if (!existsSync(caFile)) writeFileSync(caFile, pem, { mode: 0o644 });
  }
  return caFile;
}

function bufferOption(value: unknown, name: string, fallback: number, stackFrom: Function): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw invalidArgValue(name, 'must be a whole number of milliseconds, 0 or more', value, stackFrom);
  return value;
}

/**
 * The path pattern with {app}, {streamKey} and {sessionId} put in. They come from the publisher, so anything
 * but letters, digits, '.', '_' and '-' becomes '_' (no '/' or '..' can leave the folder), and '%' cannot
 * reach strftime.
 */
export function expandNames(pattern: string, names: { app: string; streamKey: string; sessionId: string }): string {
  const safe = (s: string): string => {
    const cleaned = s.replace(/[^A-Za-z0-9._-]/g, '_');
    return cleaned === '' || /^\.+$/.test(cleaned) ? cleaned.replace(/\./g, '_') || '_' : cleaned;
  };
  return pattern.replace(/\{(app|streamKey|sessionId)\}/g, (_, key: 'app' | 'streamKey' | 'sessionId') => safe(names[key]));
}

/** What a sink handle needs from its ingest. */
export interface SinkHost {
  stop(sink: number): void;
  stats(sink: number): NativeSinkStats | undefined;
}

interface SinkEvents {
  error: [error: IngestError];
  dropped: [event: { packets: number }];
}

export interface RecorderEvents extends SinkEvents {
  segment: [segment: SegmentInfo];
}

export interface RelayEvents extends SinkEvents {
  connected: [];
  disconnected: [error?: IngestError];
}

const ZERO: NativeSinkStats = { packets: 0, bytes: 0, segments: 0, droppedPackets: 0, timestampFixups: 0, reconnects: 0 };

abstract class SinkHandle extends EventEmitter {
  readonly #host: SinkHost;
  readonly #id: number;
  #final: NativeSinkStats | undefined;
  #error: IngestError | undefined;
  readonly #ended: Promise<void>;
  #resolveEnded!: () => void;

  constructor(host: SinkHost, id: number) {
    super({ captureRejections: false });
    this.#host = host;
    this.#id = id;
    this.#ended = new Promise((resolve) => {
      this.#resolveEnded = resolve;
    });
  }

  /** The error that stopped it, if one did. */
  get error(): IngestError | undefined {
    return this.#error;
  }

  /** Whether it has finished (its session ended, stop(), an error, or the ingest closed). */
  get ended(): boolean {
    return this.#final !== undefined;
  }

  /** Resolves once it has finished (a recorder's files are complete). */
  get finished(): Promise<void> {
    return this.#ended;
  }

  protected get nativeStats(): NativeSinkStats {
    return this.#final ?? this.#host.stats(this.#id) ?? ZERO;
  }

  protected requestStop(): Promise<void> {
    if (this.#final === undefined) this.#host.stop(this.#id);
    return this.#ended;
  }

  /** @internal An event of this sink from the addon (called by the ingest). */
  handle(event: NativeSinkEvent): void {
    switch (event.what) {
      case 'error': {
        const e = fromNative(event.error ?? { code: 'ERR_SINK', message: 'the sink failed' }, 'ERR_SINK', 'sink');
        this.#error ??= e;
        this.#emitError(e);
        break;
      }
      case 'dropped':
        this.emitEvent('dropped', { packets: event.count });
        break;
      case 'ended':
        this.#final = event.stats ?? this.#host.stats(this.#id) ?? ZERO;
        this.onEnded(event);
        this.#resolveEnded();
        break;
      default:
        this.onEvent(event);
    }
  }

  /** @internal The ingest closed without this sink's 'ended': what is known stands. */
  abandon(): void {
    if (this.#final !== undefined) return;
    this.#final = this.#host.stats(this.#id) ?? ZERO;
    this.#resolveEnded();
  }

  protected abstract onEvent(event: NativeSinkEvent): void;
  protected abstract onEnded(event: NativeSinkEvent): void;

  /** An 'error' nobody listens for is kept in `error`, never thrown: a sink's failure must not take the process down. */
  #emitError(e: IngestError): void {
    if (this.listenerCount('error') > 0) this.emitEvent('error', e);
  }

  protected emitEvent(name: string, ...args: unknown[]): void {
    (this.emit as (name: string, ...a: unknown[]) => boolean)(name, ...args);
  }
}

type Listener<E, K extends keyof E> = E[K] extends unknown[] ? (...args: E[K]) => void : never;

export interface Recorder {
  on<K extends keyof RecorderEvents>(event: K, listener: Listener<RecorderEvents, K>): this;
  once<K extends keyof RecorderEvents>(event: K, listener: Listener<RecorderEvents, K>): this;
  off<K extends keyof RecorderEvents>(event: K, listener: Listener<RecorderEvents, K>): this;
}

export interface Relay {
  on<K extends keyof RelayEvents>(event: K, listener: Listener<RelayEvents, K>): this;
  once<K extends keyof RelayEvents>(event: K, listener: Listener<RelayEvents, K>): this;
  off<K extends keyof RelayEvents>(event: K, listener: Listener<RelayEvents, K>): this;
}

/** A session's recording (session.record()). */
export class Recorder extends SinkHandle {
  #last: SegmentInfo | undefined;

  get stats(): RecorderStats {
    const s = this.nativeStats;
    return { packets: s.packets, bytes: s.bytes, segments: s.segments, droppedPackets: s.droppedPackets, timestampFixups: s.timestampFixups };
  }

  /** The last finished file, if any. */
  get lastSegment(): SegmentInfo | undefined {
    return this.#last;
  }

  /** Writes what it holds and finishes the file. Resolves with the last segment's info (undefined when nothing was written). */
  async stop(): Promise<SegmentInfo | undefined> {
    await this.requestStop();
    return this.#last;
  }

  protected onEvent(event: NativeSinkEvent): void {
    if (event.what !== 'segment' || event.path === undefined) return;
    this.#last = { path: event.path, durationMs: event.durationMs, bytes: event.bytes };
    this.emitEvent('segment', { ...this.#last });
  }

  protected onEnded(): void {}
}

/** A session's relay to another RTMP server (session.relay()). */
export class Relay extends SinkHandle {
  readonly url: string;
  #connected = false;

  constructor(host: SinkHost, id: number, url: string) {
    super(host, id);
    this.url = url;
  }

  get connected(): boolean {
    return this.#connected;
  }

  get stats(): RelayStats {
    const s = this.nativeStats;
    return { sentPackets: s.packets, droppedPackets: s.droppedPackets, reconnects: s.reconnects, timestampFixups: s.timestampFixups };
  }

  /** Disconnects at once; what it holds is dropped. */
  async stop(): Promise<void> {
    await this.requestStop();
  }

  protected onEvent(event: NativeSinkEvent): void {
    if (event.what === 'connected') {
      this.#connected = true;
      this.emitEvent('connected');
    } else if (event.what === 'disconnected') {
      this.#connected = false;
      const error = event.error === undefined ? undefined : fromNative(event.error, 'ERR_RELAY', 'relay');
      this.emitEvent('disconnected', error);
    }
  }

  protected onEnded(): void {
    this.#connected = false;
  }
}

