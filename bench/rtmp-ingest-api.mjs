// rtmp-ingest as the bench uses it: the public API from dist/ when it is
// built, else the raw native binding behind a small shim with the same shape
// (ingest.listen(), 'session', session 'packet' / 'end'), so the receiver
// code is the same either way. `api` says which one ran; the report prints it.
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './measure.mjs';

const require = createRequire(import.meta.url);

function loadPublic() {
  if (process.env.RTMP_INGEST_BENCH_API === 'raw') return undefined;
  const entry = join(ROOT, 'dist', 'index.js');
  if (!existsSync(entry)) return undefined;
  try {
    const mod = require(entry);
    return typeof mod.RtmpIngest === 'function' ? mod : undefined;
  } catch {
    return undefined;
  }
}

const pub = loadPublic();
export const api = pub ? 'public API (dist/)' : 'native binding (build/Release) + bench shim';

const META = 6; // PACKET_META_FIELDS in lib/native.ts
const AV_LOG_ERROR = 16;

class ShimSession extends EventEmitter {
  constructor(streams) {
    super();
    this.streams = streams;
  }
}

/** The raw binding with the wrapper's shape: one packet object and one emit per packet. */
class ShimIngest extends EventEmitter {
  constructor({ url, keepAlive = true }) {
    super();
    const u = new URL(url);
    const parts = u.pathname.split('/').filter(Boolean);
    const addon = process.env.RTMP_INGEST_ADDON ?? join(ROOT, 'build', 'Release', 'rtmp_ingest.node');
    const { Listener } = require(addon);
    this.listener = new Listener(
      {
        host: u.hostname,
        port: Number(u.port || 1935),
        app: parts.slice(0, -1).join('/'),
        streamKey: parts[parts.length - 1] ?? '',
        keepAlive,
        highWaterMarkBytes: 32 * 1024 * 1024,
        handshakeTimeoutMs: 5000,
        idleTimeoutMs: 10000,
        probeMs: 200, // lib/options.ts default
        logLevel: AV_LOG_ERROR,
      },
      (events) => this.onEvents(events),
    );
    this.session = undefined;
  }
  onEvents(events) {
    for (const e of events) {
      switch (e.type) {
        case 'authorize':
          this.listener.authorize(e.ticket, true);
          break;
        case 'session':
          this.session = new ShimSession(e.streams);
          this.emit('session', this.session);
          break;
        case 'packets': {
          const s = this.session;
          const { meta, data } = e;
          for (let i = 0; i < data.length; i++) {
            const o = i * META;
            const st = s.streams[meta[o]];
            s.emit('packet', {
              streamIndex: meta[o],
              type: st?.type,
              pts: meta[o + 1],
              dts: meta[o + 2],
              duration: meta[o + 3],
              timeBase: st?.timeBase,
              keyframe: (meta[o + 4] & 1) === 1,
              corrupt: (meta[o + 4] & 2) === 2,
              size: data[i].length,
              readAtUs: meta[o + 5],
              data: data[i],
            });
          }
          this.listener.release(e.bytes);
          break;
        }
        case 'end': {
          const s = this.session;
          this.session = undefined;
          s?.emit('end', { reason: e.reason, error: e.error });
          break;
        }
        case 'rejected':
          this.emit('rejected', e);
          break;
        default:
          break;
      }
    }
  }
  async listen() {
    return this.listener.listen();
  }
  async close() {
    this.listener.close();
  }
}

export function createIngest(opts) {
  if (pub) return new pub.RtmpIngest({ logLevel: 'error', ...opts });
  return new ShimIngest(opts);
}
