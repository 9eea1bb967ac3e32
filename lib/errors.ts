// Coded errors. Every error this package produces carries a stable `code`
// (tests and callers match on it, never on the message); FFmpeg failures also
// carry the negative AVERROR value. Errors are constructed where the user's
// call is (listen(), the constructor, ...) so their stacks point at user code.

import type { NativeError } from './native';

/** Codes produced by the TypeScript layer. Native codes ('EADDRINUSE', 'ECONNRESET', 'ERR_FFMPEG_*', ...) pass through unchanged. */
export const ErrorCode = {
  /** An option has the wrong type. */
  INVALID_ARG_TYPE: 'ERR_INVALID_ARG_TYPE',
  /** An option has the right type but an unusable value. */
  INVALID_ARG_VALUE: 'ERR_INVALID_ARG_VALUE',
  /** The listen URL cannot be used (not rtmp://, no app or stream key, rtmps://, ...). */
  INVALID_URL: 'ERR_INVALID_URL',
  /** listen() was called on an ingest that is already listening. */
  ALREADY_LISTENING: 'ERR_ALREADY_LISTENING',
  /** listen() was called after close(). */
  INGEST_CLOSED: 'ERR_INGEST_CLOSED',
  /** The ingest was closed through its AbortSignal. */
  ABORTED: 'ABORT_ERR',
  /** `authorize` did not answer within handshakeTimeoutMs. */
  AUTHORIZE_TIMEOUT: 'ERR_AUTHORIZE_TIMEOUT',
  /** `authorize` threw or rejected with something that is not an Error. */
  AUTHORIZE_FAILED: 'ERR_AUTHORIZE_FAILED',
  /** A second async iterator was requested while one is active on the same session. */
  ITERATOR_ACTIVE: 'ERR_ITERATOR_ACTIVE',
  /** record() or relay() on a session that has ended. */
  SESSION_ENDED: 'ERR_SESSION_ENDED',
  /** The native addon could not be loaded. */
  ADDON_LOAD_FAILED: 'ERR_ADDON_LOAD_FAILED',
  /** The native addon reported something it should not have (a contract violation). */
  NATIVE_PROTOCOL: 'ERR_NATIVE_PROTOCOL',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface IngestErrorOptions {
  cause?: unknown;
  averror?: number;
}

/** The error class of this package: a message, a stable `code`, and `averror` when FFmpeg reported it. */
export class IngestError extends Error {
  /** Stable, machine-readable: 'EADDRINUSE', 'ERR_INVALID_URL', 'ERR_FFMPEG_INVALIDDATA', ... */
  readonly code: string;
  /** The negative AVERROR value when the error came from FFmpeg. */
  readonly averror?: number;

  constructor(code: string, message: string, options: IngestErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.averror !== undefined) this.averror = options.averror;
  }

  override get name(): string {
    return 'IngestError';
  }

  override toString(): string {
    return `${this.name} [${this.code}]: ${this.message}`;
  }
}

/**
 * Builds an error from what the addon reported. `stackFrom` drops the frames
 * above (and including) that function, so a call site's stack starts at the
 * user's call.
 */
export function fromNative(err: NativeError | undefined, fallbackCode: string, fallbackMessage: string, stackFrom?: Function): IngestError {
  const e =
    err === undefined
      ? new IngestError(fallbackCode, fallbackMessage)
      : new IngestError(
          typeof err.code === 'string' && err.code !== '' ? err.code : fallbackCode,
          typeof err.message === 'string' && err.message !== '' ? err.message : fallbackMessage,
          typeof err.averror === 'number' && err.averror !== 0 ? { averror: err.averror } : {},
        );
  if (stackFrom !== undefined) Error.captureStackTrace(e, stackFrom);
  return e;
}

/**
 * Wraps something the addon threw (an Error with `code`, maybe `averror`) in
 * an IngestError created here, at the user's call site; the original is the cause.
 */
export function fromThrown(thrown: unknown, fallbackCode: string, stackFrom?: Function): IngestError {
  const t = (typeof thrown === 'object' && thrown !== null ? thrown : {}) as { code?: unknown; message?: unknown; averror?: unknown };
  const code = typeof t.code === 'string' && t.code !== '' ? t.code : fallbackCode;
  const message = typeof t.message === 'string' && t.message !== '' ? t.message : String(thrown);
  const opts: IngestErrorOptions = { cause: thrown };
  if (typeof t.averror === 'number' && t.averror !== 0) opts.averror = t.averror;
  const e = new IngestError(code, message, opts);
  if (stackFrom !== undefined) Error.captureStackTrace(e, stackFrom);
  return e;
}

/** A TypeError with a Node-style code, naming the offending option. */
export class InvalidArgumentError extends TypeError {
  readonly code: 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE';

  constructor(code: 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE', message: string) {
    super(message);
    this.code = code;
  }

  override toString(): string {
    return `${this.name} [${this.code}]: ${this.message}`;
  }
}

export function describeReceived(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${(value as Function).name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const ctor = (value as object).constructor;
    return ctor && ctor.name ? `an instance of ${ctor.name}` : 'an object';
  }
  let shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  if (shown.length > 40) shown = `${shown.slice(0, 37)}...`;
  return `type ${typeof value} (${shown})`;
}

export function invalidArgType(name: string, expected: string, value: unknown, stackFrom?: Function): InvalidArgumentError {
  const e = new InvalidArgumentError(
    'ERR_INVALID_ARG_TYPE',
    `The "${name}" option must be ${expected}. Received ${describeReceived(value)}`,
  );
  if (stackFrom !== undefined) Error.captureStackTrace(e, stackFrom);
  return e;
}

export function invalidArgValue(name: string, reason: string, value: unknown, stackFrom?: Function): InvalidArgumentError {
  const e = new InvalidArgumentError(
    'ERR_INVALID_ARG_VALUE',
    `The "${name}" option ${reason}. Received ${describeReceived(value)}`,
  );
  if (stackFrom !== undefined) Error.captureStackTrace(e, stackFrom);
  return e;
}
