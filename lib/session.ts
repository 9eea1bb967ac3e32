// One publisher's session: its stream table, packets, stats and end.
//
// Packet delivery and backpressure. The addon counts the bytes each
// connection handed to JS and stops reading it once more than
// highWaterMarkBytes are outstanding; a packet's bytes go back
// (server.release) once every consumer that was there when it arrived has
// had it:
//   - 'packet' listeners only: released right after the synchronous emit,
//     once per batch;
//   - a `for await` consumer: released as it pulls, so a slow consumer holds
//     the reader back and TCP backpressure reaches the publisher;
//   - no consumer at all yet: kept in a backlog (nothing is dropped) and
//     handed over, in order, on the tick after a consumer attaches, to every
//     consumer attached by then (a 'packet' listener added after an await
//     and an iterator created next to it both get them from the first
//     packet). The backlog counts against the high-water mark, like a paused
//     stream. Call resume() to let packets nobody consumes go.
// While a backlog exists, new packets queue behind it, so order holds.
// Leaving a `for await` loop early switches the session to resume() mode.
// When the session ends, whatever is still unconsumed is released to the
// addon but stays readable here.

import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { markAsUntransferable } from 'node:worker_threads';
import { AsyncQueue, Deque } from './async-queue';
import type { Dispatcher, Job } from './dispatcher';
import { ErrorCode, IngestError } from './errors';
import { PACKET_META_FIELDS, PacketMeta, type NativePacketBatch, type NativePacketCounts, type NativeStreamInfo } from './native';
import { Recorder, resolveRecordOptions, resolveRelayOptions, type RecordOptions, type Relay, type RelayOptions, type ResolvedRecordOptions, type ResolvedRelayOptions } from './sinks';

export type MediaType = NativeStreamInfo['type'];

/** A stream of the session: what the addon reported, copied. */
export type StreamInfo = NativeStreamInfo;

export interface Packet {
  streamIndex: number;
  type: MediaType;
  /** In timeBase units; NaN when unknown (AV_NOPTS_VALUE). */
  pts: number;
  /** In timeBase units; NaN when unknown (AV_NOPTS_VALUE). */
  dts: number;
  /** In timeBase units; 0 when unknown, as in FFmpeg. */
  duration: number;
  /** The stream's time base (shared, frozen). */
  timeBase: [number, number];
  keyframe: boolean;
  /** FFmpeg flagged the packet as corrupt. */
  corrupt: boolean;
  data: Buffer;
  size: number;
  /** When the native reader read it (av_read_frame returned): CLOCK_MONOTONIC in µs, the clock of process.hrtime (compare with Number(process.hrtime.bigint() / 1000n)). */
  readAtUs: number;
}

export type EndReason = 'eof' | 'idle-timeout' | 'error' | 'closed' | 'replaced';

export interface SessionEndEvent {
  reason: EndReason;
  error?: IngestError;
}

export interface StreamStats {
  index: number;
  type: MediaType;
  packets: number;
  bytes: number;
  keyframes: number;
}

export interface SessionStats {
  /** Date.now() when the session started. */
  startedAt: number;
  /** Date.now() when the last packet batch arrived; undefined before the first. */
  lastPacketAt: number | undefined;
  /** Date.now() when the session ended; undefined while it runs. */
  endedAt: number | undefined;
  packets: number;
  bytes: number;
  keyframes: number;
  corruptPackets: number;
  /** Average bits per second between the first and the last packet (wall clock); 0 until there are two batches. */
  bitrate: number;
  /** Read but never sent to JS: while no JS consumer was attached, only the session's recorders and relays took them. Counted in packets too. */
  undeliveredPackets: number;
  /** Delivered to JS and not yet consumed (held, or queued for a `for await` consumer). */
  bufferedPackets: number;
  bufferedBytes: number;
  /** Per stream, by stream index. */
  streams: StreamStats[];
}

export interface SessionEvents {
  packet: [packet: Packet];
  stream: [stream: StreamInfo];
  metadata: [metadata: Record<string, string>];
  end: [event: SessionEndEvent];
}

/** What a session needs from its ingest. */
export interface SessionHost {
  readonly dispatcher: Dispatcher;
  /** Hands bytes back to the addon (this session's connection). */
  release(bytes: number): void;
  /** The ingest is closing: stop delivering. */
  isClosing(): boolean;
  /** Drops this session's publisher; the ingest goes on. */
  disconnect(): void;
  /** The ingest emitted 'close': no more events. */
  isMuted(): boolean;
  /** Whether the addon sends this session's packets to JS (its sinks get them either way). */
  deliverPackets(deliver: boolean): void;
  /** The packets the addon counted instead of delivering, so far. */
  undelivered(): NativePacketCounts | undefined;
  /** Adds a sink to this session's connection; undefined when the connection is gone. */
  record(options: ResolvedRecordOptions, sessionId: string): Recorder | undefined;
  relay(options: ResolvedRelayOptions): Relay | undefined;
}

export interface SessionInit {
  app: string;
  streamKey: string;
  query: Record<string, string>;
  remoteAddress?: string;
  remotePort?: number;
  streams: readonly NativeStreamInfo[];
  metadata: Record<string, string>;
  host: SessionHost;
  /** Chosen when the publisher was admitted. */
  id?: string;
  /** Sinks added from the ingest's options before the session started. */
  sinks?: readonly (Recorder | Relay)[];
}

/** The ingest's handle on a session's internals (not part of the public API). */
export interface SessionControl {
  /** A job delivering one batch; resumable after a throwing 'packet' handler. */
  batchJob(batch: NativePacketBatch): Job;
  addStream(stream: NativeStreamInfo): void;
  setMetadata(metadata: Record<string, string>): void;
  /** Ends the session (emits 'end' last); no-op if it has ended. `undelivered`: the addon's final count. */
  end(reason: EndReason, error?: IngestError, undelivered?: NativePacketCounts): void;
}

interface Entry {
  packet: Packet;
  /** Consumers that still have to take it. */
  refs: number;
}

interface StreamSlot {
  type: MediaType;
  timeBase: [number, number];
  stats: StreamStats;
}

const DEFAULT_TIME_BASE: [number, number] = Object.freeze([1, 1000]) as unknown as [number, number];

let lastSlab: ArrayBufferLike | undefined;
/**
 * Small packets are views into the addon's slab, which later batches share
 * (as Node's pooled Buffers share their pool): it must never be moved to
 * another thread with postMessage's transfer list. One check per batch.
 */
function guardSlab(slab: ArrayBufferLike): void {
  if (slab === lastSlab) return;
  lastSlab = slab;
  markAsUntransferable(slab);
}

function toStreamInfo(s: NativeStreamInfo): StreamInfo {
  const info: StreamInfo = {
    index: s.index,
    type: s.type,
    codec: s.codec,
    timeBase: [s.timeBase[0], s.timeBase[1]],
    extradata: s.extradata ?? Buffer.alloc(0),
  };
  if (s.profile !== undefined) info.profile = s.profile;
  if (s.level !== undefined) info.level = s.level;
  if (s.width !== undefined) info.width = s.width;
  if (s.height !== undefined) info.height = s.height;
  if (s.frameRate !== undefined) info.frameRate = [s.frameRate[0], s.frameRate[1]];
  if (s.sampleRate !== undefined) info.sampleRate = s.sampleRate;
  if (s.channels !== undefined) info.channels = s.channels;
  if (s.bitRate !== undefined) info.bitRate = s.bitRate;
  return info;
}

let controlOf: (session: IngestSession) => SessionControl;

/** The ingest's access to a session's internals. */
export function sessionControl(session: IngestSession): SessionControl {
  return controlOf(session);
}

export class IngestSession extends EventEmitter<SessionEvents> implements AsyncIterable<Packet> {
  /** Unique id (a UUID). */
  readonly id: string;
  readonly app: string;
  readonly streamKey: string;
  /** The parsed query the publisher sent after its key or app ('?token=...'); {} when none. */
  readonly query: Readonly<Record<string, string>>;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;

  readonly #host: SessionHost;
  readonly #streams: StreamInfo[] = [];
  readonly #slots: (StreamSlot | undefined)[] = [];
  #metadata: Record<string, string>;

  // delivery
  readonly #backlog = new Deque<Entry>();
  #handoverScheduled = false;
  #iterator: AsyncQueue<Entry> | undefined;
  #discarding = false;
  #inBatch = false;

  // accounting (bytes as the addon counts them)
  #delivered = 0;
  #released = 0;
  #pendingRelease = 0;
  #accountingClosed = false;
  #bufferedPackets = 0;
  #bufferedBytes = 0;

  // sinks: while the session has one and no JS consumer, the addon sends its packets to the sinks only
  readonly #recorders = new Set<Recorder>();
  readonly #relays = new Set<Relay>();
  #delivering = true;
  #deliveryCheckQueued = false;
  /** The addon's final count of packets it did not deliver (set at the end). */
  #undelivered: NativePacketCounts | undefined;
  /** Delivery was off at some point: only then has the addon anything counted. */
  #everUndelivered = false;

  // stats
  readonly #startedAt = Date.now();
  #firstPacketAt: number | undefined;
  #lastPacketAt: number | undefined;
  #endedAt: number | undefined;
  #packets = 0;
  #bytes = 0;
  #keyframes = 0;
  #corrupt = 0;

  // end
  #ended = false;
  #endReason: EndReason | undefined;
  #error: IngestError | undefined;

  static {
    controlOf = (s) => s.#control;
  }

  readonly #control: SessionControl = {
    batchJob: (batch) => this.#batchJob(batch),
    addStream: (stream) => this.#addStream(stream),
    setMetadata: (metadata) => this.#setMetadata(metadata),
    end: (reason, error, undelivered) => this.#end(reason, error, undelivered),
  };

  /** Sessions are created by RtmpIngest; there is no use in constructing one. */
  constructor(init: SessionInit) {
    super({ captureRejections: false });
    this.id = init.id ?? randomUUID();
    this.app = init.app;
    this.streamKey = init.streamKey;
    this.query = Object.freeze({ ...init.query });
    this.remoteAddress = init.remoteAddress;
    this.remotePort = init.remotePort;
    this.#host = init.host;
    this.#metadata = { ...init.metadata };
    for (const s of init.streams) this.#addSlot(s);
    (this as EventEmitter).on('newListener', (name: string | symbol) => {
      if (name === 'packet') {
        this.#scheduleHandover();
        this.#scheduleDeliveryCheck();
      }
    });
    (this as EventEmitter).on('removeListener', (name: string | symbol) => {
      if (name === 'packet') this.#scheduleDeliveryCheck();
    });
    for (const sink of init.sinks ?? []) this.#adopt(sink);
  }

  /**
   * Records the session with libavformat's muxers, off the JS thread. Started in a 'session' handler, the
   * recording begins at the GOP in progress (at the first packet when the first GOP is still in progress);
   * options.record of the ingest records from the first packet. A session whose packets only sinks take (no
   * 'packet' listener, no iterator once the handlers that saw 'session' have returned) costs no trip
   * through JS, and its `stats` stop counting; a consumer that attaches later gets packets from then on.
   * Throws ERR_SESSION_ENDED when the session has ended, also when its publisher has already finished and
   * only its 'end' is still on the way (a short publish sent faster than real time).
   */
  record(options: RecordOptions): Recorder {
    const resolved = resolveRecordOptions(options, 'options', this.record);
    const recorder = this.#ended ? undefined : this.#host.record(resolved, this.id);
    if (recorder === undefined) throw this.#endedError(this.record);
    this.#adopt(recorder);
    return recorder;
  }

  /** Publishes the session to another RTMP server (rtmp:// or rtmps://), from the GOP in progress; see record(). */
  relay(url: string | URL, options?: RelayOptions): Relay {
    const resolved = resolveRelayOptions(url, options, this.relay);
    const relay = this.#ended ? undefined : this.#host.relay(resolved);
    if (relay === undefined) throw this.#endedError(this.relay);
    this.#adopt(relay);
    return relay;
  }

  /** The recorders that are still recording. */
  get recorders(): readonly Recorder[] {
    return [...this.#recorders];
  }

  /** The relays that are still running. */
  get relays(): readonly Relay[] {
    return [...this.#relays];
  }

  /** The streams known so far (more may appear: 'stream'). */
  get streams(): readonly StreamInfo[] {
    return this.#streams;
  }

  /** The latest onMetaData values, as strings. */
  get metadata(): Readonly<Record<string, string>> {
    return this.#metadata;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get endReason(): EndReason | undefined {
    return this.#endReason;
  }

  /** Why the session ended, when it ended with an error. */
  get error(): IngestError | undefined {
    return this.#error;
  }

  /** A snapshot of the counters: every packet read, whether JS or only the session's sinks took it. */
  get stats(): SessionStats {
    const extra = this.#undelivered ?? (this.#everUndelivered ? this.#host.undelivered() : undefined);
    let lastPacketAt = this.#lastPacketAt;
    if (extra !== undefined && extra.packets > 0) {
      const at = Date.now() - (Number(process.hrtime.bigint() / 1000n) - extra.lastReadAtUs) / 1000;
      lastPacketAt = Math.round(Math.max(lastPacketAt ?? 0, at));
    }
    const elapsed = this.#firstPacketAt !== undefined && lastPacketAt !== undefined ? lastPacketAt - this.#firstPacketAt : 0;
    const streams: StreamStats[] = [];
    for (const slot of this.#slots) {
      if (slot === undefined) continue;
      const more = extra?.streams[slot.stats.index];
      streams.push(more === undefined ? { ...slot.stats } : { ...slot.stats, packets: slot.stats.packets + more.packets, bytes: slot.stats.bytes + more.bytes, keyframes: slot.stats.keyframes + more.keyframes });
    }
    const bytes = this.#bytes + (extra?.bytes ?? 0);
    return {
      startedAt: this.#startedAt,
      lastPacketAt,
      endedAt: this.#endedAt,
      packets: this.#packets + (extra?.packets ?? 0),
      bytes,
      keyframes: this.#keyframes + (extra?.keyframes ?? 0),
      corruptPackets: this.#corrupt + (extra?.corrupt ?? 0),
      bitrate: elapsed > 0 ? Math.round((bytes * 8 * 1000) / elapsed) : 0,
      undeliveredPackets: extra?.packets ?? 0,
      bufferedPackets: this.#bufferedPackets,
      bufferedBytes: this.#bufferedBytes,
      streams,
    };
  }

  /**
   * Drops the publisher: the session ends with reason 'closed' once the
   * packets read before it are delivered; the ingest goes on. Resolves when
   * the session has ended.
   */
  close(): Promise<void> {
    if (this.#ended) return Promise.resolve();
    const ended = new Promise<void>((resolve) => this.once('end', () => resolve()));
    this.#host.disconnect();
    return ended;
  }

  /**
   * Lets packets that no consumer takes go instead of holding them (like
   * Readable#resume()): for sessions watched only for their events and
   * stats. Packets held so far are let go too.
   */
  resume(): this {
    this.#discarding = true;
    this.#scheduleHandover();
    return this;
  }

  /**
   * The session's packets, in order, with backpressure: bytes go back to
   * the reader as they are pulled. One iterator at a time; the first one also
   * gets the packets kept while no consumer was attached. Finishes when the
   * session ends (after the packets delivered before its end).
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Packet> {
    if (this.#iterator !== undefined && !this.#iterator.done) {
      const e = new IngestError(
        ErrorCode.ITERATOR_ACTIVE,
        'This session already has an active async iterator; packets can be iterated by one consumer at a time',
      );
      Error.captureStackTrace(e, this[Symbol.asyncIterator]);
      throw e;
    }
    const queue = new AsyncQueue<Entry>(
      {
        onTake: (entry) => {
          this.#consume(entry);
          if (!this.#inBatch) this.#flushRelease();
        },
        onReturn: (untaken) => {
          if (this.#iterator === queue) this.#iterator = undefined;
          for (const entry of untaken) this.#consume(entry);
          this.#discarding = true;
          this.#flushRelease();
          this.#scheduleHandover();
          this.#scheduleDeliveryCheck();
        },
      },
    );
    this.#iterator = queue;
    this.#scheduleDeliveryCheck();
    if (this.#ended && this.#backlog.length === 0) queue.end();
    else this.#scheduleHandover(); // it ends the queue after the backlog if the session has ended
    const iterator: AsyncIterableIterator<Packet> = {
      next: () => queue.next().then((r) => (r.done ? r : { done: false, value: r.value.packet })),
      return: () => queue.return().then(() => ({ done: true, value: undefined })),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    return iterator;
  }

  // ---- internals --------------------------------------------------------

  #endedError(stackFrom: Function): IngestError {
    const e = new IngestError(ErrorCode.SESSION_ENDED, 'The session has ended');
    Error.captureStackTrace(e, stackFrom);
    return e;
  }

  #adopt(sink: Recorder | Relay): void {
    const set: Set<Recorder | Relay> = sink instanceof Recorder ? this.#recorders : this.#relays;
    set.add(sink);
    void sink.finished.then(() => {
      set.delete(sink);
      this.#scheduleDeliveryCheck();
    });
    this.#scheduleDeliveryCheck();
  }

  /** After the current synchronous code (a 'session' handler attaching its consumers), decide whether JS still needs the packets. */
  #scheduleDeliveryCheck(): void {
    if (this.#deliveryCheckQueued) return;
    this.#deliveryCheckQueued = true;
    queueMicrotask(() => {
      this.#deliveryCheckQueued = false;
      this.#checkDelivery();
    });
  }

  #checkDelivery(): void {
    if (this.#ended) return;
    const consumer = this.listenerCount('packet') > 0 || this.#iterator !== undefined;
    const wanted = consumer || (this.#recorders.size === 0 && this.#relays.size === 0);
    if (wanted === this.#delivering) return;
    this.#delivering = wanted;
    if (!wanted) this.#everUndelivered = true;
    this.#host.deliverPackets(wanted);
    if (wanted) return;
    // The sinks have every packet: what JS holds for a consumer that never came goes.
    while (this.#backlog.length > 0) {
      const entry = this.#backlog.shift()!;
      entry.refs = 1;
      this.#consume(entry);
    }
    this.#flushRelease();
  }

  #addSlot(s: NativeStreamInfo): StreamInfo {
    const info = toStreamInfo(s);
    const timeBase = Object.freeze([info.timeBase[0], info.timeBase[1]]) as unknown as [number, number];
    const existing = this.#slots[info.index];
    this.#slots[info.index] = {
      type: info.type,
      timeBase,
      stats: existing?.stats ?? { index: info.index, type: info.type, packets: 0, bytes: 0, keyframes: 0 },
    };
    const at = this.#streams.findIndex((x) => x.index === info.index);
    if (at >= 0) this.#streams[at] = info;
    else this.#streams.push(info);
    return info;
  }

  #addStream(s: NativeStreamInfo): void {
    const info = this.#addSlot(s);
    this.#emit('stream', info);
  }

  #setMetadata(metadata: Record<string, string>): void {
    this.#metadata = { ...metadata };
    this.#emit('metadata', this.#metadata);
  }

  #emit<K extends keyof SessionEvents>(name: K, ...args: SessionEvents[K]): void {
    if (this.#host.isMuted()) return;
    (this.emit as (name: string, ...a: unknown[]) => boolean)(name, ...args);
  }

  #batchJob(batch: NativePacketBatch): Job {
    const count = batch.meta.length / PACKET_META_FIELDS;
    guardSlab(batch.meta.buffer);
    let next = 0;
    const external = { next: 0 }; // the next Buffer of batch.data
    let counted = false;
    return {
      run: () => {
        if (!counted) {
          counted = true;
          this.#delivered += batch.bytes;
          const now = Date.now();
          this.#firstPacketAt ??= now;
          this.#lastPacketAt = now;
          if (this.#ended || this.#accountingClosed) {
            // A batch after the end (contract violation): give the bytes back and ignore it.
            this.#host.release(batch.bytes);
            next = count;
            return;
          }
        }
        this.#inBatch = true;
        try {
          while (next < count) {
            if (this.#host.isClosing() || this.#ended) {
              next = count;
              break;
            }
            const i = next++;
            this.#deliver(this.#makePacket(batch, i, external));
          }
        } finally {
          this.#inBatch = false;
        }
        this.#flushRelease();
      },
    };
  }

  /** Packet i of the batch; a zero-copy packet's Buffer is batch.data[external.next], which it advances. */
  #makePacket(batch: NativePacketBatch, i: number, external: { next: number }): Packet {
    const meta = batch.meta;
    const o = i * PACKET_META_FIELDS;
    const streamIndex = meta[o + PacketMeta.StreamIndex]!;
    const flags = meta[o + PacketMeta.Flags]!;
    const size = meta[o + PacketMeta.Size]!;
    const offset = meta[o + PacketMeta.DataOffset]!;
    const data = offset < 0 ? batch.data[external.next++]! : Buffer.from(meta.buffer, offset, size);
    const slot = this.#slots[streamIndex];
    const keyframe = (flags & 1) !== 0;
    const corrupt = (flags & 2) !== 0;
    this.#packets++;
    this.#bytes += size;
    if (keyframe) this.#keyframes++;
    if (corrupt) this.#corrupt++;
    if (slot !== undefined) {
      slot.stats.packets++;
      slot.stats.bytes += size;
      if (keyframe) slot.stats.keyframes++;
    }
    return {
      streamIndex,
      type: slot?.type ?? 'data',
      pts: meta[o + PacketMeta.Pts]!,
      dts: meta[o + PacketMeta.Dts]!,
      duration: meta[o + PacketMeta.Duration]!,
      timeBase: slot?.timeBase ?? DEFAULT_TIME_BASE,
      keyframe,
      corrupt,
      data,
      size,
      readAtUs: meta[o + PacketMeta.ReadAtUs]!,
    };
  }

  /** A packet from the addon: straight to the consumers, or into the backlog. */
  #deliver(packet: Packet): void {
    const listening = this.listenerCount('packet') > 0;
    const iterator = this.#iterator;
    if (this.#backlog.length > 0 || (!listening && iterator === undefined && !this.#discarding && this.#delivering)) {
      this.#bufferedPackets++;
      this.#bufferedBytes += packet.size;
      this.#backlog.push({ packet, refs: 0 });
      return;
    }
    if (iterator === undefined) {
      // The common case: listeners only (or resume()), nothing to keep.
      this.#pendingRelease += packet.size;
      if (listening) this.#emit('packet', packet);
      return;
    }
    this.#bufferedPackets++;
    this.#bufferedBytes += packet.size;
    this.#route({ packet, refs: 0 }, listening);
  }

  /** Hands a buffered entry to the consumers attached now; the synchronous emit comes last (it may throw). */
  #route(entry: Entry, listening = this.listenerCount('packet') > 0): void {
    const iterator = this.#iterator;
    entry.refs = iterator === undefined ? 1 : 2; // one for this call, one for the iterator
    // push() may hand it to a waiting consumer at once (onTake).
    if (iterator !== undefined && !iterator.push(entry)) this.#consume(entry);
    this.#consume(entry);
    if (listening) this.#emit('packet', entry.packet);
  }

  #consume(entry: Entry): void {
    if (entry.refs <= 0) return;
    if (--entry.refs === 0) {
      this.#bufferedPackets--;
      this.#bufferedBytes -= entry.packet.size;
      this.#pendingRelease += entry.packet.size;
    }
  }

  #flushRelease(): void {
    const bytes = this.#pendingRelease;
    if (bytes <= 0) return;
    this.#pendingRelease = 0;
    if (this.#accountingClosed) return;
    this.#released += bytes;
    this.#host.release(bytes);
  }

  /** A consumer attached (or resume()): hand the backlog over on the next tick, before any event not yet dispatched. */
  #scheduleHandover(): void {
    if (this.#handoverScheduled || this.#backlog.length === 0) return;
    this.#handoverScheduled = true;
    // The next tick, so that consumers attached in the same synchronous block all get the backlog.
    this.#host.dispatcher.pushNext({ run: () => this.#runHandover() });
    this.#host.dispatcher.schedule();
  }

  #runHandover(): void {
    this.#inBatch = true;
    try {
      while (this.#backlog.length > 0) {
        if (this.listenerCount('packet') === 0 && this.#iterator === undefined && !this.#discarding) break; // wait for the next consumer
        this.#route(this.#backlog.shift()!);
      }
    } finally {
      this.#inBatch = false;
    }
    this.#handoverScheduled = false;
    if (this.#ended && this.#backlog.length === 0) this.#iterator?.end();
    this.#flushRelease();
  }

  #end(reason: EndReason, error?: IngestError, undelivered?: NativePacketCounts): void {
    if (this.#ended) return;
    this.#undelivered = undelivered ?? (this.#everUndelivered ? this.#host.undelivered() : undefined);
    this.#ended = true;
    this.#endReason = reason;
    this.#error = error;
    this.#endedAt = Date.now();
    this.#flushRelease();
    // Whatever is still held or queued: its bytes go back to the addon now;
    // the packets stay readable.
    const outstanding = this.#delivered - this.#released;
    this.#accountingClosed = true;
    if (outstanding > 0) {
      this.#released += outstanding;
      this.#host.release(outstanding);
    }
    // With a backlog, the handover ends the iterator once it has passed the backlog on.
    if (this.#backlog.length === 0) this.#iterator?.end();
    const event: SessionEndEvent = error === undefined ? { reason } : { reason, error };
    this.#emit('end', event);
  }
}
