#!/usr/bin/env node
// Paired A/B runs of rtmp-ingest against itself: two builds (or one build
// under two environments), the same publish to each in turn, alternating
// which goes first (A B, B A, ...), so that drift of a shared machine falls
// on both. Per round the ratio B/A; the medians of each side and of the
// ratios. Uses the cached inputs of the full bench (bench/.cache/inputs, or
// --inputs-dir).
//   node bench/ab.mjs --a ROOT_A --b ROOT_B --input audio-128k --publisher gst4096 --rounds 6 [--realtime] [--latency]
//   --a/--b       a build's root (its dist/ and build/); default this checkout
//   --env-a/--env-b  NAME=VALUE,... added to that side's receiver environment
//   --input       an id of bench/inputs.mjs MATRIX (main: the 1080p60 input)
//   --clip        use the input's first-N-seconds clip made by the full bench (realtime runs)
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runHopLatency } from './latency.mjs';
import { CACHE_DIR, median, ROOT } from './measure.mjs';
import { runTrial } from './throughput.mjs';

const { values: a } = parseArgs({
  options: {
    a: { type: 'string', default: ROOT },
    b: { type: 'string', default: ROOT },
    'env-a': { type: 'string', default: '' },
    'env-b': { type: 'string', default: '' },
    input: { type: 'string', default: 'audio-128k' },
    clip: { type: 'string', default: '' },
    publisher: { type: 'string', default: 'gst4096' },
    rounds: { type: 'string', default: '6' },
    realtime: { type: 'boolean', default: false },
    latency: { type: 'boolean', default: false },
    'inputs-dir': { type: 'string', default: join(CACHE_DIR, 'inputs') },
  },
});

const prefix = { 'audio-128k': 'audio-128k-aac128k-', main: 'main-1920x1080p60-20000k-60s' }[a.input] ?? `${a.input}-`;
const files = readdirSync(a['inputs-dir']).filter((f) => f.startsWith(prefix) && f.endsWith('.flv'));
const file = files.find((f) => (a.clip ? f.endsWith(`-first${a.clip}s.flv`) : !f.includes('-first')));
if (!file) throw new Error(`no input ${a.input}${a.clip ? ` clip ${a.clip}s` : ''} in ${a['inputs-dir']}`);
const path = join(a['inputs-dir'], file);
const info = JSON.parse(readFileSync(path.replace(/\.flv$/, '.v2.json'), 'utf8'));
const seconds = Number(a.clip || /-(\d+)s(-grain\d+)?\.flv$/.exec(file)?.[1] || 60);
const input = { file: path, ...info, spec: { seconds } };

const parseEnv = (s) => Object.fromEntries(s.split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const sides = { A: { root: a.a, env: parseEnv(a['env-a']) }, B: { root: a.b, env: parseEnv(a['env-b']) } };
for (const s of Object.values(sides)) if (!existsSync(join(s.root, 'dist', 'index.js'))) throw new Error(`${s.root}: no dist/`);

const base = { ...process.env };
async function run(side) {
  const s = sides[side];
  for (const k of Object.keys(process.env)) if (!(k in base)) delete process.env[k];
  Object.assign(process.env, base, s.env, { RTMP_INGEST_BENCH_ROOT: s.root });
  if (a.latency) {
    const r = await runHopLatency({ publisher: a.publisher, input, log: () => {} });
    return { cpu: r.cpuSecPerGB, p50: r.all.p50, p99: r.all.p99, steadyP99: r.steady.p99, ok: r.packets === input.packets };
  }
  const t = await runTrial({ receiver: 'rtmp-ingest', publisher: a.publisher, input, realtime: a.realtime, timeoutMs: (seconds + 120) * 1000 });
  if (!t.ok) return { ok: false, error: t.error };
  return { cpu: t.cpuUs / 1e6 / (input.payloadBytes / 1e9), user: t.userUs / 1e6 / (input.payloadBytes / 1e9), sys: t.sysUs / 1e6 / (input.payloadBytes / 1e9), faults: t.minFlt / (input.payloadBytes / 1e9), rssMiB: t.peakRssKiB / 1024, ok: t.complete !== false };
}

const rounds = Number(a.rounds);
const res = { A: [], B: [] };
const ratios = { cpu: [], p50: [], p99: [] };
const fmt = (r) => (r.ok === false && r.error ? `FAILED ${r.error}` : `${r.cpu.toFixed(2)} s/GB` + (r.faults !== undefined ? ` (${r.user.toFixed(2)}u/${r.sys.toFixed(2)}s, ${(r.faults / 1000).toFixed(1)}k flt/GB, peak RSS ${r.rssMiB.toFixed(0)} MiB)` : '') + (r.p99 !== undefined ? ` p50 ${r.p50} p99 ${r.p99} steady p99 ${r.steadyP99} us` : '') + (r.ok ? '' : ' LOST PACKETS'));
console.log(`input ${file} (${info.packets} packets, ${(info.payloadBytes / 1e6).toFixed(1)} MB), publisher ${a.publisher}${a.realtime ? ', realtime' : ''}${a.latency ? ', hop latency (realtime)' : ''}`);
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
  const got = {};
  for (const side of order) {
    got[side] = await run(side);
    res[side].push(got[side]);
    console.log(`round ${r + 1} ${side}: ${fmt(got[side])}`);
  }
  if (got.A.ok && got.B.ok) {
    ratios.cpu.push(got.B.cpu / got.A.cpu);
    if (a.latency) {
      ratios.p50.push(got.B.p50 / got.A.p50);
      ratios.p99.push(got.B.p99 / got.A.p99);
    }
  }
}
const med = (side, k) => median(res[side].filter((x) => x.ok).map((x) => x[k]));
const range = (xs) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;
for (const side of ['A', 'B'])
  console.log(`${side} (${sides[side].root}${Object.keys(sides[side].env).length ? ` ${a[`env-${side.toLowerCase()}`]}` : ''}): median ${med(side, 'cpu').toFixed(2)} s/GB` + (a.latency ? `, p50 ${med(side, 'p50')} us, p99 ${med(side, 'p99')} us, steady p99 ${med(side, 'steadyP99')} us` : `, ${(med(side, 'faults') / 1000).toFixed(1)}k faults/GB, peak RSS ${med(side, 'rssMiB').toFixed(0)} MiB`));
console.log(`B/A cpu: median ${median(ratios.cpu).toFixed(3)} (rounds ${range(ratios.cpu)}; ${ratios.cpu.length} paired)`);
if (a.latency) console.log(`B/A p50: median ${median(ratios.p50).toFixed(3)} (${range(ratios.p50)}); p99: median ${median(ratios.p99).toFixed(3)} (${range(ratios.p99)})`);
