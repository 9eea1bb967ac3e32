// RtmpIngest: the server's lifecycle and all of its policy (routing by app
// and key, authorize, duplicate keys, keep-alive, close, events,
// iteration). The addon only binds, accepts, reads and reports; see
// native.ts for the contract, session-table.ts for the routing.

import { EventEmitter } from 'node:events';
import { AsyncQueue } from './async-queue';
import { loadBinding } from './binding';
import { Dispatcher, once, surface, type Job } from './dispatcher';
import { ErrorCode, fromNative, fromThrown, IngestError } from './errors';
import { logLevelFromNumber, type LogEvent } from './log';
import { PACKET_GROUP_FIELDS, PACKET_META_FIELDS, PacketMeta } from './native';
import type { NativeBinding, NativeEvent, NativePacketBatch, NativeServer, NativeServerOptions } from './native';
import { parseListenUrl, resolveOptions, type AuthorizeRequest, type ResolvedOptions, type RtmpIngestOptions } from './options';
import { IngestSession, sessionControl, type SessionHost } from './session';
import { expandNames, Recorder, Relay, type ResolvedRecordOptions, type ResolvedRelayOptions, type SinkHost } from './sinks';
import { randomUUID } from 'node:crypto';
import { parsePublishedName, RouteFilter, routeOf, SessionTable, type ConnectionEntry } from './session-table';

export type RejectReason =
  | 'stream-key'
  | 'unauthorized'
  | 'duplicate-key'
  | 'too-many-connections'
  | 'handshake-timeout'
  | 'protocol-error';

export interface RejectedEvent {
  reason: RejectReason;
  app?: string;
  streamKey?: string;
  query?: Record<string, string>;
  remoteAddress?: string;
  remotePort?: number;
  /** Why: authorize's own error, ERR_AUTHORIZE_TIMEOUT, ERR_TOO_MANY_CONNECTIONS, or what the addon reported for handshake/protocol failures. */
  error?: Error;
}

export interface ConnectionEvent {
  remoteAddress: string;
  remotePort: number;
}

export interface AddressInfo {
  host: string;
  port: number;
}

export interface IngestEvents {
  /** listen() succeeded. */
  listening: [address: AddressInfo];
  /** A TCP connection was accepted; the RTMP handshake starts. */
  connection: [connection: ConnectionEvent];
  /** A publisher is authorized and its streams are known. */
  session: [session: IngestSession];
  /** A connection was turned away. */
  rejected: [rejected: RejectedEvent];
  /** An FFmpeg log line (up to options.logLevel). */
  log: [log: LogEvent];
  /** The listener failed for good (it closes itself afterwards). */
  error: [error: Error];
  /** Everything is over; no event follows. */
  close: [];
}

type State = 'idle' | 'listening' | 'closing' | 'closed';

/** How long close() waits for recorders to finish their files before it closes the server anyway (which still finishes them, without their last events). */
const SINK_CLOSE_TIMEOUT_MS = 10_000;

interface PendingAuthorization {
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** A packets-only delivery (see NativeBinding) as one NativePacketBatch per connection batch. */
function splitPacketBatches(meta: Float64Array, data: Buffer[], groups: Float64Array): NativePacketBatch[] {
  if (groups.length === PACKET_GROUP_FIELDS) return [{ type: 'packets', connection: groups[0]!, meta, data, bytes: groups[2]! }];
  const batches: NativePacketBatch[] = [];
  let row = 0;
  let external = 0;
  for (let g = 0; g < groups.length; g += PACKET_GROUP_FIELDS) {
    const count = groups[g + 1]!;
    const rows = meta.subarray(row * PACKET_META_FIELDS, (row + count) * PACKET_META_FIELDS);
    let buffers = 0;
    for (let i = 0; i < count; i++) if (rows[i * PACKET_META_FIELDS + PacketMeta.DataOffset]! < 0) buffers++;
    batches.push({ type: 'packets', connection: groups[g]!, meta: rows, data: buffers === 0 ? [] : data.slice(external, external + buffers), bytes: groups[g + 2]! });
    row += count;
    external += buffers;
  }
  return batches;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function asError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new IngestError(ErrorCode.AUTHORIZE_FAILED, `authorize failed with a non-Error value: ${String(thrown)}`, { cause: thrown });
}

export class RtmpIngest extends EventEmitter<IngestEvents> implements AsyncIterable<IngestSession> {
  readonly #options: ResolvedOptions;
  readonly #binding: NativeBinding;
  readonly #dispatcher = new Dispatcher();
  #state: State = 'idle';
  #native: NativeServer | undefined;
  #address: AddressInfo | null = null;
  #filter: RouteFilter | undefined;
  readonly #table = new SessionTable();
  #refed = true;
  #muted = false;
  #abortedBySignal = false;
  #abortListener: (() => void) | undefined;
  #closePromise: Promise<void> | undefined;
  #resolveClose: (() => void) | undefined;

  readonly #pendingAuth = new Set<PendingAuthorization>();
  /** Every sink that has not ended, by the addon's id. */
  readonly #sinks = new Map<number, Recorder | Relay>();
  readonly #sinkHost: SinkHost = {
    stop: (sink) => this.#callNative('stopSink', (n) => n.stopSink(sink)),
    stats: (sink) => this.#callNative('sinkStats', (n) => n.sinkStats(sink)),
  };
  /** close() waits for the sinks to finish their files: called once the last has ended. */
  #afterSinks: (() => void) | undefined;
  readonly #iterators = new Set<AsyncQueue<IngestSession>>();
  #heldSessions: IngestSession[] = [];

  constructor(options: RtmpIngestOptions) {
    super({ captureRejections: false });
    this.#options = resolveOptions(options, RtmpIngest);
    this.#binding = loadBinding();
    const signal = this.#options.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#abortedBySignal = true;
        void this.close();
      } else {
        this.#abortListener = () => {
          this.#abortedBySignal = true;
          void this.close();
        };
        signal.addEventListener('abort', this.#abortListener, { once: true });
      }
    }
  }

  /** The listen URL as given. */
  get url(): string {
    return this.#options.url;
  }

  get listening(): boolean {
    return this.#state === 'listening';
  }

  get closed(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  /** The live sessions by id (a session leaves the map when it ends). */
  get sessions(): ReadonlyMap<string, IngestSession> {
    return this.#table.sessions;
  }

  /** The most recently started session that is still running, if any. */
  get session(): IngestSession | undefined {
    let latest: IngestSession | undefined;
    for (const s of this.#table.sessions.values()) latest = s;
    return latest;
  }

  /** Where it listens (the actual port when 0 was asked for); null unless listening. */
  address(): AddressInfo | null {
    return this.#address === null ? null : { ...this.#address };
  }

  /**
   * Binds and starts listening. Resolves with the bound address. Rejects with
   * an IngestError: ERR_INVALID_URL, EADDRINUSE, EACCES, ... (from the
   * addon), ERR_ALREADY_LISTENING, ERR_INGEST_CLOSED, ABORT_ERR.
   */
  listen(): Promise<AddressInfo> {
    try {
      return Promise.resolve(this.#listen());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #listen(): AddressInfo {
    const stackFrom = RtmpIngest.prototype.listen;
    const fail = (code: string, message: string, cause?: unknown): IngestError => {
      const e = new IngestError(code, message, cause === undefined ? {} : { cause });
      Error.captureStackTrace(e, stackFrom);
      return e;
    };
    if (this.#state === 'closing' || this.#state === 'closed') {
      if (this.#abortedBySignal) throw fail(ErrorCode.ABORTED, 'The ingest was aborted by its signal', this.#options.signal?.reason);
      throw fail(ErrorCode.INGEST_CLOSED, 'The ingest is closed; create a new RtmpIngest to listen again');
    }
    if (this.#state === 'listening') throw fail(ErrorCode.ALREADY_LISTENING, 'listen() was already called on this ingest');

    const target = parseListenUrl(this.#options.url, stackFrom);
    const o = this.#options;
    const nativeOptions: NativeServerOptions = {
      host: target.host,
      port: target.port,
      reusePort: o.reusePort,
      proxyProtocol: o.proxyProtocol,
      maxConnections: o.maxConnections,
      maxConnectionsPerAddress: o.maxConnectionsPerAddress,
      highWaterMarkBytes: o.highWaterMarkBytes,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      probeMs: o.probeMs,
      logLevel: o.logLevelNumber,
    };

    let native: NativeServer;
    try {
      native = new this.#binding.Server(
        nativeOptions,
        (events: NativeEvent[] | null, meta?: Float64Array, data?: Buffer[], groups?: Float64Array) =>
          this.#onNativeEvents(native, events ?? splitPacketBatches(meta!, data!, groups!)),
      );
    } catch (err) {
      throw fromThrown(err, ErrorCode.INVALID_ARG_VALUE, stackFrom);
    }
    let bound: { host: string; port: number };
    try {
      bound = native.listen();
    } catch (err) {
      try {
        native.close();
      } catch {
        // it never started; nothing to stop
      }
      throw fromThrown(err, 'ERR_LISTEN_FAILED', stackFrom);
    }

    this.#native = native;
    this.#state = 'listening';
    this.#filter = new RouteFilter(target.app, o.streamKey ?? target.streamKey);
    this.#address = { host: bound.host, port: bound.port };
    if (!this.#refed) native.unref();
    const address = { ...this.#address };
    this.#dispatcher.push(once(() => this.#emit('listening', address)));
    this.#dispatcher.schedule();
    return { ...this.#address };
  }

  /**
   * Stops listening, drops every publisher (their sessions end with reason
   * 'closed'), then emits 'close'. Works from any state, idempotent; resolves
   * after 'close'. No event follows 'close'.
   */
  close(): Promise<void> {
    if (this.#closePromise !== undefined) return this.#closePromise;
    this.#closePromise = new Promise<void>((resolve) => {
      this.#resolveClose = resolve;
    });
    this.#beginClose();
    return this.#closePromise;
  }

  /** Keeps the process alive while listening (the default), like net.Server#ref(). */
  ref(): this {
    this.#refed = true;
    this.#native?.ref();
    for (const p of this.#pendingAuth) p.timer?.ref();
    return this;
  }

  /** Lets the process exit even while listening, like net.Server#unref(). */
  unref(): this {
    this.#refed = false;
    this.#native?.unref();
    for (const p of this.#pendingAuth) p.timer?.unref();
    return this;
  }

  /**
   * Sessions, in the order they start; finishes when the ingest closes. Several
   * iterators may run at once (each gets every session from its creation
   * on); the first also gets sessions that arrived while nobody (no
   * iterator, no 'session' listener) was there to take them.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<IngestSession> {
    const held = this.#heldSessions;
    this.#heldSessions = [];
    const queue: AsyncQueue<IngestSession> = new AsyncQueue<IngestSession>({ onReturn: () => this.#iterators.delete(queue) }, held);
    if (this.#state === 'closed') queue.end();
    else this.#iterators.add(queue);
    return queue;
  }

  // ---- internals --------------------------------------------------------

  #emit<K extends keyof IngestEvents>(name: K, ...args: IngestEvents[K]): void {
    if (this.#muted) return;
    (this.emit as (name: string, ...a: unknown[]) => boolean)(name, ...args);
  }

  #release(connection: number, bytes: number): void {
    const native = this.#native;
    if (native === undefined || bytes <= 0) return;
    try {
      native.release(connection, bytes);
    } catch (err) {
      this.#nativeCallFailed('release', err);
    }
  }

  #verdict(connection: number, allow: boolean): void {
    const native = this.#native;
    if (native === undefined) return;
    try {
      native.authorize(connection, allow);
    } catch (err) {
      this.#nativeCallFailed('authorize', err);
    }
  }

  #disconnect(connection: number): void {
    const native = this.#native;
    if (native === undefined) return;
    try {
      native.disconnect(connection);
    } catch (err) {
      this.#nativeCallFailed('disconnect', err);
    }
  }

  /** What a session of `connection` asks of the ingest. */
  #hostFor(connection: number): SessionHost {
    return {
      dispatcher: this.#dispatcher,
      release: (bytes) => this.#release(connection, bytes),
      isClosing: () => this.#state === 'closing' || this.#state === 'closed',
      disconnect: () => this.#disconnect(connection),
      isMuted: () => this.#muted,
      deliverPackets: (deliver) => this.#callNative('deliverPackets', (n) => n.deliverPackets(connection, deliver)),
      undelivered: () => this.#callNative('undelivered', (n) => n.undelivered(connection)),
      record: (options, sessionId) => {
        const entry = this.#table.get(connection);
        return this.#state === 'listening' && entry !== undefined ? this.#addRecorder(entry, options, sessionId) : undefined;
      },
      relay: (options) => (this.#state === 'listening' ? this.#addRelay(connection, options) : undefined),
    };
  }

  /** A native call that must not throw into the caller (see #nativeCallFailed); undefined when there is no server. */
  #callNative<T>(method: string, call: (native: NativeServer) => T): T | undefined {
    const native = this.#native;
    if (native === undefined) return undefined;
    try {
      return call(native);
    } catch (err) {
      this.#nativeCallFailed(method, err);
      return undefined;
    }
  }

  #addRecorder(entry: ConnectionEntry, options: ResolvedRecordOptions, sessionId: string): Recorder | undefined {
    const names = { app: entry.request?.app ?? '', streamKey: entry.request?.streamKey ?? '', sessionId };
    const path = expandNames(options.path, names);
    const id = this.#callNative('record', (n) => n.record(entry.id, { ...options, path })) ?? 0;
    if (id === 0) return undefined;
    const recorder = new Recorder(this.#sinkHost, id);
    this.#sinks.set(id, recorder);
    return recorder;
  }

  #addRelay(connection: number, options: ResolvedRelayOptions): Relay | undefined {
    const id = this.#callNative('relay', (n) => n.relay(connection, options)) ?? 0;
    if (id === 0) return undefined;
    const relay = new Relay(this.#sinkHost, id, options.url);
    this.#sinks.set(id, relay);
    return relay;
  }

  /** The sinks of the ingest's options, added before the publisher is let in so that they get every packet. */
  #addConfiguredSinks(entry: ConnectionEntry, sessionId: string): (Recorder | Relay)[] {
    const sinks: (Recorder | Relay)[] = [];
    const record = this.#options.record;
    if (record !== undefined) {
      const recorder = this.#addRecorder(entry, record, sessionId);
      if (recorder !== undefined) sinks.push(recorder);
    }
    for (const target of this.#options.relay) {
      const relay = this.#addRelay(entry.id, target);
      if (relay !== undefined) sinks.push(relay);
    }
    return sinks;
  }


  /** A native method threw: a bug in the addon, reported as an error-level 'log' (throwing at the caller would break delivery). */
  #nativeCallFailed(method: string, err: unknown): void {
    if (this.listenerCount('log') === 0) return;
    const message = `rtmp-ingest: native ${method}() threw: ${err instanceof Error ? err.message : String(err)}`;
    this.#emit('log', { level: 'error', avLevel: 16, message });
  }

  /** The addon's callback. Never throws back into it (see dispatcher.ts). */
  #onNativeEvents(from: NativeServer, events: NativeEvent[]): void {
    try {
      // Events of a server that is no longer ours (closed, or a failed listen()). While closing, the sinks
      // finish before the server closes: their events still come.
      if (from !== this.#native || (this.#state !== 'listening' && this.#state !== 'closing')) return;
      for (const event of events) this.#dispatcher.push(this.#jobFor(event));
      this.#dispatcher.runNow();
    } catch (err) {
      surface(err);
    }
  }

  /** One job per native event; native events are ignored once closing. */
  #jobFor(event: NativeEvent): Job {
    const active = () => this.#state === 'listening';
    switch (event.type) {
      case 'packets': {
        let inner: Job | undefined;
        return {
          run: () => {
            if (inner === undefined) {
              const session = this.#table.get(event.connection)?.session;
              if (!active() || session === undefined) {
                // Nobody to deliver to (closing, or packets outside a session): give the bytes back.
                this.#release(event.connection, event.bytes);
                return;
              }
              inner = sessionControl(session).batchJob(event);
            }
            inner.run();
          },
        };
      }
      case 'connection':
        return once(() => {
          if (!active()) return;
          this.#table.open(event.connection, event.remoteAddress, event.remotePort);
          this.#emit('connection', { remoteAddress: event.remoteAddress, remotePort: event.remotePort });
        });
      case 'authorize':
        return once(() => {
          if (active()) this.#authorize(event);
        });
      case 'rejected':
        return once(() => {
          if (!active()) return;
          this.#table.endSession(event.connection);
          const rejected: RejectedEvent = { reason: event.reason, remoteAddress: event.remoteAddress, remotePort: event.remotePort };
          if (event.error !== undefined) rejected.error = fromNative(event.error, 'ERR_PROTOCOL', event.reason);
          this.#emit('rejected', rejected);
        });
      case 'session':
        return once(() => {
          const entry = this.#table.get(event.connection);
          if (active() && entry !== undefined) this.#startSession(entry, event.streams, event.metadata);
        });
      case 'stream':
        return once(() => {
          const s = this.#table.get(event.connection)?.session;
          if (active() && s !== undefined) sessionControl(s).addStream(event.stream);
        });
      case 'metadata':
        return once(() => {
          const s = this.#table.get(event.connection)?.session;
          if (active() && s !== undefined) sessionControl(s).setMetadata(event.metadata);
        });
      case 'end':
        return once(() => {
          if (!active()) return;
          const entry = this.#table.endSession(event.connection);
          const s = entry?.session;
          if (s !== undefined) {
            const reason = entry!.replaced === true && event.reason === 'closed' ? 'replaced' : event.reason;
            const error = event.error === undefined ? undefined : fromNative(event.error, 'ERR_SESSION', `session ended: ${event.reason}`);
            sessionControl(s).end(reason, error, event.undelivered);
          }
        });
      case 'closed':
        return once(() => {
          if (!active()) return;
          this.#table.remove(event.connection);
          // With keepAlive false, the first connection that closes (its session over, or turned away) closes the ingest.
          if (!this.#options.keepAlive) this.#beginClose();
        });
      case 'log':
        return once(() => {
          if (!active() || this.listenerCount('log') === 0) return;
          this.#emit('log', {
            level: logLevelFromNumber(event.level),
            avLevel: event.level,
            message: event.message.replace(/\r?\n$/, ''),
          });
        });
      case 'sink':
        return once(() => {
          const sink = this.#sinks.get(event.sink);
          if (sink === undefined) return;
          if (event.what === 'ended') this.#sinks.delete(event.sink);
          sink.handle(event);
          if (this.#sinks.size === 0) this.#afterSinks?.();
        });
      case 'stopped':
        return once(() => {
          if (!active()) return;
          const error = event.error === undefined ? undefined : fromNative(event.error, 'ERR_LISTENER', 'the listener stopped');
          // Close first, so a throwing (or missing) 'error' handler cannot stop it.
          this.#beginClose();
          if (error !== undefined) this.#emit('error', error);
        });
      default: {
        const unknown = event as { type?: unknown };
        return once(() => {
          if (this.listenerCount('log') > 0) {
            this.#emit('log', { level: 'debug', avLevel: 48, message: `rtmp-ingest: ignoring unknown native event ${String(unknown.type)}` });
          }
        });
      }
    }
  }

  #authorize(event: Extract<NativeEvent, { type: 'authorize' }>): void {
    const id = event.connection;
    const entry = this.#table.get(id) ?? this.#table.open(id, event.remoteAddress, event.remotePort);
    const name = parsePublishedName(event.app, event.streamKey);
    const request: AuthorizeRequest = {
      app: name.app,
      streamKey: name.streamKey,
      query: name.query,
      remoteAddress: event.remoteAddress,
      remotePort: event.remotePort,
    };
    const route = routeOf(name);
    const reject = (reason: RejectReason, error?: Error): void => {
      this.#verdict(id, false);
      const rejected: RejectedEvent = { reason, ...request };
      if (error !== undefined) rejected.error = error;
      this.#emit('rejected', rejected);
    };
    const duplicate = (): boolean => {
      const holder = this.#table.holderOf(route);
      return holder !== undefined && holder !== entry && this.#options.onDuplicateKey === 'reject';
    };
    const admit = (): void => {
      const holder = this.#table.holderOf(route);
      if (holder !== undefined && holder !== entry) {
        // onDuplicateKey 'replace': the live publisher goes, with every packet it had read.
        holder.replaced = true;
        this.#disconnect(holder.id);
      }
      this.#table.hold(entry, route);
      entry.request = request;
      entry.sessionId = randomUUID();
      entry.sinks = this.#addConfiguredSinks(entry, entry.sessionId);
      this.#verdict(id, true);
    };

    if (this.#filter === undefined || !this.#filter.accepts(name)) {
      reject('stream-key');
      return;
    }
    if (duplicate()) {
      reject('duplicate-key');
      return;
    }
    const authorize = this.#options.authorize;
    if (authorize === undefined) {
      admit();
      return;
    }

    const pending: PendingAuthorization = { settled: false, timer: undefined };
    // `sync`: answered inside this job (emit directly); otherwise queue the emission.
    const settle = (allow: boolean, error: Error | undefined, sync: boolean): void => {
      if (pending.settled) return;
      pending.settled = true;
      if (pending.timer !== undefined) clearTimeout(pending.timer);
      this.#pendingAuth.delete(pending);
      if (this.#state !== 'listening') return;
      const decide = (): void => {
        if (this.#state !== 'listening') return;
        if (!allow) reject('unauthorized', error);
        else if (duplicate()) reject('duplicate-key'); // another publisher of the key got in meanwhile
        else admit();
      };
      if (sync) {
        decide();
      } else {
        this.#dispatcher.push(once(decide));
        this.#dispatcher.schedule();
      }
    };

    let result: unknown;
    try {
      result = authorize({ ...request, query: { ...request.query } });
    } catch (err) {
      settle(false, asError(err), true);
      return;
    }
    if (!isThenable(result)) {
      settle(result === true, undefined, true);
      return;
    }
    const ms = this.#options.handshakeTimeoutMs;
    pending.timer = setTimeout(() => {
      settle(false, new IngestError(ErrorCode.AUTHORIZE_TIMEOUT, `authorize did not answer within ${ms} ms (handshakeTimeoutMs)`), false);
    }, ms);
    if (!this.#refed) pending.timer.unref();
    this.#pendingAuth.add(pending);
    Promise.resolve(result).then(
      (value) => settle(value === true, undefined, false),
      (err: unknown) => settle(false, asError(err), false),
    );
  }

  #startSession(entry: ConnectionEntry, streams: Extract<NativeEvent, { type: 'session' }>['streams'], metadata: Record<string, string>): void {
    const previous = entry.session;
    if (previous !== undefined && !previous.ended) {
      // Contract violation (a second session on one connection): end the first.
      sessionControl(previous).end('error', new IngestError(ErrorCode.NATIVE_PROTOCOL, 'a new session started before this one ended'));
    }
    const request = entry.request;
    const session = new IngestSession({
      app: request?.app ?? '',
      streamKey: request?.streamKey ?? '',
      query: request?.query ?? {},
      ...(request?.remoteAddress !== undefined ? { remoteAddress: request.remoteAddress } : {}),
      ...(request?.remotePort !== undefined ? { remotePort: request.remotePort } : {}),
      streams,
      metadata,
      host: this.#hostFor(entry.id),
      ...(entry.sessionId !== undefined ? { id: entry.sessionId } : {}),
      sinks: entry.sinks ?? [],
    });
    entry.sinks = undefined;
    this.#table.startSession(entry, session);
    if (this.#iterators.size > 0) {
      for (const q of this.#iterators) q.push(session);
    } else if (this.listenerCount('session') === 0) {
      this.#heldSessions.push(session);
    }
    this.#emit('session', session);
  }

  #beginClose(): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#state = 'closing';
    this.#closePromise ??= new Promise<void>((resolve) => {
      this.#resolveClose = resolve;
    });
    if (this.#abortListener !== undefined) {
      this.#options.signal?.removeEventListener('abort', this.#abortListener);
      this.#abortListener = undefined;
    }
    for (const p of this.#pendingAuth) {
      p.settled = true;
      if (p.timer !== undefined) clearTimeout(p.timer);
    }
    this.#pendingAuth.clear();

    // Recorders write what they hold and finish their files, relays disconnect; their last events come
    // before the server closes (bounded: a disk that hangs cannot hold close() forever).
    if (this.#sinks.size > 0 && this.#native !== undefined) {
      const timer = setTimeout(() => finish(), SINK_CLOSE_TIMEOUT_MS);
      const finish = (): void => {
        clearTimeout(timer);
        this.#afterSinks = undefined;
        this.#finishClose();
      };
      this.#afterSinks = finish;
      for (const id of this.#sinks.keys()) this.#sinkHost.stop(id);
      return;
    }
    this.#finishClose();
  }

  #finishClose(): void {
    const native = this.#native;
    this.#native = undefined;
    this.#address = null;
    let closeError: IngestError | undefined;
    if (native !== undefined) {
      try {
        native.close();
      } catch (err) {
        closeError = fromThrown(err, 'ERR_CLOSE_FAILED');
      }
    }

    this.#dispatcher.push(
      once(() => {
        const sessions: IngestSession[] = [];
        for (const entry of this.#table.entries()) if (entry.session !== undefined) sessions.push(entry.session);
        this.#table.clear();
        for (const sink of this.#sinks.values()) sink.abandon();
        this.#sinks.clear();
        // One job each, in start order: a throwing 'end' handler does not keep the others from ending.
        for (const s of sessions.reverse()) this.#dispatcher.pushNext(once(() => s.ended || sessionControl(s).end('closed')));
      }),
    );
    if (closeError !== undefined) {
      const e = closeError;
      this.#dispatcher.push(once(() => this.#emit('error', e)));
    }
    this.#dispatcher.push(
      once(() => {
        this.#state = 'closed';
        for (const q of this.#iterators) q.end();
        this.#iterators.clear();
        this.#resolveClose?.();
        this.#resolveClose = undefined;
        this.#muted = true; // no event after this one, not even from its handlers
        this.emit('close');
      }),
    );
    this.#dispatcher.schedule();
  }
}
