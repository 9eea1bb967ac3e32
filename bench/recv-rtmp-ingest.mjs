// Receiver 1: rtmp-ingest in this process, counting packets and bytes in a JS
// 'packet' handler; with --latency also taking each packet's hop latency
// (now - readAtUs: a clock read and two array pushes per packet, left out of
// the throughput runs, where the other receivers only count).
// node bench/recv-rtmp-ingest.mjs [--listeners N] [--ports a,b,..] [--progress BYTES] [--latency]
// stdout: JSON lines {t:'ready'|'session'|'first'|'progress'|'done', ...}.
import { parseArgs } from 'node:util';
import { api, createIngest } from './rtmp-ingest-api.mjs';

const { values } = parseArgs({
  options: {
    listeners: { type: 'string', default: '1' },
    ports: { type: 'string', default: '' },
    progress: { type: 'string', default: '0' },
    latency: { type: 'boolean', default: false },
    'max-seconds': { type: 'string', default: '600' },
  },
});
const n = Number(values.listeners);
const ports = values.ports ? values.ports.split(',').map(Number) : [];
const progressEvery = Number(values.progress);
const takeLatency = values.latency;
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const mono = () => Number(process.hrtime.bigint() / 1000n);
const wall = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

const latencies = [];
// Packets read after their session's 'session' event (not held back while the streams were probed).
const steady = [];
const stats = [];
let open = n;
let totalBytes = 0;
let nextProgress = progressEvery;

const ingests = [];
for (let i = 0; i < n; i++) {
  const ingest = createIngest({ url: `rtmp://127.0.0.1:${ports[i] ?? 0}/live/bench`, keepAlive: false });
  const st = { packets: 0, bytes: 0, video: 0, audio: 0, end: undefined };
  stats.push(st);
  ingest.on('session', (s) => {
    const sessionAt = { monoUs: mono(), wallUs: wall() };
    if (i === 0) say({ t: 'session', ...sessionAt, streams: s.streams?.map((x) => `${x.type}:${x.codec}`) });
    let first = true;
    s.on('packet', (p) => {
      if (takeLatency) {
        const lat = mono() - p.readAtUs;
        latencies.push(lat);
        if (p.readAtUs > sessionAt.monoUs) steady.push(lat);
      }
      st.packets++;
      st.bytes += p.size;
      if (p.type === 'video') st.video++;
      else if (p.type === 'audio') st.audio++;
      if (first) {
        first = false;
        if (i === 0) say({ t: 'first', monoUs: mono(), wallUs: wall(), readAtUs: p.readAtUs, sessionMonoUs: sessionAt.monoUs });
      }
      if (progressEvery) {
        totalBytes += p.size;
        if (totalBytes >= nextProgress) {
          nextProgress += progressEvery;
          say({ t: 'progress', bytes: totalBytes, monoUs: mono() });
        }
      }
    });
    s.on('end', (e) => {
      st.end = e.reason + (e.error ? `: ${e.error.code ?? ''} ${e.error.message ?? ''}` : '');
      if (--open === 0) void finish();
    });
  });
  ingests.push(ingest);
}

function summary(values) {
  const sorted = Float64Array.from(values).sort();
  const q = (x) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.round(x * (sorted.length - 1)))] : NaN);
  return { count: sorted.length, p50: q(0.5), p99: q(0.99), p999: q(0.999), max: sorted[sorted.length - 1] ?? NaN };
}

let finishing = false;
async function finish() {
  if (finishing) return;
  finishing = true;
  say({
    t: 'done',
    api,
    listeners: stats,
    packets: stats.reduce((a, s) => a + s.packets, 0),
    bytes: stats.reduce((a, s) => a + s.bytes, 0),
    latencyUs: summary(latencies),
    steadyLatencyUs: summary(steady),
  });
  await Promise.all(ingests.map((g) => g.close()));
  process.exit(0);
}

const bound = await Promise.all(ingests.map((g) => g.listen()));
say({ t: 'ready', api, ports: bound.map((b) => b.port), monoUs: mono() });
setTimeout(() => {
  say({ t: 'timeout' });
  void finish();
}, Number(values['max-seconds']) * 1000).unref();
