#!/usr/bin/env node
// Many publishers on one port (issue 12): 16, 64 and 256 realtime
// publishers of 720p30 at 2.5 Mb/s, and 1000 of 600 kb/s (the load behind
// SRS's published figures), into rtmp-ingest, node-media-server and
// nginx-rtmp in turn, on the same port and load. The publishers are
// unmodified ffmpeg CLI processes, each sending one input to many outputs
// (`-re -i in.flv -map 0 -c copy -f flv url1 ... urlN`), so a thousand
// connections need tens of processes, not a thousand.
// Also: what an idle connection (a TCP client in its handshake) and a
// session cost rtmp-ingest in RSS and threads.
//
//   node bench/many.mjs [--loads 16,64,256,1000] [--receivers rtmp-ingest,node-media-server,nginx-rtmp]
//                       [--seconds 20] [--out bench/results/many.json]   (also writes many.md: the table)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeInput } from './inputs.mjs';
import { nginxConfig, nginxRtmpModule } from './receivers.mjs';
import { BENCH_DIR, CACHE_DIR, freePort, procMem, sleep, startMeasured, startProcess, waitExit, waitForPort } from './measure.mjs';

const { values } = parseArgs({
  options: {
    loads: { type: 'string', default: '16,64,256,1000' },
    receivers: { type: 'string', default: 'rtmp-ingest,node-media-server,nginx-rtmp' },
    seconds: { type: 'string', default: '20' },
    idle: { type: 'string', default: '1000' },
    out: { type: 'string', default: join(BENCH_DIR, 'results', 'many.json') },
  },
});
const log = (...a) => console.error(...a);
const seconds = Number(values.seconds);

// The publishers per ffmpeg process: few enough that one process keeps its outputs in real time.
const LOADS = {
  16: { publishers: 16, perProcess: 8, spec: { size: '1280x720', fps: 30, kbps: 2372, seconds } },
  64: { publishers: 64, perProcess: 16, spec: { size: '1280x720', fps: 30, kbps: 2372, seconds } },
  256: { publishers: 256, perProcess: 32, spec: { size: '1280x720', fps: 30, kbps: 2372, seconds } },
  1000: { publishers: 1000, perProcess: 50, spec: { size: '640x360', fps: 30, kbps: 472, seconds } },
};

async function startReceiver(id, port, sessions) {
  if (id === 'nginx-rtmp') {
    const dir = mkdtempSync(join(CACHE_DIR, `nginx-many-${process.pid}-`));
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxConfig(dir, port, nginxRtmpModule(), 4096));
    const h = await startMeasured(id, 'nginx', ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', conf], { stdout: 'ignore' });
    await waitForPort(port, { handle: h });
    const lines = () => {
      try {
        return readFileSync(join(dir, 'access.log'), 'utf8').split('\n').filter((l) => l.startsWith('PUBLISH'));
      } catch {
        return [];
      }
    };
    return {
      h,
      async result() {
        const deadline = Date.now() + 30_000;
        while (lines().length < sessions && Date.now() < deadline) await sleep(100);
        const got = lines();
        await h.kill(3000);
        rmSync(dir, { recursive: true, force: true });
        return { sessions: got.length, ended: got.length, wireBytes: got.reduce((a, l) => a + Number(l.split(' ')[1]), 0) };
      },
    };
  }
  const h = await startMeasured(id, process.execPath, [join(BENCH_DIR, 'recv-many.mjs'), '--receiver', id, '--port', String(port), '--sessions', String(sessions), '--max-seconds', String(seconds * 4 + 120)]);
  await h.waitLine((m) => m.t === 'ready', 30_000);
  await waitForPort(port, { handle: h });
  return {
    h,
    async result() {
      await waitExit(h, seconds * 4 + 150_000);
      const done = h.lines.find((m) => m.t === 'done');
      if (!done) throw new Error(`${id} ended without results: ${h.stderr().slice(-2000)}`);
      return done;
    },
  };
}

function publishers(load, input, port) {
  const procs = [];
  for (let first = 0; first < load.publishers; first += load.perProcess) {
    const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-i', input.file];
    for (let k = first; k < Math.min(load.publishers, first + load.perProcess); k++) args.push('-map', '0', '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${port}/live/k${k}`);
    procs.push(startProcess(`ffmpeg-${first}`, 'ffmpeg', args, { stdout: 'ignore' }));
  }
  return procs;
}

const cpuS = (h) => {
  const r = h.rusage();
  return r ? (r.userUs + r.sysUs) / 1e6 : undefined;
};

async function runLoad(receiver, loadId) {
  const load = LOADS[loadId];
  const input = makeInput(`many-${loadId}`, load.spec, log);
  const port = await freePort();
  const recv = await startReceiver(receiver, port, load.publishers);
  const t0 = Date.now();
  const procs = publishers(load, input, port);
  const exits = await Promise.all(procs.map((p) => waitExit(p, seconds * 4000 + 60_000)));
  const failed = exits.filter((e) => e.code !== 0).length;
  const publisherErrors = [...new Set(procs.filter((p, i) => exits[i].code !== 0).map((p) => p.stderr().trim().split('\n').slice(-2).join(' | ')))].slice(0, 3);
  const r = await recv.result();
  const wallS = (Date.now() - t0) / 1000;
  const expectedPackets = input.packets * load.publishers;
  const row = {
    receiver,
    load: loadId,
    publishers: load.publishers,
    input: `${load.spec.size} ${load.spec.fps} fps, ${(load.spec.kbps + 128) / 1000} Mb/s`,
    wallS,
    cpuS: cpuS(recv.h),
    peakRssMiB: recv.h.peakRssKiB() / 1024,
    threadsPeak: r.threadsPeak,
    sessions: r.sessions,
    sessionsEnded: r.ended,
    failedPublisherProcesses: failed,
    publisherErrors,
    packetsLost: r.packets === undefined ? undefined : expectedPackets - r.packets,
    wireBytes: r.wireBytes,
    wireMinBytes: r.wireBytes === undefined ? undefined : input.wireMinBytes[4096] * load.publishers,
    hopP50Ms: r.hopP50Ms,
    hopP99Ms: r.hopP99Ms,
    jsBusyPercentBySecond: r.eluPercentBySecond,
    endReasons: r.perSession?.reduce((acc, x) => ({ ...acc, [x.end]: (acc[x.end] ?? 0) + 1 }), {}),
    gb: (input.payloadBytes * load.publishers) / 1e9,
  };
  row.cpuPerGbS = row.cpuS / row.gb;
  row.cpuPercentOfOneCore = (100 * row.cpuS) / wallS;
  log(JSON.stringify(row));
  return row;
}

/** RSS and threads of rtmp-ingest with `n` idle connections (TCP clients in their handshake), then with none. */
async function idleConnections(n) {
  const port = await freePort();
  const recv = await startReceiver('rtmp-ingest', port, 1);
  await sleep(500);
  const status = () => readFileSync(`/proc/${recv.h.pid}/status`, 'utf8');
  const read = () => ({ rssKiB: procMem(recv.h.pid).rssKiB, threads: Number(/Threads:\s+(\d+)/.exec(status())[1]) });
  const before = read();
  const sockets = [];
  for (let i = 0; i < n; i++) {
    sockets.push(
      await new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
        s.once('error', reject);
      }),
    );
  }
  await sleep(1500);
  const held = read();
  for (const s of sockets) s.destroy();
  await recv.h.kill(1000);
  return { connections: n, before, held, rssPerConnectionKiB: (held.rssKiB - before.rssKiB) / n, threadsPerConnection: (held.threads - before.threads) / n };
}

const rows = [];
const receivers = values.receivers.split(',');
const spawnOk = spawnSync('ffmpeg', ['-version']).status === 0;
if (!spawnOk) throw new Error('no ffmpeg on PATH');
const idle = Number(values.idle) > 0 ? await idleConnections(Number(values.idle)) : undefined;
if (idle) log(JSON.stringify(idle));
for (const loadId of values.loads.split(',')) {
  for (const receiver of receivers) {
    try {
      rows.push(await runLoad(receiver, loadId));
    } catch (err) {
      log(`${receiver} ${loadId}: ${err.message}`);
      rows.push({ receiver, load: loadId, error: err.message });
    }
    await sleep(2000);
  }
}
/** The rows as a Markdown table, with each receiver's CPU as a ratio to node-media-server's and nginx-rtmp's on the same load. */
function markdown() {
  const f = (v, d = 1) => (v === undefined || v === null || Number.isNaN(v) ? '-' : Number(v).toFixed(d));
  const lines = [
    '| load | receiver | CPU s | CPU s/GB | x NMS | x nginx-rtmp | peak RSS MiB | threads | lost | sessions ended | hop p50 / p99 ms | JS thread busy, max s/s |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | ---: |',
  ];
  for (const r of rows) {
    if (r.error) {
      lines.push(`| ${r.load} | ${r.receiver} | failed: ${r.error} |`);
      continue;
    }
    const peer = (id) => rows.find((x) => x.load === r.load && x.receiver === id && !x.error);
    const nms = peer('node-media-server');
    const nginx = peer('nginx-rtmp');
    const lost = r.packetsLost !== undefined ? `${Math.max(0, r.packetsLost)} packets` : `${r.wireBytes >= r.wireMinBytes ? 'none' : 'bytes short'} (bytes read ${r.wireBytes} >= ${r.wireMinBytes} needed)`;
    const ends = r.endReasons ? Object.entries(r.endReasons).map(([k, v]) => `${v} ${k}`).join(', ') : `${r.sessionsEnded}`;
    const busy = r.jsBusyPercentBySecond?.length ? `${Math.max(...r.jsBusyPercentBySecond)}%` : '-';
    lines.push(
      `| ${r.publishers} x ${r.input} | ${r.receiver} | ${f(r.cpuS)} | ${f(r.cpuPerGbS)} | ${nms ? f(r.cpuS / nms.cpuS, 2) : '-'} | ${nginx ? f(r.cpuS / nginx.cpuS, 2) : '-'} | ${f(r.peakRssMiB, 0)} | ${r.threadsPeak ?? '-'} | ${r.failedPublisherProcesses ? `${lost}; ${r.failedPublisherProcesses} publisher processes failed` : lost} | ${ends} | ${r.hopP50Ms !== undefined ? `${f(r.hopP50Ms, 2)} / ${f(r.hopP99Ms, 2)}` : '-'} | ${busy} |`,
    );
  }
  return lines.join('\n');
}

mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
writeFileSync(values.out, JSON.stringify({ date: new Date().toISOString(), seconds, idle, rows }, null, 2));
writeFileSync(values.out.replace(/\.json$/, '.md'), `${markdown()}\n`);
log(`wrote ${values.out} and its .md`);
