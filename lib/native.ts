// The contract between lib/ and the native addon (native/). The addon is a
// thin core: a server binds the port and accepts; each connection runs
// libavformat's RTMP input on a thread of its own; what happens is reported
// as batches of events, each naming its connection. Every policy (routing by
// app and key, authorize, duplicate keys, keep-alive, events, async iteration)
// lives in TypeScript.

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

/** Doubles per batch in the groups array of a packets-only delivery: connection, packets, bytes. */
export const PACKET_GROUP_FIELDS = 3;

export interface NativePacketBatch {
  type: 'packets';
  connection: number;
  // PACKET_META_FIELDS doubles per packet, in read order. A view into a
  // slab ArrayBuffer that the addon shares between batches; small packets
  // are copied into it as well (see DataOffset).
  meta: Float64Array;
  data: Buffer[]; // the other packets, zero-copy over the AVPacket where allowed, in order
  bytes: number; // sum of sizes: hand it back with release() once consumed
}

/**
 * Every event names its connection (an id the server gives each accepted connection, never reused; 0 for the
 * server's own 'stopped' and for its 'log' lines). Per connection, events come in this order: 'connection',
 * then either 'rejected' or 'authorize'. After a denied verdict nothing more comes for that connection. After an
 * allowed one: 'session' (always, even when the publisher left before sending media: then with no streams), then
 * 'stream' / 'metadata' / 'packets' in read order, then exactly one 'end'. Every connection that had a
 * 'connection' event ends with 'closed', once its socket is closed (after the publisher closed its side, or a
 * grace period). A connection refused before its 'connection' event (over a connection limit, or without a
 * valid PROXY header) gets one 'rejected' and nothing else. 'log' may come at any point; 'stopped' comes last, and only when the server ended by itself.
 */
export type NativeEvent =
  /** TCP connection accepted (and its PROXY header read); the RTMP handshake starts. */
  | { type: 'connection'; connection: number; remoteAddress: string; remotePort: number }
  /** The publisher sent connect + publish. Its connection waits for authorize(connection, verdict). */
  | { type: 'authorize'; connection: number; app: string; streamKey: string; remoteAddress: string; remotePort: number }
  /** The connection failed or was refused before publishing started. */
  | {
      type: 'rejected';
      connection: number;
      reason: 'handshake-timeout' | 'protocol-error' | 'too-many-connections';
      remoteAddress: string;
      remotePort: number;
      error?: NativeError;
    }
  /** Streams are known (within the probe budget of the first media packet); packets follow. */
  | { type: 'session'; connection: number; streams: NativeStreamInfo[]; metadata: Record<string, string> }
  /** A stream that appeared after 'session'; its packets follow this event. */
  | { type: 'stream'; connection: number; stream: NativeStreamInfo }
  /** onMetaData changed mid-session. */
  | { type: 'metadata'; connection: number; metadata: Record<string, string> }
  | NativePacketBatch
  /** The session ended; every packet read before it was delivered before this event (or, while delivery was off, counted in `undelivered`). */
  | { type: 'end'; connection: number; reason: 'eof' | 'idle-timeout' | 'error' | 'closed'; error?: NativeError; undelivered?: NativePacketCounts }
  /** The connection's socket is closed and its thread done: its last event. */
  | { type: 'closed'; connection: number }
  /** An FFmpeg log line from one of this server's threads, already filtered by logLevel. */
  | { type: 'log'; connection: number; level: number; message: string }
  /** The server stopped by itself (a fatal accept error). */
  | { type: 'stopped'; connection: number; error?: NativeError }
  | NativeSinkEvent;

/** Packets a connection read but did not send to JS (deliverPackets(connection, false): only its sinks took them). */
export interface NativePacketCounts {
  packets: number;
  bytes: number;
  keyframes: number;
  corrupt: number;
  lastReadAtUs: number; // CLOCK_MONOTONIC µs of the latest
  streams: { packets: number; bytes: number; keyframes: number }[]; // by stream index
}

/** A sink's counters: a recorder's or a relay's (packets = written or sent). */
export interface NativeSinkStats {
  packets: number;
  bytes: number;
  segments: number;
  droppedPackets: number;
  timestampFixups: number;
  reconnects: number;
}

/**
 * What a sink (a recorder or a relay of a connection's session) reports. Its last event is 'ended', with its
 * final stats (and a recorder's last segment in path/durationMs/bytes); it may come after its connection's 'closed'.
 */
export interface NativeSinkEvent {
  type: 'sink';
  connection: number;
  sink: number;
  what: 'segment' | 'error' | 'dropped' | 'connected' | 'disconnected' | 'ended';
  path?: string; // 'segment', 'ended', 'error' (the file)
  durationMs: number; // 'segment', 'ended'
  bytes: number; // 'segment', 'ended': the file's size
  count: number; // 'dropped': packets
  stats?: NativeSinkStats; // 'ended'
  error?: NativeError; // 'error', 'disconnected'
}

/** A recorder as the addon takes it: lib/sinks.ts resolves every field. */
export interface NativeRecordOptions {
  path: string; // the pattern with {app} {streamKey} {sessionId} already put in; strftime fields expanded per file
  format: 'mp4' | 'mkv' | 'mpegts' | 'flv';
  segmentMs: number; // 0: one file
  maxBufferMs: number;
}

export interface NativeRelayOptions {
  url: string;
  maxBufferMs: number;
  ioOptions: Record<string, string>; // AVOptions for avio_open2 (TLS: ca_file, tls_verify, ...)
}

/** Every field is required: lib/options.ts defines the defaults, the addon has none. */
export interface NativeServerOptions {
  host: string; // IP literal or name to bind ('0.0.0.0', '127.0.0.1', '::')
  port: number; // 0 picks a free port
  reusePort: boolean; // SO_REUSEPORT
  proxyProtocol: boolean; // every connection starts with a PROXY protocol v1 or v2 header
  maxConnections: number; // open connections, handshaking ones included
  maxConnectionsPerAddress: number;
  highWaterMarkBytes: number; // per connection
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  probeMs: number; // how long after the first media packet to wait for the other announced streams
  logLevel: number; // AV_LOG_* value; lines above it are not reported
}

export interface NativeServer {
  /** Binds and listens synchronously, then starts accepting. Throws an Error with `code` (EADDRINUSE, EACCES, ...). */
  listen(): { host: string; port: number };
  /** The verdict for a connection's 'authorize' event. */
  authorize(connection: number, allow: boolean): void;
  /**
   * Bytes of a connection's delivered packets that JS has consumed; the connection stops reading while more than
   * highWaterMarkBytes are outstanding. Never goes below 0. A connection that is gone is ignored.
   */
  release(connection: number, bytes: number): void;
  /** Ends the connection's session with reason 'closed'. */
  disconnect(connection: number): void;
  /** Whether the connection's packets go to JS (default true); off, only its sinks get them, and they are counted. */
  deliverPackets(connection: number, deliver: boolean): void;
  /** What was counted instead of delivered so far; undefined when the connection is gone (its 'end' carried the totals). */
  undelivered(connection: number): NativePacketCounts | undefined;
  /** Adds a recorder to the connection's session: its sink id, 0 when the connection is gone. Added before authorize(), it gets every packet; later, it starts at the GOP in progress. */
  record(connection: number, options: NativeRecordOptions): number;
  /** Adds a relay, like record(). */
  relay(connection: number, options: NativeRelayOptions): number;
  /** A recorder writes what it holds and finishes its file; a relay disconnects at once. Its 'ended' follows. */
  stopSink(sink: number): void;
  /** undefined once the sink has ended (its 'ended' event carried the final stats). */
  sinkStats(sink: number): NativeSinkStats | undefined;
  /** Stops accepting, closes every socket, joins every thread (recorders finish their files). Idempotent; no event is delivered after it returns. */
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
  tls: string;
}

export type NativeEventsCallback = {
  (events: NativeEvent[]): void;
  (events: null, meta: Float64Array, data: Buffer[], groups: Float64Array): void;
};

export interface NativeBinding {
  /**
   * onEvents gets the events in order. A delivery that is nothing but packets (most of them), of one connection
   * or of many, comes as onEvents(null, meta, data, groups): the batches' rows one after another in meta, their
   * zero-copy Buffers in data, and per batch PACKET_GROUP_FIELDS doubles in groups (connection, packets, bytes),
   * so that the addon builds no event object for them.
   */
  Server: new (options: NativeServerOptions, onEvents: NativeEventsCallback) => NativeServer;
  buildInfo(): BuildInfo;
}
