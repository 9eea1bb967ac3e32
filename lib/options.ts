// Option validation and listen-URL parsing. Wrong types and unusable values
// throw from the constructor (a TypeError naming the option, with code
// ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE); a URL that cannot be listened
// on makes listen() reject with ERR_INVALID_URL.

import { ErrorCode, IngestError, invalidArgType, invalidArgValue } from './errors';
import { isLogLevel, LOG_LEVEL_NAMES, logLevelToNumber, type LogLevel } from './log';
import { resolveRecordOptions, resolveRelayOptions, type RecordOptions, type RelayOptions, type ResolvedRecordOptions, type ResolvedRelayOptions } from './sinks';

/** What `authorize` is asked about. */
export interface AuthorizeRequest {
  /** The app the publisher connected to ('live' for rtmp://host/live/key). */
  app: string;
  /** The stream key it published, without its query (already checked against the URL's and `streamKey`). */
  streamKey: string;
  /** The parsed '?a=b&c=d' after the key (or after the app), e.g. { token: '...' }; {} when there is none. */
  query: Record<string, string>;
  /** Where it connects from: the PROXY protocol header's source with `proxyProtocol`, else the TCP peer. */
  remoteAddress?: string;
  remotePort?: number;
}

export type DuplicateKeyPolicy = 'reject' | 'replace';

export interface RtmpIngestOptions {
  /**
   * Listen URL. rtmp://host[:port] takes any app and key (subject to `authorize`); rtmp://host[:port]/app takes
   * any key of that app; rtmp://host[:port]/app/streamKey only that app and key. The last path segment is the
   * stream key, the path before it the app.
   */
  url: string | URL;
  /** Keep accepting publishers (default true); false: close the ingest when its first session ends (or its first connection is turned away). */
  keepAlive?: boolean;
  /** The key a publisher must use. Default: the URL's last path segment (any key if the URL has none). */
  streamKey?: string;
  /** Called for a publisher whose app and key matched; return (or resolve) exactly `true` to accept. A throw or rejection denies. */
  authorize?: (request: AuthorizeRequest) => boolean | Promise<boolean>;
  /** Each connection must start publishing within this time of its accept (absolute); also the budget for `authorize`. Default 5000. */
  handshakeTimeoutMs?: number;
  /** A publisher that sends nothing for this long is dropped. Default 10000. */
  idleTimeoutMs?: number;
  /** Per session: bytes of delivered but unconsumed packets after which its connection stops reading. Default 32 MiB. */
  highWaterMarkBytes?: number;
  /** Open connections, handshaking ones included; one over it is closed at once ('rejected', 'too-many-connections'). Default 1000. */
  maxConnections?: number;
  /** Open connections from one remote address; one over it is closed at once ('too-many-connections'). Default 16. */
  maxConnectionsPerAddress?: number;
  /** A publisher of an app/key that is live: 'reject' it ('duplicate-key', the default) or 'replace' the live one (its session ends 'replaced'). */
  onDuplicateKey?: DuplicateKeyPolicy;
  /** Every connection starts with a PROXY protocol v1 or v2 header (HAProxy, AWS NLB); remoteAddress comes from it. Default false. */
  proxyProtocol?: boolean;
  /** SO_REUSEPORT: several processes listen on one port and the kernel spreads connections among them. Default false. */
  reusePort?: boolean;
  /** FFmpeg log lines up to this level are emitted as 'log' events. Default 'error'. */
  logLevel?: LogLevel;
  /** Aborting it closes the ingest. */
  signal?: AbortSignal;
  /** How long after the first media packet to wait for the other announced streams before 'session'. Default 200. */
  probeMs?: number;
  /** Record every session from its first packet (as session.record() would, but attached before any packet is read). */
  record?: RecordOptions;
  /** Relay every session from its first packet to each of these URLs (rtmp:// or rtmps://). */
  relay?: (string | URL | ({ url: string | URL } & RelayOptions))[];
}

export interface ResolvedOptions {
  url: string;
  keepAlive: boolean;
  streamKey: string | undefined;
  authorize: ((request: AuthorizeRequest) => boolean | Promise<boolean>) | undefined;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  highWaterMarkBytes: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  onDuplicateKey: DuplicateKeyPolicy;
  proxyProtocol: boolean;
  reusePort: boolean;
  logLevel: LogLevel;
  logLevelNumber: number;
  signal: AbortSignal | undefined;
  probeMs: number;
  record: ResolvedRecordOptions | undefined;
  relay: ResolvedRelayOptions[];
}

export const DEFAULTS = Object.freeze({
  port: 1935,
  keepAlive: true,
  handshakeTimeoutMs: 5000,
  idleTimeoutMs: 10000,
  highWaterMarkBytes: 32 * 1024 * 1024,
  maxConnections: 1000,
  maxConnectionsPerAddress: 16,
  onDuplicateKey: 'reject' as DuplicateKeyPolicy,
  proxyProtocol: false,
  reusePort: false,
  logLevel: 'error' as LogLevel,
  probeMs: 200,
});

/** setTimeout's limit; longer timeouts would fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** Each connection is a thread: far beyond what one process should hold. */
const MAX_CONNECTIONS = 100_000;

function booleanOption(options: Record<string, unknown>, name: string, fallback: boolean, stackFrom: Function): boolean {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgType(`options.${name}`, 'of type boolean', value, stackFrom);
  return value;
}

function integerOption(
  options: Record<string, unknown>,
  name: string,
  fallback: number,
  min: number,
  max: number,
  stackFrom: Function,
): number {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidArgType(`options.${name}`, 'of type number', value, stackFrom);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidArgValue(`options.${name}`, `must be an integer >= ${min} and <= ${max}`, value, stackFrom);
  }
  return value;
}

export function resolveOptions(options: unknown, stackFrom: Function): ResolvedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgType('options', 'an object', options, stackFrom);
  }
  const o = options as Record<string, unknown>;

  let url: string;
  if (typeof o.url === 'string') url = o.url;
  else if (o.url instanceof URL) url = o.url.href;
  else throw invalidArgType('options.url', 'a string or a URL', o.url, stackFrom);

  const keepAlive = booleanOption(o, 'keepAlive', DEFAULTS.keepAlive, stackFrom);
  const proxyProtocol = booleanOption(o, 'proxyProtocol', DEFAULTS.proxyProtocol, stackFrom);
  const reusePort = booleanOption(o, 'reusePort', DEFAULTS.reusePort, stackFrom);

  let onDuplicateKey: DuplicateKeyPolicy = DEFAULTS.onDuplicateKey;
  if (o.onDuplicateKey !== undefined) {
    if (o.onDuplicateKey !== 'reject' && o.onDuplicateKey !== 'replace')
      throw invalidArgValue('options.onDuplicateKey', "must be 'reject' or 'replace'", o.onDuplicateKey, stackFrom);
    onDuplicateKey = o.onDuplicateKey;
  }

  let streamKey: string | undefined;
  if (o.streamKey !== undefined) {
    if (typeof o.streamKey !== 'string') throw invalidArgType('options.streamKey', 'of type string', o.streamKey, stackFrom);
    if (o.streamKey === '') throw invalidArgValue('options.streamKey', 'must not be empty', o.streamKey, stackFrom);
    if (Buffer.byteLength(o.streamKey) > MAX_STREAM_KEY_BYTES)
      throw invalidArgValue('options.streamKey', `must be at most ${MAX_STREAM_KEY_BYTES} bytes (UTF-8)`, o.streamKey, stackFrom);
    streamKey = o.streamKey;
  }

  let authorize: ResolvedOptions['authorize'];
  if (o.authorize !== undefined) {
    if (typeof o.authorize !== 'function') throw invalidArgType('options.authorize', 'a function', o.authorize, stackFrom);
    authorize = o.authorize as ResolvedOptions['authorize'];
  }

  const handshakeTimeoutMs = integerOption(o, 'handshakeTimeoutMs', DEFAULTS.handshakeTimeoutMs, 1, MAX_TIMEOUT_MS, stackFrom);
  const idleTimeoutMs = integerOption(o, 'idleTimeoutMs', DEFAULTS.idleTimeoutMs, 1, MAX_TIMEOUT_MS, stackFrom);
  const highWaterMarkBytes = integerOption(o, 'highWaterMarkBytes', DEFAULTS.highWaterMarkBytes, 1, Number.MAX_SAFE_INTEGER, stackFrom);
  const probeMs = integerOption(o, 'probeMs', DEFAULTS.probeMs, 0, MAX_TIMEOUT_MS, stackFrom);
  const maxConnections = integerOption(o, 'maxConnections', DEFAULTS.maxConnections, 1, MAX_CONNECTIONS, stackFrom);
  const maxConnectionsPerAddress = integerOption(o, 'maxConnectionsPerAddress', DEFAULTS.maxConnectionsPerAddress, 1, MAX_CONNECTIONS, stackFrom);

  let logLevel: LogLevel = DEFAULTS.logLevel;
  if (o.logLevel !== undefined) {
    if (typeof o.logLevel !== 'string') throw invalidArgType('options.logLevel', 'of type string', o.logLevel, stackFrom);
    if (!isLogLevel(o.logLevel)) {
      throw invalidArgValue('options.logLevel', `must be one of ${LOG_LEVEL_NAMES.map((n) => `'${n}'`).join(', ')}`, o.logLevel, stackFrom);
    }
    logLevel = o.logLevel;
  }

  let signal: AbortSignal | undefined;
  if (o.signal !== undefined) {
    if (!(o.signal instanceof AbortSignal)) throw invalidArgType('options.signal', 'an AbortSignal', o.signal, stackFrom);
    signal = o.signal;
  }

  const record = o.record === undefined ? undefined : resolveRecordOptions(o.record, 'options.record', stackFrom);
  const relay: ResolvedOptions['relay'] = [];
  if (o.relay !== undefined) {
    if (!Array.isArray(o.relay)) throw invalidArgType('options.relay', 'an array of URLs', o.relay, stackFrom);
    for (const target of o.relay as unknown[]) {
      const withOptions = typeof target === 'object' && target !== null && !(target instanceof URL);
      const url = withOptions ? (target as { url?: unknown }).url : target;
      relay.push(resolveRelayOptions(url, withOptions ? target : undefined, stackFrom));
    }
  }

  return {
    url,
    keepAlive,
    streamKey,
    authorize,
    handshakeTimeoutMs,
    idleTimeoutMs,
    highWaterMarkBytes,
    maxConnections,
    maxConnectionsPerAddress,
    onDuplicateKey,
    proxyProtocol,
    reusePort,
    logLevel,
    logLevelNumber: logLevelToNumber(logLevel),
    signal,
    probeMs,
    record,
    relay,
  };
}

export interface ListenTarget {
  /** What to bind: an IP literal (without brackets) or a name. */
  host: string;
  port: number;
  /** The app, percent-decoded ('live', or 'live/sub' for rtmp://host/live/sub/key); undefined: any app. */
  app: string | undefined;
  /** The URL's stream key, percent-decoded; undefined: any key. */
  streamKey: string | undefined;
}

function invalidUrl(url: string, why: string, stackFrom: Function): IngestError {
  const e = new IngestError(ErrorCode.INVALID_URL, `Invalid listen URL ${JSON.stringify(url)}: ${why}`);
  Error.captureStackTrace(e, stackFrom);
  return e;
}

/** The longest stream name FFmpeg's RTMP server reads from a publish command (patch 0005). */
export const MAX_STREAM_KEY_BYTES = 1023;

/** Parses rtmp://host[:port][/app[/key]]. Throws IngestError ERR_INVALID_URL. */
export function parseListenUrl(url: string, stackFrom: Function): ListenTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalidUrl(url, 'not a URL; expected rtmp://host[:port]/app/streamKey', stackFrom);
  }
  if (u.protocol === 'rtmps:') {
    throw invalidUrl(url, 'listening on rtmps:// (RTMP over TLS) is not supported; listen on rtmp:// behind a TLS-terminating proxy', stackFrom);
  }
  if (u.protocol !== 'rtmp:') {
    throw invalidUrl(url, `the scheme must be rtmp:// (got ${u.protocol}//)`, stackFrom);
  }
  if (u.username !== '' || u.password !== '') {
    throw invalidUrl(url, 'credentials in the URL are not supported; use the stream key or `authorize`', stackFrom);
  }
  if (u.search !== '' || u.hash !== '') {
    throw invalidUrl(url, 'a query string or fragment is not supported', stackFrom);
  }
  let host = u.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') throw invalidUrl(url, 'a host to bind is required (e.g. 0.0.0.0, 127.0.0.1 or [::])', stackFrom);
  const port = u.port === '' ? DEFAULTS.port : Number(u.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalidUrl(url, 'the port must be 0..65535', stackFrom);

  const path = u.pathname.replace(/^\//, '');
  const segments = path === '' ? [] : path.split('/');
  if (segments.some((s) => s === '')) {
    throw invalidUrl(url, 'the path must be empty, /app or /app/streamKey (the last segment is the stream key, the path before it the app)', stackFrom);
  }
  let decoded: string[];
  try {
    decoded = segments.map(decodeURIComponent);
  } catch {
    throw invalidUrl(url, 'the path has a malformed percent-encoding', stackFrom);
  }
  const app = decoded.length === 0 ? undefined : decoded.length === 1 ? decoded[0]! : decoded.slice(0, -1).join('/');
  const streamKey = decoded.length >= 2 ? decoded[decoded.length - 1]! : undefined;
  if (streamKey !== undefined && Buffer.byteLength(streamKey) > MAX_STREAM_KEY_BYTES)
    throw invalidUrl(url, `the stream key must be at most ${MAX_STREAM_KEY_BYTES} bytes (UTF-8)`, stackFrom);
  return { host, port, app, streamKey };
}
