// The contract between lib/ and the native addon (native/). The addon is a
// thin core: it binds the port, runs libavformat's RTMP listener on a thread
// of its own and reports what happens as batches of events. Every policy
// (stream-key checks, authorize, keep-alive bookkeeping, timeouts as options,
// events, async iteration) lives in TypeScript.

/** An error as the addon reports it: a stable code and, for FFmpeg errors, the AVERROR. */
export interface NativeError {
  code: string; // 'EADDRINUSE', 'ECONNRESET', 'ERR_FFMPEG_INVALIDDATA', ...
  message: string;
  averror?: number; // negative AVERROR value when FFmpeg reported it
}

/** A stream as the addon describes it; the public StreamInfo is this shape (lib/session.ts copies it). */
export interface NativeStreamInfo {
  index: number;
  type: 'video' | 'audio' | 'data';
  /** FFmpeg codec name: 'h264', 'aac', 'hevc', 'av1', ... */
  codec: string;
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
  frameRate?: [number, number];
  sampleRate?: number;
  channels?: number;
  bitRate?: number;
  timeBase: [number, number];
  /** Codec configuration (avcC, AudioSpecificConfig, ...); empty when there is none. */
  extradata: Buffer;
}

/** Doubles per packet in NativePacketBatch.meta. */
export const PACKET_META_FIELDS = 8;
/** Offsets into one packet's slice of NativePacketBatch.meta. */
export const enum PacketMeta {
  StreamIndex = 0,
  Pts = 1, // AV_NOPTS_VALUE is reported as NaN
  Dts = 2,
  Duration = 3,
  Flags = 4, // bit 0: keyframe, bit 1: corrupt
  ReadAtUs = 5, // when av_read_frame returned it: CLOCK_MONOTONIC in µs (process.hrtime's clock)
  Size = 6, // bytes
  DataOffset = 7, // where a copied packet's bytes are in meta.buffer; -1: its Buffer is the next one in data
}

export interface NativePacketBatch {
  type: 'packets';
  // PACKET_META_FIELDS doubles per packet, in read order. A view into a
  // slab ArrayBuffer that the addon shares between batches; small packets
  // are copied into it as well (see DataOffset).
  meta: Float64Array;
  data: Buffer[]; // the other packets, zero-copy over the AVPacket where allowed, in order
  bytes: number; // sum of sizes: hand it back with release() once consumed
}

/**
 * Per connection, events come in this order: 'connection', then either 'rejected' or 'authorize'. After a
 * denied verdict nothing more comes for that connection. After an allowed one: 'session' (always, even when the
 * publisher left before sending media: then with no streams), then 'stream' / 'metadata' / 'packets' in read
 * order, then exactly one 'end'. 'log' may come at any point; 'stopped' comes last, and only when the reader
 * ended by itself.
 */
export type NativeEvent =
  /** TCP connection accepted; the RTMP handshake starts (handshake timeout runs from here). */
  | { type: 'connection'; remoteAddress: string; remotePort: number }
  /** The publisher sent connect + publish. The reader waits for authorize(ticket, verdict). */
  | { type: 'authorize'; ticket: number; app: string; streamKey: string; remoteAddress: string; remotePort: number }
  /** The connection failed before publishing started. */
  | { type: 'rejected'; reason: 'handshake-timeout' | 'protocol-error'; remoteAddress: string; remotePort: number; error?: NativeError }
  /** Streams are known (within the probe budget of the first media packet); packets follow. */
  | { type: 'session'; streams: NativeStreamInfo[]; metadata: Record<string, string> }
  /** A stream that appeared after 'session'; its packets follow this event. */
  | { type: 'stream'; stream: NativeStreamInfo }
  /** onMetaData changed mid-session. */
  | { type: 'metadata'; metadata: Record<string, string> }
  | NativePacketBatch
  /** The session ended; every packet read before it was delivered before this event. */
  | { type: 'end'; reason: 'eof' | 'idle-timeout' | 'error' | 'closed'; error?: NativeError }
  /** An FFmpeg log line from this listener's thread, already filtered by logLevel. */
  | { type: 'log'; level: number; message: string }
  /** The reader thread ended by itself (keepAlive false, or a fatal listen error). */
  | { type: 'stopped'; error?: NativeError };

export interface NativeListenerOptions {
  host: string; // IP literal or name to bind ('0.0.0.0', '127.0.0.1', '::')
  port: number; // 0 picks a free port
  app: string; // the URL's app path (without leading and trailing '/')
  streamKey: string; // the URL's last segment (FFmpeg compares it and only warns)
  keepAlive: boolean;
  highWaterMarkBytes: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  probeMs: number; // how long after the first media packet to wait for the other announced streams
  logLevel: number; // AV_LOG_* value; lines above it are not reported
}

export interface NativeListener {
  /** Binds and listens synchronously, then starts the reader thread. Throws an Error with `code` (EADDRINUSE, EACCES, ...). */
  listen(): { host: string; port: number };
  /** The verdict for an 'authorize' event. */
  authorize(ticket: number, allow: boolean): void;
  /**
   * Bytes of delivered packets that JS has consumed; the reader waits while more than highWaterMarkBytes are
   * outstanding. The count is per connection (it restarts at 0 when a publisher connects) and never goes below 0.
   */
  release(bytes: number): void;
  /** Ends the current publisher's session with reason 'closed'; the listener goes on as keepAlive says. */
  disconnect(): void;
  /** Stops the reader, closes every socket, joins the thread. Idempotent; no event is delivered after it returns. */
  close(): void;
  ref(): void;
  unref(): void;
}

export interface BuildInfo {
  addonVersion: string;
  ffmpegVersion: string;
  libavformatVersion: string;
  configuration: string;
  license: string;
}

export type NativeEventsCallback = {
  (events: NativeEvent[]): void;
  (events: null, meta: Float64Array, data: Buffer[], bytes: number): void;
};

export interface NativeBinding {
  /**
   * onEvents gets the events in order. A delivery that is nothing but packets (most of them) comes as
   * onEvents(null, meta, data, bytes): the parts of one NativePacketBatch as arguments, so that the addon builds
   * no event object for it.
   */
  Listener: new (options: NativeListenerOptions, onEvents: NativeEventsCallback) => NativeListener;
  buildInfo(): BuildInfo;
}
