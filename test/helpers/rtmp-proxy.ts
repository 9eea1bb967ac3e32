// A TCP proxy between a real RTMP publisher and a listener that follows the
// publisher's RTMP chunk stream (client -> server) and, once a byte budget is
// used up, corrupts it at a chunk boundary. For fault tests: what a listener
// delivers before the corruption is known exactly (the audio/video messages
// that had been forwarded whole).
//
// Client -> server parsing (RTMP 1.0 spec, with FFmpeg's reader semantics):
// C0 + C1 + C2 (3073 bytes), then chunks: basic header (1-3 bytes), message
// header (11/7/3/0 bytes for fmt 0/1/2/3), an extended timestamp when the
// timestamp field is 0xFFFFFF (for fmt 3: when the channel's last one was),
// then up to chunkSize payload bytes. Set Chunk Size (type 1) from the client
// changes chunkSize after its message completes.
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { onTestFinished } from 'vitest';

export type Corruption =
  /** One complete Set Chunk Size message with size 0 (FFmpeg: "Incorrect chunk size", AVERROR_INVALIDDATA); forwarding stops, the connection stays open. */
  | { kind: 'zero-chunk-size' }
  /** `bytes` of seeded pseudo-random data instead of the rest of the stream; the connection stays open afterwards. */
  | { kind: 'garbage'; bytes: number; seed: number }
  /** The connection is reset (RST), as a publisher's kernel does when it closes with unread data. */
  | { kind: 'reset' };

export interface CorruptingProxyOptions {
  /** Upstream listener port on 127.0.0.1. */
  targetPort: number;
  /** Corrupt at the first chunk boundary after this many client -> server bytes (handshake included). */
  afterBytes: number;
  corruption: Corruption;
  /**
   * After the corruption, what the upstream connection does when the publisher closes its side:
   * 'close' (default) closes it too; 'hold' keeps it open and silent until the listener closes it.
   */
  afterPublisherLeaves?: 'close' | 'hold';
}

export interface ProxyReport {
  /** Client -> server bytes forwarded unmodified before the corruption. */
  forwardedBytes: number;
  /** Complete audio (8) / video (9) messages forwarded before the corruption. */
  avMessages: number;
  /** Whether the corruption was sent (the stream reached afterBytes). */
  corrupted: boolean;
  /** The client -> server chunk size in force at the corruption point. */
  chunkSize: number;
}

export interface CorruptingProxy {
  port: number;
  /** Resolves once the (first) proxied connection has been corrupted. */
  corrupted: Promise<ProxyReport>;
  report(): ProxyReport;
  close(): Promise<void>;
}

/** Deterministic bytes (xorshift32). */
export function pseudoRandomBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const HANDSHAKE_BYTES = 1 + 1536 + 1536;

interface Unit {
  bytes: Buffer;
  completesAv: boolean;
}

interface Channel {
  length: number;
  type: number;
  tsField: number;
  remaining: number; // of the message being read; 0 when none
  payload: Buffer[];
}

/** Splits a client -> server RTMP byte stream into whole units (the handshake, then chunks). */
class ChunkSplitter {
  #buf: Buffer = Buffer.alloc(0);
  #handshakeLeft = HANDSHAKE_BYTES;
  #channels = new Map<number, Channel>();
  chunkSize = 128;

  /** Feeds bytes; returns the whole units now available (handshake pieces, complete chunks), each with whether it completes an audio/video message. */
  push(data: Buffer): Unit[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, data]) : data;
    const units: Unit[] = [];
    if (this.#handshakeLeft > 0) {
      const n = Math.min(this.#handshakeLeft, this.#buf.length);
      if (n > 0) {
        units.push({ bytes: this.#buf.subarray(0, n), completesAv: false });
        this.#buf = this.#buf.subarray(n);
        this.#handshakeLeft -= n;
      }
      if (this.#handshakeLeft > 0) return units;
    }
    for (;;) {
      const len = this.#nextChunkLength();
      if (len === undefined) break;
      const chunk = this.#buf.subarray(0, len);
      this.#buf = this.#buf.subarray(len);
      units.push({ bytes: chunk, completesAv: this.#consumeChunk(chunk) });
    }
    return units;
  }

  /** Bytes of the next complete chunk, or undefined if it has not fully arrived. */
  #nextChunkLength(): number | undefined {
    const b = this.#buf;
    if (b.length < 1) return undefined;
    const fmt = b[0]! >> 6;
    let csid = b[0]! & 0x3f;
    let off = 1;
    if (csid === 0) {
      if (b.length < 2) return undefined;
      csid = 64 + b[1]!;
      off = 2;
    } else if (csid === 1) {
      if (b.length < 3) return undefined;
      csid = 64 + b[1]! + b[2]! * 256;
      off = 3;
    }
    const header = [11, 7, 3, 0][fmt]!;
    if (b.length < off + header) return undefined;
    const ch = this.#channels.get(csid);
    let tsField = ch?.tsField ?? 0;
    let length = ch?.length ?? 0;
    if (fmt <= 2) tsField = b.readUIntBE(off, 3);
    if (fmt <= 1) length = b.readUIntBE(off + 3, 3);
    off += header;
    if (tsField === 0xffffff) off += 4;
    const remaining = ch && ch.remaining > 0 ? ch.remaining : length;
    const total = off + Math.min(remaining, this.chunkSize);
    return b.length >= total ? total : undefined;
  }

  /** Updates the channel state; true when the chunk completes an audio/video message. */
  #consumeChunk(c: Buffer): boolean {
    const fmt = c[0]! >> 6;
    let csid = c[0]! & 0x3f;
    let off = 1;
    if (csid === 0) {
      csid = 64 + c[1]!;
      off = 2;
    } else if (csid === 1) {
      csid = 64 + c[1]! + c[2]! * 256;
      off = 3;
    }
    let ch = this.#channels.get(csid);
    if (!ch) {
      ch = { length: 0, type: 0, tsField: 0, remaining: 0, payload: [] };
      this.#channels.set(csid, ch);
    }
    if (fmt <= 2) ch.tsField = c.readUIntBE(off, 3);
    if (fmt <= 1) {
      ch.length = c.readUIntBE(off + 3, 3);
      ch.type = c[off + 6]!;
    }
    off += [11, 7, 3, 0][fmt]!;
    if (ch.tsField === 0xffffff) off += 4;
    if (ch.remaining === 0) {
      ch.remaining = ch.length;
      ch.payload = [];
    }
    const payload = c.subarray(off);
    ch.remaining -= payload.length;
    if (ch.type === 1) ch.payload.push(Buffer.from(payload));
    if (ch.remaining !== 0) return false;
    if (ch.type === 1) {
      const p = Buffer.concat(ch.payload);
      if (p.length >= 4) this.chunkSize = p.readUInt32BE(0) & 0x7fffffff;
    }
    return ch.type === 8 || ch.type === 9;
  }
}

/** A Set Chunk Size message (protocol control: chunk stream 2, message stream 0) announcing `size`. */
function setChunkSizeChunk(size: number): Buffer {
  const c = Buffer.alloc(12 + 4);
  c[0] = 0x02; // fmt 0, csid 2
  c.writeUIntBE(0, 1, 3); // timestamp
  c.writeUIntBE(4, 4, 3); // message length
  c[7] = 1; // type: Set Chunk Size
  c.writeUInt32LE(0, 8); // message stream id
  c.writeUInt32BE(size >>> 0, 12);
  return c;
}

/**
 * Listens on 127.0.0.1 (free port) and forwards each connection to
 * 127.0.0.1:targetPort; the first connection's client -> server stream is
 * corrupted as configured. Server -> client bytes pass unchanged. When one
 * side closes, the other is closed too.
 */
export async function startCorruptingProxy(opts: CorruptingProxyOptions): Promise<CorruptingProxy> {
  const sockets = new Set<Socket>();
  const splitter = new ChunkSplitter();
  let forwarded = 0;
  let avMessages = 0;
  let corrupted = false;
  let first = true;
  let resolveCorrupted!: (r: ProxyReport) => void;
  const corruptedPromise = new Promise<ProxyReport>((r) => {
    resolveCorrupted = r;
  });
  const report = (): ProxyReport => ({ forwardedBytes: forwarded, avMessages, corrupted, chunkSize: splitter.chunkSize });

  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: opts.targetPort });
    sockets.add(client);
    sockets.add(upstream);
    const tracked = first;
    first = false;
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.on('close', () => {
      sockets.delete(client);
      if (!(tracked && corrupted && opts.afterPublisherLeaves === 'hold')) upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('data', (d) => client.write(d));
    client.on('data', (d: Buffer) => {
      if (!tracked) {
        upstream.write(d);
        return;
      }
      if (corrupted) return; // the rest of the publisher's stream is dropped
      for (const unit of splitter.push(d)) {
        if (forwarded >= opts.afterBytes) {
          corrupted = true;
          const c = opts.corruption;
          if (c.kind === 'reset') upstream.resetAndDestroy();
          else upstream.write(c.kind === 'zero-chunk-size' ? setChunkSizeChunk(0) : pseudoRandomBytes(c.bytes, c.seed));
          resolveCorrupted(report());
          return;
        }
        upstream.write(unit.bytes);
        forwarded += unit.bytes.length;
        if (unit.completesAv) avMessages++;
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }));
  // Like spawnTracked's children: closed when the test that started it ends.
  try {
    onTestFinished(close);
  } catch {
    /* not inside a test: the caller closes it */
  }
  return { port, corrupted: corruptedPromise, report, close };
}
