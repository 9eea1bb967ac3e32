// A receiver for many publishers on one port (bench/many.mjs): rtmp-ingest
// taking any key, or node-media-server as shipped. Counts every session's
// packets, rtmp-ingest's hop latency (av_read_frame -> 'packet' handler),
// and the process's peak thread count; exits once `sessions` sessions have
// ended (or after max-seconds).
//   node bench/recv-many.mjs --receiver rtmp-ingest|node-media-server --port P --sessions N
// stdout: {t:'ready'}, then {t:'done', sessions, packets, bytes, perSession, hopP50Ms, hopP99Ms, threadsPeak}
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { values } = parseArgs({
  options: {
    receiver: { type: 'string' },
    port: { type: 'string' },
    sessions: { type: 'string' },
    'max-seconds': { type: 'string', default: '600' },
  },
});
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const mono = () => Number(process.hrtime.bigint() / 1000n);
const port = Number(values.port);
const expected = Number(values.sessions);

import { performance } from 'node:perf_hooks';

let threadsPeak = 0;
// The JS thread's busy share (event loop utilization), every second.
const elu = [];
let lastElu = performance.eventLoopUtilization();
setInterval(() => {
  const now = performance.eventLoopUtilization();
  elu.push(Math.round(performance.eventLoopUtilization(now, lastElu).utilization * 100));
  lastElu = now;
}, 1000).unref();
const threads = () => Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
setInterval(() => (threadsPeak = Math.max(threadsPeak, threads())), 250).unref();

const perSession = [];
const hops = []; // µs, a sample of every 8th packet
let ended = 0;
let packets = 0;
let bytes = 0;
let finished = false;
let stop = async () => {};

function sessionEnded() {
  if (++ended >= expected) void finish();
}

async function finish() {
  if (finished) return;
  finished = true;
  hops.sort((a, b) => a - b);
  const q = (p) => (hops.length ? hops[Math.min(hops.length - 1, Math.floor(hops.length * p))] / 1000 : undefined);
  say({ t: 'done', sessions: perSession.length, ended, packets, bytes, perSession, hopP50Ms: q(0.5), hopP99Ms: q(0.99), threadsPeak, eluPercentBySecond: elu });
  await stop();
  process.exit(0);
}

if (values.receiver === 'rtmp-ingest') {
  const { RtmpIngest } = await import('../dist/index.mjs');
  const ingest = new RtmpIngest({
    url: `rtmp://127.0.0.1:${port}`,
    maxConnections: 100_000,
    maxConnectionsPerAddress: 100_000,
    // A publisher process of bench/many.mjs opens all its outputs before it
    // sends media on any: the first ones wait for the last (seconds, at 50
    // outputs a process), which a real encoder does not do.
    handshakeTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
  });
  ingest.on('session', (session) => {
    const counts = { packets: 0, bytes: 0, end: undefined };
    perSession.push(counts);
    let n = 0;
    session.on('packet', (p) => {
      counts.packets++;
      counts.bytes += p.size;
      packets++;
      bytes += p.size;
      if ((n++ & 7) === 0) hops.push(mono() - p.readAtUs);
    });
    session.once('end', (e) => {
      counts.end = e.reason;
      sessionEnded();
    });
  });
  await ingest.listen();
  stop = () => ingest.close();
} else if (values.receiver === 'node-media-server') {
  const NodeMediaServer = require('node-media-server');
  const logger = require('node-media-server/src/core/logger.js');
  const storeDir = mkdtempSync(join(tmpdir(), 'bench-nms-many-'));
  const nms = new NodeMediaServer({ bind: '127.0.0.1', rtmp: { port }, store: { path: storeDir } });
  logger.level = 'error';
  nms.on('postPublish', (session) => {
    const counts = { packets: 0, bytes: 0, end: undefined };
    perSession.push(counts);
    const original = session.broadcast.broadcastMessage;
    session.broadcast.broadcastMessage = (packet) => {
      // As bench/recv-nms.mjs: audio and video frames, not codec headers or metadata.
      if ((packet.codec_type === 8 || packet.codec_type === 9) && (packet.flags === 1 || packet.flags === 3 || packet.flags === 4)) {
        counts.packets++;
        counts.bytes += packet.size;
        packets++;
        bytes += packet.size;
      }
      return original(packet);
    };
    session.socket.once('close', () => {
      counts.end = 'close';
      sessionEnded();
    });
  });
  await nms.run();
  stop = async () => {
    try {
      await nms.stop();
    } catch {
      /* best effort */
    }
    rmSync(storeDir, { recursive: true, force: true });
  };
} else {
  throw new Error(`unknown receiver ${values.receiver}`);
}
say({ t: 'ready', ports: [port] });
setTimeout(() => {
  say({ t: 'timeout' });
  void finish();
}, Number(values['max-seconds']) * 1000).unref();
