#!/usr/bin/env node
// What recording one publish costs (issue 14): the same publisher sends the
// same input to each receiver in turn, interleaved round by round, and each
// receiver writes the stream to a file:
//   ingest-none      rtmp-ingest receiving, a JS 'packet' listener counting, no recording (the baseline)
//   ingest-mp4       rtmp-ingest's record option, fragmented mp4, no JS consumer (packets never reach JS)
//   ingest-mpegts    the same to MPEG-TS
//   ingest-mp4+js    fragmented mp4 and a JS 'packet' listener counting beside it
//   ffmpeg-mp4       Debian's `ffmpeg -listen 1 -i rtmp://... -map 0 -c copy out.mp4` (plain mp4, moov at the end)
//   ffmpeg-fmp4      the same with -movflags frag_keyframe+empty_moov+default_base_moof -frag_duration 1000000
//                    (what rtmp-ingest writes)
//   nms-flv          node-media-server 4.4.3 with its record option (FLV)
//   nginx-flv        nginx-rtmp with `record all` (FLV)
// Each receiver runs in a process of its own under rusage-wrap: CPU seconds
// are its user+sys from the kernel (wait4), less what it had used when it
// was listening; peak RSS is its maxrss. Every recorded file is counted with
// ffprobe (-count_packets) against the input's packets: a recorder that lost
// packets shows it. Inputs are made by bench/inputs.mjs; both as-fast-as-
// possible and realtime publishes; the publisher is GStreamer's rtmp2sink
// with chunk-size 4096 (as OBS; the matrix of bench/run.mjs uses it), so
// every receiver reads the same bytes.
//
//   node bench/record.mjs [--quick] [--rounds 3] [--realtime-rounds 3] [--inputs a,b] [--realtime-inputs a,b]
//                         [--receivers a,b] [--publisher gst4096] [--out bench/results/record.json]
//   (also writes bench/record.md next to record.json's folder, unless --out names another place: then FILE.md)
//   node bench/record.mjs --render bench/results/record.json   (re-render the table only)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { inputLabel, makeInput, MATRIX } from './inputs.mjs';
import { BENCH_DIR, CACHE_DIR, freePort, median, sleep, startMeasured, treeCpuUs, waitExit, waitForPort } from './measure.mjs';
import { PUBLISHERS, startPublisher } from './publishers.mjs';
import { nginxConfig, nginxRtmpModule, unavailableReason } from './receivers.mjs';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'realtime-rounds': { type: 'string' },
    'realtime-seconds': { type: 'string' },
    inputs: { type: 'string' },
    'realtime-inputs': { type: 'string' },
    receivers: { type: 'string' },
    publisher: { type: 'string', default: 'gst4096' },
    out: { type: 'string' },
    render: { type: 'string' },
  },
});
const log = (...a) => console.error(...a);

// ---------------------------------------------------------------- inputs

const spec = (id) => {
  const { id: _, main, ...s } = MATRIX.find((m) => m.id === id) ?? {};
  return s;
};
/** The record bench's inputs: the matrix's (bench/inputs.mjs), and 720p30 at 2.5 Mb/s as a typical stream. */
export const RECORD_INPUTS = {
  '720p30-2.5M': { size: '1280x720', fps: 30, kbps: 2372, seconds: 90 },
  '1080p30-6M': spec('1080p30-6M'),
  '2160p30-45M': spec('2160p30-45M'),
  'audio-128k': spec('audio-128k'),
};

export const RECEIVERS = {
  'ingest-none': { label: 'rtmp-ingest, no recording (JS packet listener: the baseline)', ingest: true },
  'ingest-mp4': { label: 'rtmp-ingest record: fragmented mp4, no JS consumer', ingest: true, ext: 'mp4' },
  'ingest-mpegts': { label: 'rtmp-ingest record: mpegts, no JS consumer', ingest: true, ext: 'ts' },
  'ingest-mp4+js': { label: 'rtmp-ingest record: fragmented mp4 + JS packet listener', ingest: true, ext: 'mp4' },
  'ffmpeg-mp4': { label: 'ffmpeg CLI 5.1 (Debian) -c copy out.mp4 (plain mp4)', ext: 'mp4' },
  'ffmpeg-fmp4': { label: 'ffmpeg CLI 5.1 (Debian) -c copy, fragmented mp4 (frag_keyframe+empty_moov+default_base_moof, 1 s)', ext: 'mp4' },
  'nms-flv': { label: 'node-media-server 4.4.3 record (flv)', ext: 'flv' },
  'nginx-flv': { label: 'nginx-rtmp record all (flv)', ext: 'flv' },
};

const plan = args.quick
  ? { rounds: 1, realtimeRounds: 1, realtimeSeconds: 4, inputs: ['1080p30-6M'], realtimeInputs: ['1080p30-6M'] }
  : // About 9-10 min on this 2-core machine: 4 inputs x 8 receivers x 3 rounds as
    // fast as possible (~3 s a trial with its start and ffprobe), and the first
    // 5 s of two inputs x 8 x 3 in real time (~7 s a trial).
    { rounds: 3, realtimeRounds: 3, realtimeSeconds: 5, inputs: Object.keys(RECORD_INPUTS), realtimeInputs: ['1080p30-6M', '2160p30-45M'] };
if (args.rounds) plan.rounds = Number(args.rounds);
if (args['realtime-rounds']) plan.realtimeRounds = Number(args['realtime-rounds']);
if (args['realtime-seconds']) plan.realtimeSeconds = Number(args['realtime-seconds']);
if (args.inputs) plan.inputs = args.inputs === 'none' ? [] : args.inputs.split(',');
if (args['realtime-inputs']) plan.realtimeInputs = args['realtime-inputs'] === 'none' ? [] : args['realtime-inputs'].split(',');

// ---------------------------------------------------------------- receivers

const node = process.execPath;

/** Starts a receiver on port, writing into dir; resolves once it listens with { h, result() }. */
async function startReceiver(id, port, dir, maxSeconds) {
  const url = `rtmp://127.0.0.1:${port}/live/bench`;
  let h;
  switch (id) {
    case 'ingest-none':
    case 'ingest-mp4':
    case 'ingest-mpegts':
    case 'ingest-mp4+js': {
      const format = id === 'ingest-none' ? 'none' : id === 'ingest-mpegts' ? 'mpegts' : 'mp4';
      h = await startMeasured(id, node, [join(BENCH_DIR, 'recv-record.mjs'), '--port', String(port), '--format', format, '--dir', dir, ...(id === 'ingest-mp4+js' ? ['--js'] : []), '--max-seconds', String(maxSeconds)]);
      await h.waitLine((m) => m.t === 'ready', 30_000);
      break;
    }
    case 'ffmpeg-mp4':
    case 'ffmpeg-fmp4': {
      const frag = id === 'ffmpeg-fmp4' ? ['-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-frag_duration', '1000000'] : [];
      h = await startMeasured(id, 'ffmpeg', ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error', '-listen', '1', '-i', url, '-map', '0', '-c', 'copy', ...frag, '-y', join(dir, 'bench.mp4')], { stdout: 'ignore' });
      break;
    }
    case 'nms-flv':
      h = await startMeasured(id, node, [join(BENCH_DIR, 'recv-nms.mjs'), '--port', String(port), '--record', dir, '--max-seconds', String(maxSeconds)]);
      await h.waitLine((m) => m.t === 'ready', 30_000);
      break;
    case 'nginx-flv': {
      const conf = join(dir, 'nginx.conf');
      const rec = join(dir, 'rec');
      mkdirSync(rec);
      const text = nginxConfig(dir, port, nginxRtmpModule()).replace('application live { live on; }', `application live { live on; record all; record_path ${rec}; }`);
      if (!text.includes('record all')) throw new Error('nginx config: no application to record in');
      writeFileSync(conf, text);
      h = await startMeasured(id, 'nginx', ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', conf], { stdout: 'ignore' });
      // It serves on after the publisher leaves: stop it once the access log has the session's line (written at the disconnect).
      const readLog = () => {
        try {
          return readFileSync(join(dir, 'access.log'), 'utf8');
        } catch {
          return '';
        }
      };
      const timer = setInterval(() => {
        if (/PUBLISH/.test(readLog())) {
          clearInterval(timer);
          void h.kill(3000, 'SIGTERM');
        }
      }, 20);
      void h.exited.then(() => clearInterval(timer));
      break;
    }
    default:
      throw new Error(`unknown receiver ${id}`);
  }
  await waitForPort(port, { handle: h, timeoutMs: 30_000 });
  return {
    h,
    async result() {
      await h.exited;
      if (id.startsWith('ingest-') || id === 'nms-flv') {
        const done = h.lines.find((m) => m.t === 'done');
        if (!done) throw new Error(`${id} ended without results (${JSON.stringify(h.exitInfo)}): ${h.stderr().slice(-2000)}`);
        return done;
      }
      if (id.startsWith('ffmpeg-') && h.exitInfo.code !== 0) throw new Error(`${id} exited ${JSON.stringify(h.exitInfo)}: ${h.stderr().slice(-2000)}`);
      return {};
    },
  };
}

/** The one recorded file under dir (any depth), or undefined. */
function recordedFile(dir, ext) {
  const found = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith(`.${ext}`)) found.push(join(d, e.name));
    }
  };
  walk(dir);
  if (found.length > 1) throw new Error(`more than one .${ext} file in ${dir}: ${found.join(', ')}`);
  return found[0];
}

/** Packets per stream type in a file as libavformat demuxes it (ffprobe -count_packets), and any errors it logs. */
export function countPackets(file) {
  // JSON, and its top-level streams only: csv would list an MPEG-TS file's streams twice (under its program too).
  const r = spawnSync('ffprobe', ['-v', 'error', '-count_packets', '-show_entries', 'stream=codec_type,nb_read_packets', '-of', 'json', file], { encoding: 'utf8' });
  const out = { packets: 0, video: 0, audio: 0, probeErrors: r.stderr.trim().split('\n').filter(Boolean).slice(0, 3) };
  if (r.status !== 0) return { ...out, packets: undefined, probeErrors: [`ffprobe exited ${r.status}`, ...out.probeErrors] };
  for (const st of JSON.parse(r.stdout).streams ?? []) {
    if (st.codec_type !== 'video' && st.codec_type !== 'audio') continue;
    out[st.codec_type] += Number(st.nb_read_packets);
    out.packets += Number(st.nb_read_packets);
  }
  return out;
}

// ---------------------------------------------------------------- one trial

async function runTrial({ receiver, input, realtime, publisher }) {
  const port = await freePort();
  const dir = mkdtempSync(join(CACHE_DIR, `record-${process.pid}-`));
  const timeoutMs = realtime ? (input.spec.seconds + 60) * 1000 : 180_000;
  try {
    const rec = await startReceiver(receiver, port, dir, Math.ceil(timeoutMs / 1000) + 30);
    const h = rec.h;
    await sleep(150); // let it settle into its idle wait
    const base = treeCpuUs(h.pid);
    const t0 = Date.now();
    const pub = await startPublisher(publisher, input.file, `rtmp://127.0.0.1:${port}/live/bench`, { realtime, audioOnly: input.video === 0 });
    await waitExit(h, timeoutMs);
    const wallS = (Date.now() - t0) / 1000;
    const pubExit = await waitExit(pub, 15_000).catch((e) => ({ error: e.message }));
    const ru = h.rusage();
    if (!ru) throw new Error(`${receiver}: no rusage (${JSON.stringify(h.exitInfo)}): ${h.stderr().slice(-1500)}`);
    const res = await rec.result();
    const file = recordedFile(dir, RECEIVERS[receiver].ext ?? '-none-');
    const counted = file ? countPackets(file) : undefined;
    const t = {
      receiver,
      input: input.id,
      realtime,
      publisher,
      userS: (ru.userUs - base.userUs) / 1e6,
      sysS: (ru.sysUs - base.sysUs) / 1e6,
      cpuS: (ru.userUs + ru.sysUs - base.userUs - base.sysUs) / 1e6,
      startupCpuS: (base.userUs + base.sysUs) / 1e6,
      wallS,
      peakRssMiB: h.peakRssKiB() / 1024,
      publisherExit: pubExit.code ?? pubExit.error ?? pubExit,
      fileBytes: file ? statSync(file).size : undefined,
      filePackets: counted?.packets,
      fileVideo: counted?.video,
      fileAudio: counted?.audio,
      probeErrors: counted?.probeErrors?.length ? counted.probeErrors : undefined,
      jsPackets: res.packets,
      recorder: res.recorder,
      inputPackets: input.packets,
    };
    if (RECEIVERS[receiver].ext && !file) t.error = `no .${RECEIVERS[receiver].ext} file written`;
    t.lost = t.filePackets === undefined ? undefined : input.packets - t.filePackets;
    return t;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- summary

/** Whether a trial delivered every packet: its file (recorders) or its JS listener (the baseline) has the input's count. */
const complete = (t) => !t.error && (t.filePackets !== undefined ? t.filePackets === t.inputPackets && (t.jsPackets === undefined || t.jsPackets >= t.inputPackets) : t.jsPackets >= t.inputPackets);

/**
 * Paired ratios a/b, round by round, and the differences a-b, from the
 * rounds where both got every packet (a recorder that lost packets wrote
 * less, so it would look cheaper); `lossy` counts the rounds left out.
 */
const paired = (trials, a, b) => {
  const out = { ratios: [], diffs: [], lossy: 0 };
  for (const ta of trials.filter((t) => t.receiver === a && !t.error)) {
    const tb = trials.find((t) => t.receiver === b && t.round === ta.round && !t.error);
    if (!tb) continue;
    if (!complete(ta) || !complete(tb)) {
      out.lossy++;
      continue;
    }
    if (tb.cpuS > 0) out.ratios.push(ta.cpuS / tb.cpuS);
    out.diffs.push(ta.cpuS - tb.cpuS);
  }
  return out;
};

const PEERS = ['ingest-none', 'ffmpeg-mp4', 'ffmpeg-fmp4', 'nms-flv', 'nginx-flv'];

export function summarize(res) {
  const rows = [];
  for (const mode of ['fast', 'realtime']) {
    for (const [inputId, input] of Object.entries(res.inputs[mode] ?? {})) {
      const trials = res.trials.filter((t) => t.input === inputId && (mode === 'realtime') === t.realtime);
      for (const receiver of res.receivers) {
        const mine = trials.filter((t) => t.receiver === receiver);
        if (!mine.length) continue;
        const ok = mine.filter((t) => !t.error);
        const row = {
          mode,
          input: inputId,
          receiver,
          runs: mine.length,
          errors: mine.filter((t) => t.error).map((t) => t.error),
          gb: input.payloadBytes / 1e9,
          inputPackets: input.packets,
        };
        if (ok.length) {
          row.cpuS = median(ok.map((t) => t.cpuS));
          row.cpuMinS = Math.min(...ok.map((t) => t.cpuS));
          row.cpuMaxS = Math.max(...ok.map((t) => t.cpuS));
          row.userS = median(ok.map((t) => t.userS));
          row.sysS = median(ok.map((t) => t.sysS));
          row.cpuPerGbS = row.cpuS / row.gb;
          row.peakRssMiB = median(ok.map((t) => t.peakRssMiB));
          row.wallS = median(ok.map((t) => t.wallS));
          row.fileBytes = median(ok.filter((t) => t.fileBytes !== undefined).map((t) => t.fileBytes));
          if (RECEIVERS[receiver].ext) {
            row.filePacketsMin = Math.min(...ok.map((t) => t.filePackets ?? 0));
            row.filePacketsMax = Math.max(...ok.map((t) => t.filePackets ?? 0));
            row.lossyRuns = ok.filter((t) => t.lost !== 0).length;
            row.recorderDropped = ok.some((t) => t.recorder?.droppedPackets !== undefined) ? Math.max(...ok.map((t) => t.recorder?.droppedPackets ?? 0)) : undefined;
            row.probeErrors = [...new Set(ok.flatMap((t) => t.probeErrors ?? []))].slice(0, 3);
          }
          if (ok.some((t) => t.jsPackets !== undefined)) {
            row.jsPacketsMin = Math.min(...ok.map((t) => t.jsPackets ?? 0));
            row.jsPacketsMax = Math.max(...ok.map((t) => t.jsPackets ?? 0));
          }
          row.completeRuns = ok.filter(complete).length;
          row.ratios = {};
          for (const peer of PEERS) {
            if (peer === receiver) continue;
            const { ratios: r, diffs, lossy } = paired(trials, receiver, peer);
            if (r.length) row.ratios[peer] = { median: median(r), min: Math.min(...r), max: Math.max(...r), rounds: r.length, lossy, diffS: median(diffs) };
            else if (lossy) row.ratios[peer] = { lossy };
          }
        }
        rows.push(row);
      }
    }
  }
  return rows;
}

// ---------------------------------------------------------------- report

const f = (v, d = 2) => (v === undefined || v === null || Number.isNaN(v) ? '-' : Number(v).toFixed(d));

export function renderMarkdown(res) {
  const rows = res.summary;
  const L = [];
  const modeLabel = { fast: 'as fast as possible', realtime: `realtime (-re), the first ${res.plan.realtimeSeconds} s of each input` };
  L.push('## Recording one publish (issue 14)', '');
  L.push(
    `${res.date.slice(0, 16).replace('T', ' ')} UTC, ${res.machine.cpus}, load average ${res.machine.loadBefore} before and ${res.machine.loadAfter} after the run (2 cores shared with other work). ` +
      `Publisher: ${PUBLISHERS[res.publisher]?.label ?? res.publisher}, the same for every receiver. ` +
      `Medians of ${res.plan.rounds} interleaved rounds (realtime: ${res.plan.realtimeRounds}); CPU s is the receiver process's user+sys (wait4) after it listened; ` +
      `× columns are paired ratios (this receiver's CPU / the peer's in the same round, median, min-max), from the rounds where both got every packet (a receiver that lost packets did less work). CPU s and RSS are over all runs. Packets: in the recorded file (ffprobe -count_packets) / in the input; **bold** when a run lost any. ` +
      `\`node bench/record.mjs\` (about ${Math.round(res.elapsedS / 60)} min), \`--quick\` for one input and one round.`,
    '',
  );
  for (const [id, { label }] of Object.entries(RECEIVERS)) if (res.receivers.includes(id)) L.push(`- \`${id}\`: ${label}`);
  L.push('');
  for (const mode of ['fast', 'realtime']) {
    const mine = rows.filter((r) => r.mode === mode);
    if (!mine.length) continue;
    L.push(`### ${modeLabel[mode]}`, '');
    L.push('| input | receiver | CPU s (min-max) | CPU s/GB | peak RSS MiB | packets in file / input | × ingest-none | × ffmpeg-mp4 | × ffmpeg-fmp4 | × nms-flv | × nginx-flv |');
    L.push('| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |');
    for (const r of mine) {
      const input = res.inputs[mode][r.input];
      const inLabel = `${inputLabel(input.spec).replace('2.372 Mb/s', '2.37 Mb/s + AAC (2.5 Mb/s)')}, ${f(r.gb * 1000, 0)} MB`;
      if (r.cpuS === undefined) {
        L.push(`| ${inLabel} | ${r.receiver} | failed: ${r.errors[0]?.slice(0, 200)} |`);
        continue;
      }
      let pk = '-';
      if (r.filePacketsMin !== undefined) {
        const same = r.filePacketsMin === r.filePacketsMax;
        pk = `${same ? r.filePacketsMin : `${r.filePacketsMin}-${r.filePacketsMax}`} / ${r.inputPackets}`;
        if (r.lossyRuns) pk = `**${pk} (${r.lossyRuns} of ${r.runs} runs differ)**`;
        if (r.recorderDropped) pk += `, recorder dropped ${r.recorderDropped}`;
      }
      if (r.jsPacketsMin !== undefined) {
        const js = `JS got ${r.jsPacketsMin === r.jsPacketsMax ? r.jsPacketsMin : `${r.jsPacketsMin}-${r.jsPacketsMax}`}`;
        pk = pk === '-' ? `${js} / ${r.inputPackets}` : `${pk}; ${js}`;
        if (r.jsPacketsMin < r.inputPackets) pk = `**${pk}**`;
      }
      if (r.errors.length) pk += `; ${r.errors.length} run(s) failed`;
      const ratio = (peer) => {
        if (peer === r.receiver) return '1';
        const x = r.ratios[peer];
        if (!x) return '-';
        if (x.median === undefined) return 'n/a (lost packets)';
        return `${f(x.median)} (${f(x.min)}-${f(x.max)}${x.lossy ? `; ${x.rounds} of ${x.rounds + x.lossy} rounds` : ''})`;
      };
      L.push(
        `| ${inLabel} | ${r.receiver} | ${f(r.cpuS, 3)} (${f(r.cpuMinS, 3)}-${f(r.cpuMaxS, 3)}) | ${f(r.cpuPerGbS)} | ${f(r.peakRssMiB, 0)} | ${pk} | ${PEERS.map(ratio).join(' | ')} |`,
      );
    }
    L.push('');
  }
  // What recording adds to rtmp-ingest: paired differences against the baseline.
  const adds = [];
  for (const r of rows.filter((x) => x.receiver.startsWith('ingest-') && x.receiver !== 'ingest-none')) {
    const x = r.ratios['ingest-none'];
    if (!x) continue;
    const cell = x.diffS === undefined ? 'n/a (lost packets)' : `${x.diffS >= 0 ? '+' : ''}${f(x.diffS, 3)} s (${x.diffS >= 0 ? '+' : ''}${f(x.diffS / r.gb)} s/GB)${x.lossy ? `, ${x.rounds} of ${x.rounds + x.lossy} rounds` : ''}`;
    adds.push({ key: `${r.mode === 'fast' ? 'fast' : 'realtime'} ${r.input}`, receiver: r.receiver, cell });
  }
  if (adds.length) {
    const recs = [...new Set(adds.map((a) => a.receiver))];
    L.push('### What recording adds to rtmp-ingest', '');
    L.push('CPU s against `ingest-none` (a JS listener counting, no recording), median of the paired per-round differences over complete rounds. `ingest-mp4+js` is the recorder\'s own cost on top of a JS consumer; `ingest-mp4` and `ingest-mpegts` also save the trip through JS.', '');
    L.push(`| input | ${recs.join(' | ')} |`, `| --- | ${recs.map(() => '---:').join(' | ')} |`);
    for (const key of [...new Set(adds.map((a) => a.key))]) L.push(`| ${key} | ${recs.map((rc) => adds.find((a) => a.key === key && a.receiver === rc)?.cell ?? '-').join(' | ')} |`);
    L.push('');
  }
  // Which claims hold for which inputs.
  const claims = [];
  for (const me of ['ingest-mp4', 'ingest-mpegts', 'ingest-mp4+js']) {
    for (const peer of ['ffmpeg-fmp4', 'ffmpeg-mp4', 'nms-flv', 'nginx-flv']) {
      const cheaper = [];
      const dearer = [];
      const mixed = [];
      const na = [];
      for (const r of rows.filter((x) => x.receiver === me && x.ratios?.[peer])) {
        const x = r.ratios[peer];
        const tag = `${r.input} ${r.mode === 'fast' ? 'fast' : 'rt'} ${f(x.median)}${x.lossy ? ` (${x.rounds} of ${x.rounds + x.lossy} rounds)` : ''}`;
        if (x.median === undefined) na.push(`${r.input} ${r.mode === 'fast' ? 'fast' : 'rt'}`);
        else if (x.max < 1) cheaper.push(tag);
        else if (x.min > 1) dearer.push(tag);
        else mixed.push(tag);
      }
      if (cheaper.length + dearer.length + mixed.length + na.length === 0) continue;
      claims.push(`| ${me} vs ${peer} | ${cheaper.join(', ') || '-'} | ${dearer.join(', ') || '-'} | ${mixed.join(', ') || '-'} | ${na.join(', ') || '-'} |`);
    }
  }
  if (claims.length) {
    L.push('### Which claims hold where', '');
    L.push('Per input and mode (fast / rt = realtime), the median paired CPU ratio over the rounds where both got every packet; "cheaper" only where every such round was below 1, "dearer" where every one was above 1; "no ratio" where no round had both complete.', '');
    L.push('| claim | cheaper in every round | dearer in every round | rounds disagree | no ratio (lost packets) |', '| --- | --- | --- | --- | --- |', ...claims, '');
  }
  if (res.analysis) L.push(res.analysis.trimEnd(), '');
  return L.join('\n');
}

// ---------------------------------------------------------------- main

async function main() {
  const outFile = args.out ?? (args.quick ? join(CACHE_DIR, 'quick', 'record.json') : join(BENCH_DIR, 'results', 'record.json'));
  const mdFile = args.out || args.quick ? outFile.replace(/\.json$/, '.md') : join(BENCH_DIR, 'record.md');
  const analysisFile = join(BENCH_DIR, 'record-analysis.md');
  if (args.render) {
    const res = JSON.parse(readFileSync(args.render, 'utf8'));
    res.summary = summarize(res);
    if (existsSync(analysisFile)) res.analysis = readFileSync(analysisFile, 'utf8');
    writeFileSync(args.render, JSON.stringify(res, null, 2));
    writeFileSync(mdFile, `${renderMarkdown(res)}\n`);
    log(`wrote ${mdFile}`);
    return;
  }
  const t0 = Date.now();
  const receivers = (args.receivers ?? Object.keys(RECEIVERS).join(',')).split(',');
  const skipped = {};
  for (const id of receivers) {
    const why = id.startsWith('ingest-') ? unavailableReason('rtmp-ingest') : id.startsWith('ffmpeg-') ? unavailableReason('ffmpeg-cli') : id === 'nms-flv' ? unavailableReason('node-media-server') : unavailableReason('nginx-rtmp');
    if (why) skipped[id] = why;
  }
  const active = receivers.filter((id) => !skipped[id]);
  for (const [id, why] of Object.entries(skipped)) log(`skipping ${id}: ${why}`);
  if (!PUBLISHERS[args.publisher]) throw new Error(`unknown publisher ${args.publisher}`);

  const inputs = { fast: {}, realtime: {} };
  for (const id of plan.inputs) inputs.fast[id] = { ...makeInput(id, RECORD_INPUTS[id], log), id };
  for (const id of plan.realtimeInputs) {
    const full = makeInput(id, RECORD_INPUTS[id], log);
    const clip = clipInput(full, plan.realtimeSeconds);
    inputs.realtime[id] = { ...clip, id };
  }
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const trials = [];
  const total = Object.keys(inputs.fast).length * plan.rounds * active.length + Object.keys(inputs.realtime).length * plan.realtimeRounds * active.length;
  let n = 0;
  for (const mode of ['fast', 'realtime']) {
    const rounds = mode === 'fast' ? plan.rounds : plan.realtimeRounds;
    for (const [id, input] of Object.entries(inputs[mode])) {
      for (let round = 0; round < rounds; round++) {
        // A B C ..., B C ... A, ...: drift of the shared machine falls on every receiver alike.
        const order = active.map((_, i) => active[(i + round) % active.length]);
        for (const receiver of order) {
          n++;
          let t;
          try {
            t = await runTrial({ receiver, input, realtime: mode === 'realtime', publisher: args.publisher });
          } catch (err) {
            t = { receiver, input: id, realtime: mode === 'realtime', error: err.message.slice(0, 2000) };
          }
          t.round = round;
          t.load1 = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
          trials.push(t);
          log(
            `[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${n}/${total} ${mode} ${id} r${round} ${receiver.padEnd(14)} ` +
              (t.error ? `ERROR ${t.error.slice(0, 300)}` : `cpu ${t.cpuS.toFixed(3)} s  wall ${t.wallS.toFixed(2)} s  rss ${t.peakRssMiB.toFixed(0)} MiB  file ${t.filePackets ?? '-'}/${t.inputPackets}${t.recorder?.droppedPackets ? ` dropped ${t.recorder.droppedPackets}` : ''}  load ${t.load1}`),
          );
          await sleep(100);
        }
      }
    }
  }
  const strip = (i) => ({ file: i.file.replace(`${CACHE_DIR}/`, ''), fileBytes: i.fileBytes, spec: i.spec, packets: i.packets, video: i.video, audio: i.audio, payloadBytes: i.payloadBytes });
  const res = {
    date: new Date().toISOString(),
    machine: { cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`, loadBefore, loadAfter: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '), node: process.version },
    publisher: args.publisher,
    plan,
    receivers: active,
    skipped,
    inputs: Object.fromEntries(Object.entries(inputs).map(([m, o]) => [m, Object.fromEntries(Object.entries(o).map(([k, v]) => [k, strip(v)]))])),
    trials,
    elapsedS: (Date.now() - t0) / 1000,
  };
  res.summary = summarize(res);
  if (existsSync(analysisFile) && !args.quick) res.analysis = readFileSync(analysisFile, 'utf8');
  mkdirSync(join(outFile, '..'), { recursive: true });
  writeFileSync(outFile, JSON.stringify(res, null, 2));
  writeFileSync(mdFile, `${renderMarkdown(res)}\n`);
  log(`wrote ${outFile} and ${mdFile} in ${(res.elapsedS / 60).toFixed(1)} min`);
}

/** The first `seconds` of an input, stream-copied (cached beside it), with its packet counts. */
function clipInput(input, seconds) {
  if (seconds >= input.spec.seconds) return input;
  const clip = input.file.replace(/\.flv$/, `-first${seconds}s.flv`);
  if (!existsSync(clip)) {
    const r = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-i', input.file, '-t', String(seconds), '-map', '0', '-c', 'copy', '-f', 'flv', `${clip}.part`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ffmpeg could not cut ${clip}: ${r.stderr}`);
    spawnSync('mv', [`${clip}.part`, clip]);
  }
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'packet=codec_type,size', '-of', 'csv=p=0', clip], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const info = { packets: 0, video: 0, audio: 0, payloadBytes: 0 };
  for (const line of r.stdout.split('\n')) {
    const [type, size] = line.split(',');
    if (!size) continue;
    info.packets++;
    info.payloadBytes += Number(size);
    if (type === 'video') info.video++;
    else if (type === 'audio') info.audio++;
  }
  return { file: clip, fileBytes: statSync(clip).size, spec: { ...input.spec, seconds }, ...info };
}

await main();
