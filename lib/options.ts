// Option validation and listen-URL parsing. Wrong types and unusable values
// throw from the constructor (a TypeError naming the option, with code
// ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE); a URL that cannot be listened
// on makes listen() reject with ERR_INVALID_URL.

import { ErrorCode, IngestError, invalidArgType, invalidArgValue } from './errors';
import { isLogLevel, LOG_LEVEL_NAMES, logLevelToNumber, type LogLevel } from './log';

/** What `authorize` is asked about. */
export interface AuthorizeRequest {
  /** The app the publisher connected to ('live' for rtmp://host/live/key). */
  app: string;
  /** The stream key it published (already checked against `streamKey`). */
  streamKey: string;
  remoteAddress?: string;
  remotePort?: number;
}

export interface RtmpIngestOptions {
  /** Listen URL: rtmp://host[:port]/app/streamKey. The last path segment is the stream key, the path before it the app. */
  url: string | URL;
  /** After each publisher leaves, is rejected or times out, listen again. Default true. */
  keepAlive?: boolean;
  /** The key a publisher must use. Default: the URL's last path segment. */
  streamKey?: string;
  /** Called for a publisher whose key matched; return (or resolve) exactly `true` to accept. A throw or rejection denies. */
  authorize?: (request: AuthorizeRequest) => boolean | Promise<boolean>;
  /** An accepted connection must start publishing within this time; also the budget for `authorize`. Default 5000. */
  handshakeTimeoutMs?: number;
  /** A publisher that sends nothing for this long is dropped. Default 10000. */
  idleTimeoutMs?: number;
  /** Bytes of delivered but unconsumed packets after which the native reader stops reading. Default 32 MiB. */
  highWaterMarkBytes?: number;
  /** FFmpeg log lines up to this level are emitted as 'log' events. Default 'error'. */
  logLevel?: LogLevel;
  /** Aborting it closes the ingest. */
  signal?: AbortSignal;
  /** How long after the first media packet to wait for the other announced streams before 'session'. Default 200. */
  probeMs?: number;
}

export interface ResolvedOptions {
  url: string;
  keepAlive: boolean;
  streamKey: string | undefined;
  authorize: ((request: AuthorizeRequest) => boolean | Promise<boolean>) | undefined;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  highWaterMarkBytes: number;
  logLevel: LogLevel;
  logLevelNumber: number;
  signal: AbortSignal | undefined;
  probeMs: number;
}

export const DEFAULTS = Object.freeze({
  port: 1935,
  keepAlive: true,
  handshakeTimeoutMs: 5000,
  idleTimeoutMs: 10000,
  highWaterMarkBytes: 32 * 1024 * 1024,
  logLevel: 'error' as LogLevel,
  probeMs: 200,
});

/** setTimeout's limit; longer timeouts would fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

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

  let keepAlive: boolean = DEFAULTS.keepAlive;
  if (o.keepAlive !== undefined) {
    if (typeof o.keepAlive !== 'boolean') throw invalidArgType('options.keepAlive', 'of type boolean', o.keepAlive, stackFrom);
    keepAlive = o.keepAlive;
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

  return {
    url,
    keepAlive,
    streamKey,
    authorize,
    handshakeTimeoutMs,
    idleTimeoutMs,
    highWaterMarkBytes,
    logLevel,
    logLevelNumber: logLevelToNumber(logLevel),
    signal,
    probeMs,
  };
}

export interface ListenTarget {
  /** What to bind: an IP literal (without brackets) or a name. */
  host: string;
  port: number;
  /** The app, percent-decoded ('live', or 'live/sub' for rtmp://host/live/sub/key). */
  app: string;
  /** The URL's stream key, percent-decoded. */
  streamKey: string;
  /** The app and key exactly as they appear in the URL (for the addon, which builds FFmpeg's URL from them). */
  rawApp: string;
  rawStreamKey: string;
}

function invalidUrl(url: string, why: string, stackFrom: Function): IngestError {
  const e = new IngestError(ErrorCode.INVALID_URL, `Invalid listen URL ${JSON.stringify(url)}: ${why}`);
  Error.captureStackTrace(e, stackFrom);
  return e;
}

/** The longest stream name FFmpeg's RTMP server reads from a publish command (patch 0005). */
export const MAX_STREAM_KEY_BYTES = 1023;

/** Parses rtmp://host[:port]/app/key. Throws IngestError ERR_INVALID_URL. */
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

  const segments = u.pathname.replace(/^\//, '').split('/');
  if (segments.length < 2 || segments.some((s) => s === '')) {
    throw invalidUrl(url, 'the path must be /app/streamKey (the last segment is the stream key, the path before it the app)', stackFrom);
  }
  const rawStreamKey = segments[segments.length - 1]!;
  const rawApp = segments.slice(0, -1).join('/');
  let app: string;
  let streamKey: string;
  try {
    app = segments.slice(0, -1).map(decodeURIComponent).join('/');
    streamKey = decodeURIComponent(rawStreamKey);
  } catch {
    throw invalidUrl(url, 'the path has a malformed percent-encoding', stackFrom);
  }
  if (Buffer.byteLength(streamKey) > MAX_STREAM_KEY_BYTES)
    throw invalidUrl(url, `the stream key must be at most ${MAX_STREAM_KEY_BYTES} bytes (UTF-8)`, stackFrom);
  return { host, port, app, streamKey, rawApp, rawStreamKey };
}
