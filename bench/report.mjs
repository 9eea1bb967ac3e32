// BENCHMARKS.md and the charts, from one run's results object.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { barChart } from './chart.mjs';
import { BENCH_DIR, median } from './measure.mjs';
import { inputLabel } from './inputs.mjs';
import { LINGER_LABEL, PUBLISHERS } from './publishers.mjs';
import { NGINX_INSTALL, RECEIVERS } from './receivers.mjs';

const label = (id) => RECEIVERS.find((r) => r.id === id)?.label ?? id;
const f = (v, d = 2) => (v === undefined || v === null || Number.isNaN(v) ? 'n/a' : Number(v).toFixed(d));
const yes = (ok, note) => (ok === undefined ? `n/a${note ? ` (${note})` : ''}` : ok ? '**met**' : '**missed**');
const MB = 1e6;

/**
 * Why a CPU ratio of rtmp-ingest against `peer` is no instance of its target,
 * or undefined: a side that lost packets in every run, or no round in which
 * both got every packet, is not like for like.
 */
function unlike(s, peer) {
  const lost = ['rtmp-ingest', peer].find((r) => s[r].fromIncomplete);
  if (lost) return `${label(lost)} lost packets in every run`;
  if (!Number.isFinite(s[peer].ratioVsThis)) return 'no round in which both got every packet';
  return undefined;
}

/** "0.45 x (paired median; rounds 0.38-0.49[; 4 of 6 rounds])": the rounds left out are those in which a side lost packets. */
const pairedRatio = (r) =>
  `${f(r.ratioVsThis)} x (paired median; rounds ${f(r.ratioMin)}-${f(r.ratioMax)}` +
  (r.ratioRounds !== undefined && r.ratioRounds < r.runs ? `; ${r.ratioRounds} of ${r.runs} rounds, the others lost packets` : '') +
  ')';

/** "; over by 34%" where a ratio is above its limit. */
const overBy = (ratio, limit) => (ratio > limit ? `; **over by ${f((ratio / limit - 1) * 100, 0)}%**` : '');

// Publishers that send 4096-byte chunks to both rtmp-ingest and nginx-rtmp
// (the ffmpeg CLIs mirror the 4096 both announce): like for like with nginx.
const CHUNK_4096_BOTH = new Set(['gst4096', 'ffmpeg', 'ffmpeg9']);

/**
 * Every input with its measurements: the main input (res.throughput,
 * res.syscalls, res.realtime) first, then the matrix's others.
 */
export function byInput(res) {
  const mainId = Object.values(res.inputs.matrix ?? {}).find((i) => i.main)?.id;
  const out = [{ id: mainId ?? 'main', input: res.inputs.main, realtimeInput: res.inputs.realtime, throughput: res.throughput, syscalls: res.syscalls, realtime: res.realtime, main: true }];
  for (const [id, m] of Object.entries(res.matrix ?? {})) {
    const input = res.inputs.matrix[id];
    out.push({ id, input, realtimeInput: input.realtime, throughput: m.throughput, syscalls: m.syscalls, realtime: m.realtime, main: false });
  }
  return out;
}

/** One paired CPU target of rtmp-ingest against `peer`. */
function cpuTarget(out, s, peer, limit, text, why) {
  const p = s[peer];
  if (!p?.runs) return;
  why = why ?? unlike(s, peer);
  out.push({
    target: text,
    measured: `${pairedRatio(p)}; ${f(s['rtmp-ingest'].cpuSecPerGB)} vs ${f(p.cpuSecPerGB)} s/GB${why ? '' : overBy(p.ratioVsThis, limit)}`,
    met: why ? undefined : p.ratioVsThis <= limit,
    note: why,
  });
}

/** The targets of issues 4, 10 and 11, evaluated on the results. */
export function evaluateTargets(res) {
  const out = [];
  for (const e of byInput(res)) {
    const on = `${inputLabel(e.input.spec)} input`;
    const tp = e.throughput?.summary ?? {};
    for (const pub of ['gst128', 'gst4096', 'ffmpeg9', 'ffmpeg']) {
      const s = tp[pub];
      if (!s?.['rtmp-ingest']?.runs) continue;
      // The ffmpeg CLI publisher sends node-media-server 65535-byte chunks and
      // rtmp-ingest 4096-byte ones: not an instance of the target (same chunk size).
      const nmsWhy = PUBLISHERS[pub].chunk === 'announced' ? 'not like for like: different chunk sizes' : undefined;
      cpuTarget(out, s, 'node-media-server', 0.5, `CPU/GB at most 0.5 x node-media-server's, ${PUBLISHERS[pub].label}, ${on}`, nmsWhy);
      cpuTarget(out, s, 'ffmpeg-cli', 1, `CPU/GB no more than the ffmpeg CLI's, ${PUBLISHERS[pub].label}, ${on}`);
      if (CHUNK_4096_BOTH.has(pub)) cpuTarget(out, s, 'nginx-rtmp', 2, `CPU/GB at most 2 x nginx-rtmp's at chunk 4096, ${PUBLISHERS[pub].label}, ${on}`);
    }
    const rt = e.realtime?.summary ?? {};
    for (const pub of Object.keys(rt)) {
      if (!rt[pub]?.['rtmp-ingest']?.runs) continue;
      cpuTarget(out, rt[pub], 'ffmpeg-cli', 1, `Realtime CPU/GB no more than the ffmpeg CLI's, ${PUBLISHERS[pub].label}, ${on} (${e.realtimeInput.spec.seconds} s)`);
    }
  }
  // Issue 10: nothing lost from publishers as installed (no shim), in every run that counts packets.
  const mine = byInput(res).flatMap((e) => [...(e.throughput?.trials ?? []), ...(e.realtime?.trials ?? [])]).filter((t) => t.receiver === 'rtmp-ingest' && t.ok && t.packets !== undefined);
  const hops = (res.latency?.hop ?? []).filter((h) => !h.error);
  if (mine.length || hops.length) {
    const lost = mine.filter((t) => t.complete === false).length + hops.filter((h) => h.packets < h.expected).length;
    const n = mine.length + hops.length;
    out.push({
      target: 'rtmp-ingest gets every packet from the unmodified publishers (throughput, realtime and hop-latency runs)',
      measured: lost ? `lost packets in ${lost} of ${n} runs` : `every packet in all ${n} runs`,
      met: lost === 0,
    });
  }
  for (const h of res.latency?.hop ?? []) {
    if (h.error || h.pinnedCpu !== undefined) continue; // pinned runs are not the default setup
    out.push({
      target: `Hop latency p99 under 1 ms, 60 fps realtime, ${PUBLISHERS[h.publisher].label}`,
      measured: `p99 ${f(h.all.p99 / 1000, 3)} ms over all ${h.all.count} packets (${f(h.steady.p99 / 1000, 3)} ms after 'session')`,
      met: h.all.p99 < 1000,
    });
  }
  const su = res.latency?.startup?.summary?.['rtmp-ingest'];
  if (su?.runs)
    out.push({
      target: "'session' within 300 ms of the publisher's first media packet",
      measured: `${f(su.sessionAfterFirstReadMs, 1)} ms median, ${f(su.sessionAfterFirstReadMaxMs, 1)} ms worst of ${su.runs} (first packet read -> 'session')`,
      met: su.sessionAfterFirstReadMaxMs <= 300,
    });
  const s64 = (res.scale ?? []).find((s) => s.listeners === 64);
  if (s64)
    out.push({
      target: '64 realtime 6 Mb/s listeners on 2 cores, no packet lost',
      measured: s64.error ? `failed: ${s64.error}` : `${s64.lost} lost of ${s64.expected}; CPU ${f(s64.cpuPercentOfCore, 0)}% of one core; hop p99 ${f(s64.p99Us / 1000, 2)} ms`,
      met: !s64.error && s64.lost === 0,
    });
  const soak = res.memory?.soak;
  if (soak && !soak.error)
    out.push({
      target: `RSS flat over ${f(soak.targetBytes / 1e9, 1)} GB ingested (growth under 5 MB), ${soakInputLabel(res)} input`,
      measured: `${f(soak.growthMiB, 1)} MiB growth (${f(soak.warmRssMiB, 1)} -> ${f(soak.endRssMiB, 1)} MiB; ${f(soak.bytes / 1e9, 2)} GB)`,
      met: soak.growthMiB < 5 && soak.bytes >= soak.targetBytes,
    });
  return out;
}

const soakInputLabel = (res) => inputLabel((res.inputs.matrix?.[res.memory?.soakInput] ?? res.inputs.main).spec);

export function cpuChart(res) {
  const tp = res.throughput;
  const groups = tp.publishers.map((pub) => ({
    label: PUBLISHERS[pub].label,
    bars: tp.receivers.map((rec) => {
      const s = tp.summary[pub][rec];
      const ratio = s?.runs && rec !== 'rtmp-ingest' ? `(rtmp-ingest ${f(s.ratioVsThis)}x)` : '';
      return { id: rec, label: label(rec), value: s?.runs ? s.cpuSecPerGB : NaN, note: s?.fromIncomplete ? `${ratio} lost packets in every run: per GB received`.trim() : ratio };
    }),
  }));
  return barChart({
    title: 'Receiver CPU per GB received (user + sys, lower is better)',
    subtitle: `median of ${tp.rounds} interleaved rounds; ${res.inputs.main.spec.size}p${res.inputs.main.spec.fps} ${res.inputs.main.spec.kbps / 1000} Mb/s H.264 + AAC; ${res.machine.cpu}, ${res.machine.cores} cores`,
    unit: 'CPU seconds per GB (1e9 bytes of media payload)',
    groups,
  });
}

export function renderMarkdown(res, { chartPath }) {
  const L = [];
  const m = res.machine;
  const main = res.inputs.main;
  const spec = (i) => `${i.spec.size} ${i.spec.fps} fps H.264 at ${i.spec.kbps / 1000} Mb/s (CBR, x264 ultrafast, GOP 2 s) + AAC 128 kb/s, ${i.spec.seconds} s: ${f(i.fileBytes / MB, 1)} MB FLV, ${i.packets} packets (${i.video} video, ${i.audio} audio), ${f(i.payloadBytes / MB, 1)} MB payload`;
  L.push('# Benchmarks', '');
  L.push(
    `Generated by \`npm run bench\` (code in [bench/](bench/)) on ${res.finishedAt.slice(0, 10)}; the run took ${f(res.durationSec / 60, 1)} min` +
      (res.mode === 'quick' ? ' (**quick mode: small inputs, one round; not for conclusions**)' : '') +
      '. Every number below is from that one run; the raw figures are in ' +
      `[${res.resultsPath}](${res.resultsPath}).`,
    '',
  );
  L.push('Reproduce (Debian 12 with ffmpeg, GStreamer rtmp2sink, strace, tcpdump and a C compiler; `perf` optional):', '');
  L.push('```sh', 'npm ci && npm run build:dev && npm run bench         # full run, writes BENCHMARKS.md and bench/results/', 'npm run bench -- --quick                            # ~1 min smoke run, writes bench/.cache/quick/', '```', '');
  L.push('## Machine', '');
  L.push('| | |', '| --- | --- |');
  L.push(`| CPU | ${m.cpu}, ${m.cores} cores (${m.note}) |`);
  L.push(`| memory | ${f(m.memGiB, 1)} GiB |`);
  L.push(`| OS | ${m.os}, kernel ${m.kernel} |`);
  L.push(`| Node.js | ${m.node} |`);
  L.push(`| rtmp-ingest | commit ${res.package.commit}${res.package.dirty ? ` (work tree differs in: ${res.package.dirty})` : ''}; ${res.package.api}; ${res.package.ffmpeg} |`);
  L.push(`| peers | ${res.peers.join('; ')} |`);
  L.push(`| load average | ${m.loadStart} at the start, ${m.loadEnd} at the end (the machine was shared with other work) |`);
  L.push('');
  L.push('## Targets (issues 4, 10 and 11)', '');
  L.push('| target | measured | |', '| --- | --- | --- |');
  for (const t of res.targets) L.push(`| ${t.target} | ${t.measured} | ${yes(t.met, t.note)} |`);
  L.push(
    '',
    'A ratio within a few percent of its threshold can land on either side in another run of this shared machine: the range across rounds is given with each one.',
    '',
  );
  L.push('## How it is measured', '');
  L.push(
    `- **Input**, made at bench time with the system ffmpeg (not committed): ${spec(main)}. Scale test: ${spec(res.inputs.scale)}.`,
    ...(Object.keys(res.matrix ?? {}).length
      ? [
          `- **Input matrix** (issue 11), made the same way, one frame size and packet shape each: ${Object.values(res.inputs.matrix)
            .map((i) => `${inputLabel(i.spec)}${i.main ? ' (the main input)' : ''}: ${i.spec.seconds} s, ${f(i.payloadBytes / MB, 1)} MB payload, ${i.packets} packets${i.video ? `, median video packet ${f(i.medianVideoPacketBytes / 1e3, 0)} KB, key frames ${f(i.minKeyframeBytes / 1e3, 0)}-${f(i.maxVideoPacketBytes / 1e3, 0)} KB` : ''}`)
            .join('; ')}. ` +
            'The 2160p30 input has a fixed noise pattern over testsrc2 so that its key frames are over 1 MB (asserted when it is made). ' +
            `On the inputs other than the main one: ${res.plan.matrix?.rounds ?? '?'} interleaved rounds with ${(res.plan.matrix?.receivers ?? []).join(', ')} (the peers of the targets; ffmpeg-pipe and node-av run on the main input only), syscalls from perf on the whole input (no strace breakdown), and ${res.plan.matrix?.realtimeRounds ?? '?'} realtime round on its first seconds against the ffmpeg CLI.`,
        ]
      : []),
    '- **Publishers**, each its own process, run as installed (nothing preloaded, not traced): the ffmpeg CLI (`-c copy -f flv`; it mirrors the chunk size the server announces: 4096 from rtmp-ingest, 65535 from node-media-server, 128 from the ffmpeg CLI and node-av, so that row is not like for like), and GStreamer `rtmp2sink` with `chunk-size` 128 (its default) and 4096 (what OBS sends), the fair comparisons. Throughput runs publish as fast as the pair goes.',
    '- **Receivers**, each in a child process of its own: ' +
      RECEIVERS.map((r) => `**${r.id}**: ${r.label}`).join('; ') +
      '. Each counts packets and bytes (rtmp-ingest in a JS `packet` handler, the ffmpeg CLI in its closing statistics at `-loglevel verbose`) and exits when the publisher is done; the count is checked against ffprobe\'s count of the input. ' +
      `**nginx-rtmp** is Debian's nginx with libnginx-mod-rtmp (\`${NGINX_INSTALL}\`; the bench leaves it out, saying so, where it is missing), started by the bench with a config of its own in a temporary folder: \`daemon off\`, \`master_process off\`, one worker, \`chunk_size 4096\` and an application with \`live on\` and no subscribers; it is stopped (SIGTERM) once its access log has the publisher's line. It counts no packets: its \`$bytes_received\` (bytes read after the handshake) is checked against the fewest bytes that can carry the input's audio and video frames at the publisher's chunk size (each FLV tag body plus one header byte per chunk); a run below that is marked **lost packets**, one at or above it is complete except for a loss smaller than the RTMP message headers (a few KB).`,
    '- **CPU**: user + sys from the kernel (`wait4` rusage via [bench/rusage.c](bench/rusage.c)) of the receiving process (for ffmpeg-pipe: the Node process plus its ffmpeg child), minus what it had used when it started listening (so start-up is not counted; it is listed separately). Divided by the payload bytes (1 GB = 1e9 bytes).',
    '- **Page faults**: minor faults of the receiving process (ffmpeg-pipe: with its ffmpeg child) from the same `wait4` rusage, minus those it had when listening, per GB received: a fault is the kernel mapping a page the process touches for the first time (freshly allocated memory).',
    `- **Interleaving**: ${res.throughput?.rounds ?? '?'} rounds; in each round every receiver gets the same publish once, in an order rotated every round. Tables give medians; **ratio** is rtmp-ingest / peer computed per round and then the median of those (min-max across rounds in brackets).`,
    '- **Throughput**: payload MB / (receiver exit - the publisher\'s TCP connect), so it is the publisher/receiver pair\'s rate. **Peak RSS**: the kernel\'s maxrss (sum of each process\'s VmHWM for ffmpeg-pipe); **idle RSS**: VmRSS when listening.',
    '- **Syscalls/MB**: `perf stat -e raw_syscalls:sys_enter` attached to the listening receiver (all threads), full input; the breakdown by syscall from `strace -c -f` on the first ' +
      `${res.inputs.profile?.spec.seconds ?? '?'} s of the input (strace slows a receiver 10x, so it gets a clip; fixed per-connection costs weigh a little more there).`,
    "- **Hop latency**: rtmp-ingest stamps each packet with CLOCK_MONOTONIC when `av_read_frame` returns (`readAtUs`); the handler takes `process.hrtime` - readAtUs. Realtime (`-re`) publish of the main input. The first packets are held back by design until the streams are described ('session'), so they carry the probing time: the table shows all packets and those read after 'session'.",
    '- **Connect times**: the publisher\'s TCP connect is the kernel\'s timestamp of its SYN on the loopback interface: `tcpdump -i lo -c 1 --immediate-mode`, filtered on SYNs to the receiver\'s port, is started before each publisher and exits at that one packet, so nothing is captured while the stream flows. The publisher is neither traced nor modified (under strace a publisher sent in another rhythm and cost the receivers more CPU per GB).' +
      synAccuracy(res) +
      " Startup milestones are wall-clock times in the receivers; for the ffmpeg CLI 'session' is the moment it prints `Input #0` (the end of its default probing).",
    '- **Publisher close**: ffmpeg and GStreamer close their socket right after their last write. A receiver still working through a backlog that then sends an RTMP acknowledgement gets RST from the publisher\'s kernel, which discards what the publisher had not yet sent: that receiver loses the end of the stream. rtmp-ingest sends a due acknowledgement only once it has caught up and reads on after a failed write (FFmpeg patches 0011 and 0009). A receiver that lost packets in a run is marked **lost packets** in its table; its CPU, throughput and memory figures then come from its complete runs only, and a round enters a ratio only when both receivers got every packet. A receiver that lost packets in every run is summarized from those runs per GB it delivered and marked †, and a target compared against it is n/a.' +
      (res.throughputLinger
        ? ` An extra table, ${LINGER_LABEL}, shows the same receivers with publishers whose final close() waits for the receiver to close first (shutdown, then drain): not a headline row, since those publishers are modified.`
        : ''),
  );
  if (res.notes?.length) for (const n of res.notes) L.push(`- ${n}`);
  L.push('');

  // ---- throughput
  const tp = res.throughput;
  if (tp) {
    L.push('## CPU per GB, throughput, memory', '');
    L.push(`![CPU per GB](${chartPath})`, '');
    for (const pub of tp.publishers) {
      L.push(`### ${PUBLISHERS[pub].label}`, '');
      throughputTable(L, tp, pub);
    }
    const lg = res.throughputLinger;
    if (lg) {
      for (const pub of lg.publishers) {
        L.push(`### ${PUBLISHERS[pub].label}, ${LINGER_LABEL}`, '');
        L.push(
          `Not a headline row (${lg.rounds} round${lg.rounds === 1 ? '' : 's'}): bench/linger.c turns the publisher's final close() into shutdown + drain, so it stays until the receiver has read everything. Compare the packets column with the unmodified publisher's table.`,
          '',
        );
        throughputTable(L, lg, pub);
      }
    }
  }

  // ---- the input matrix
  if (Object.keys(res.matrix ?? {}).length) matrixTable(L, res);

  // ---- realtime
  const rt = res.realtime ?? (Object.values(res.matrix ?? {}).some((m) => m.realtime) ? {} : undefined);
  if (rt) {
    L.push('## CPU per GB at realtime (the start of each input at its own rate)', '');
    L.push(
      'A live publisher sends each frame as it is made, so a receiver wakes up for every few packets instead of reading a backlog: the cost per byte is higher than above and closer to what a live ingest pays. ' +
        'Per-connection costs (handshake, probing) weigh more on a short, low-rate clip: most on the audio-only one.',
      '',
    );
    L.push('| input | publisher | receiver | CPU s/GB | user / sys s/GB | CPU % of a core | rtmp-ingest / this (CPU) | minor faults/GB | rounds | packets |');
    L.push('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const e of byInput(res)) {
      const r = e.realtime;
      if (!r) continue;
      const what = `${inputLabel(e.input.spec)}, first ${e.realtimeInput.spec.seconds} s`;
      for (const pub of r.publishers) {
        for (const rec of r.receivers) {
          const s = r.summary[pub][rec];
          if (!s?.runs) {
            L.push(`| ${what} | ${PUBLISHERS[pub].label} | ${label(rec)} | failed: ${String(s?.error ?? '').replace(/\|/g, '/').slice(0, 120)} | | | | | | |`);
            continue;
          }
          const pct = (s.cpuSecPerGB * (e.realtimeInput.payloadBytes / 1e9) * 100) / e.realtimeInput.spec.seconds; // CPU of the whole clip at the median rate
          L.push(`| ${what} | ${PUBLISHERS[pub].label} | ${label(rec)} | ${cpuCell(s)} | ${f(s.userSecPerGB)} / ${f(s.sysSecPerGB)} | ${f(pct, 1)} | ${ratioCell(s, rec)} | ${f(s.minFaultsPerGB, 0)} | ${r.rounds} | ${packetsCell(s)} |`);
        }
      }
      dagger(L, r);
    }
    L.push('');
  }

  // ---- syscalls
  if (res.syscalls) {
    L.push('## Syscalls per MB received', '');
    L.push(`Main input (${inputLabel(main.spec)}); the other inputs' rows are in the input matrix table.`, '');
    L.push('| publisher | receiver | syscalls/MB (perf, full input) | minor faults/GB (same run) | context switches/MB | top syscalls per MB (strace -c, clip) |');
    L.push('| --- | --- | ---: | ---: | ---: | --- |');
    for (const [pub, byRec] of Object.entries(res.syscalls)) {
      for (const [rec, row] of Object.entries(byRec)) {
        const top = row.top ? row.top.map((x) => `${x.name} ${f(x.perMB, 0)}`).join(', ') : (row.straceError ?? '').slice(0, 120);
        L.push(`| ${PUBLISHERS[pub].label} | ${label(rec)} | ${f(row.perMB, 0)} | ${f(row.minFaultsPerGB, 0)} | ${f(row.contextSwitchesPerMB, 0)} | ${top} |`);
      }
    }
    for (const [pub, byRec] of Object.entries(res.syscallsRealtime ?? {})) {
      for (const [rec, row] of Object.entries(byRec)) {
        const top = row.top ? row.top.map((x) => `${x.name} ${f(x.perMB, 0)}`).join(', ') : (row.straceError ?? '').slice(0, 120);
        L.push(`| ${PUBLISHERS[pub].label}, **realtime** | ${label(rec)} | ${f(row.perMB, 0)} (strace) | n/a | n/a | ${top} |`);
      }
    }
    L.push('');
  }

  // ---- latency
  if (res.latency) {
    L.push('## Latency', '');
    if (res.latency.hop?.length) {
      L.push('### Hop latency: `av_read_frame` returned -> JS `packet` handler (rtmp-ingest, realtime 60 fps)', '');
      L.push("| publisher | packets | p50 µs | p99 µs | p99.9 µs | max µs | after 'session': p99 / max µs | held during probing | realtime CPU s/GB | CPU % of a core | load average (1 min) at the end |");
      L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      const hopLabel = (h) => `${PUBLISHERS[h.publisher].label}${h.pinnedCpu === undefined ? '' : `, **node on one CPU** (\`taskset -c ${h.pinnedCpu}\`)`}`;
      for (const h of res.latency.hop) {
        if (h.error) {
          L.push(`| ${hopLabel(h)} | failed: ${h.error} | | | | | | | | | |`);
          continue;
        }
        L.push(`| ${hopLabel(h)} | ${h.all.count} of ${h.expected} | ${h.all.p50} | ${h.all.p99} | ${h.all.p999} | ${h.all.max} | ${h.steady.p99} / ${h.steady.max} | ${h.heldDuringProbe} | ${f(h.cpuSecPerGB)} | ${f(h.cpuPercentOfCore, 1)} | ${f(h.loadAvg1)} |`);
      }
      L.push(
        '',
        "Hop latency is mostly scheduling of the JS thread. In the slow hops traced with the kernel's sched_switch events (a 12 s run), the JS thread was woken onto a CPU that was busy, behind the reader thread (reading the next video frame) or the publisher, and waited there 1.4-2.5 ms; waking a thread on the other, idle CPU took about 0.05 ms (p50) and 0.3-0.4 ms (p99) with [bench/wake-floor.c](bench/wake-floor.c) on this VM. So the reader wakes the JS thread by writing to a pipe that Node's loop watches (a sync wake-up: the kernel queues the JS thread on the reader's CPU rather than behind the publisher) and then yields its CPU once if that thread had been idle for 1 ms or more. On a shared 2-core machine the tail still moves with the load of other work, so repeated runs differ (compare the load column).",
        ...(res.latency.hop.some((h) => h.pinnedCpu !== undefined && !h.error)
          ? [
              '',
              "The row with node on one CPU (its JS thread and the reader thread share a CPU; the publisher has the other) is not the default setup and not a target row: there the JS thread never waits behind the publisher.",
            ]
          : []),
        '',
      );
    }
    const st = res.latency.startup;
    if (st) {
      L.push("### Startup: the publisher's TCP connect (its SYN) -> ...  (ffmpeg CLI publisher, realtime; median of runs)", '');
      L.push("| receiver | runs | -> 'session' (streams known) ms | -> first packet in JS ms | first packet read -> 'session' ms (worst) |");
      L.push('| --- | ---: | ---: | ---: | ---: |');
      for (const [rec, s] of Object.entries(st.summary)) {
        if (!s.runs) {
          L.push(`| ${label(rec)} | 0 | failed: ${s.error ?? ''} | | |`);
          continue;
        }
        const sess = rec === 'ffmpeg-cli' ? `${f(s.sessionMs, 0)} (its "Input #0")` : rec === 'ffmpeg-pipe' ? 'n/a' : f(s.sessionMs, 0);
        L.push(`| ${label(rec)} | ${s.runs} | ${sess} | ${rec === 'ffmpeg-cli' ? 'n/a (no JS)' : f(s.firstPacketMs, 0)} | ${s.sessionAfterFirstReadMs === undefined ? 'n/a' : `${f(s.sessionAfterFirstReadMs, 1)} (${f(s.sessionAfterFirstReadMaxMs, 1)})`} |`);
      }
      L.push('');
      L.push(
        "The time from the connect to the first media packet is mostly the publisher's (RTMP handshake, connect/publish commands, its own input probing); " +
          "the last column is rtmp-ingest's own share: from reading the first media packet to emitting 'session'.",
        '',
      );
    }
  }

  // ---- scale
  if (res.scale?.length) {
    const pub = res.scale[0].publisher;
    L.push(`## Scale: N listeners in one process, each a realtime ${res.inputs.scale.spec.kbps / 1000} Mb/s publish (${PUBLISHERS[pub].label}, ${res.inputs.scale.spec.seconds} s)`, '');
    L.push('| listeners | CPU % of one core (receiver) | publishers\' CPU % | hop p50 µs | hop p99 µs | hop max µs | packets lost | peak RSS MiB |');
    L.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const s of res.scale) {
      if (s.error) {
        L.push(`| ${s.listeners} | failed: ${s.error} | | | | | | |`);
        continue;
      }
      L.push(`| ${s.listeners} | ${f(s.cpuPercentOfCore, 1)} | ${f(s.publisherCpuPercentOfCore, 0)} | ${s.p50Us} | ${s.p99Us} | ${s.maxUs} | ${s.lost} of ${s.expected} | ${f(s.peakRssMiB, 0)} |`);
    }
    L.push('');
  }

  // ---- memory
  if (res.memory) {
    L.push('## Memory', '');
    const { idle, soak } = res.memory;
    if (idle) L.push(`- Idle rtmp-ingest listener (Node.js process, listening, no publisher): RSS ${f(idle.rssMiB, 1)} MiB${idle.bareNodeRssMiB ? `; a bare \`node\` process idling in a timer here: ${f(idle.bareNodeRssMiB, 1)} MiB` : ''}.`);
    if (soak) {
      L.push(
        `- One session of ${f(soak.bytes / 1e9, 2)} GB of the ${soakInputLabel(res)} input (ffmpeg \`-stream_loop -1\`, as fast as it goes, ${f(soak.seconds, 0)} s): RSS ${f(soak.warmRssMiB, 1)} MiB after the first 10%, ${f(soak.endRssMiB, 1)} MiB at the end, ${f(soak.minRssMiB, 1)}-${f(soak.maxRssMiB, 1)} MiB throughout: growth ${f(soak.growthMiB, 1)} MiB.`,
      );
      if (soak.samples?.length) {
        const step = Math.max(1, Math.floor(soak.samples.length / 10));
        L.push('', '| GB ingested | ' + soak.samples.filter((_, i) => i % step === 0).map(([mb]) => f(mb / 1000, 1)).join(' | ') + ' |');
        L.push('| --- | ' + soak.samples.filter((_, i) => i % step === 0).map(() => '---:').join(' | ') + ' |');
        L.push('| RSS MiB | ' + soak.samples.filter((_, i) => i % step === 0).map(([, r]) => f(r, 1)).join(' | ') + ' |');
      }
    }
    L.push('');
  }

  if (res.observations?.length) {
    L.push('## Observations', '');
    for (const o of res.observations) L.push(`- ${o}`);
    L.push('');
  }
  // Profiles and experiments made outside the full run (bench/ab.mjs, perf):
  // kept by hand in bench/analysis.md, carried into every report.
  // So are the last runs of bench/many.mjs (many publishers on one port) and
  // bench/record.mjs (the cost of recording), each a run of its own.
  for (const name of ['analysis.md', 'many.md', 'record.md']) {
    const file = join(BENCH_DIR, name);
    if (existsSync(file)) L.push(readFileSync(file, 'utf8').trimEnd(), '');
  }
  return L.join('\n');
}

/** CPU s/GB, marked when every run of the receiver lost packets (then per GB it delivered). */
const cpuCell = (s) => `${f(s.cpuSecPerGB)}${s.fromIncomplete ? ' †' : ''}`;

function ratioCell(s, rec) {
  if (rec === 'rtmp-ingest') return '1';
  const rounds = s.ratioRounds !== undefined && s.ratioRounds < s.runs ? `; ${s.ratioRounds} of ${s.runs} rounds` : '';
  return `${f(s.ratioVsThis)}${s.ratioFromIncomplete ? ' †' : ''} (${f(s.ratioMin)}-${f(s.ratioMax)}${rounds})`;
}

function packetsCell(s) {
  if (s.packets === undefined && s.wireMinBytes !== undefined) {
    // nginx-rtmp: bytes read against the media's minimum on the wire
    if (s.complete) return `not counted; bytes read ≥ the media's ${s.wireMinBytes} in every run`;
    return `**lost packets** in ${s.incompleteRuns} of ${s.runs} run${s.runs === 1 ? '' : 's'} (read ${s.minWireBytes} bytes, the media needs ≥ ${s.wireMinBytes})${s.fromIncomplete ? '' : `; figures from the ${s.figureRuns} complete run${s.figureRuns === 1 ? '' : 's'}`}`;
  }
  if (s.packets === undefined) return 'bytes ok';
  if (s.complete) return `all (${s.packets})`;
  const of = s.expected === undefined ? '' : ` of ${s.expected}`;
  const from = s.fromIncomplete ? '' : `; figures from the ${s.figureRuns} complete run${s.figureRuns === 1 ? '' : 's'}`;
  return `**lost packets** in ${s.incompleteRuns} of ${s.runs} run${s.runs === 1 ? '' : 's'} (fewest ${s.minPackets}${of})${from}`;
}

/** The footnote for †, under a table that has one. */
function dagger(L, tp) {
  const marked = Object.values(tp.summary).some((byRec) => Object.values(byRec).some((s) => s.fromIncomplete || s.ratioFromIncomplete));
  if (marked) L.push('† lost packets in every run (for a ratio: either receiver did): figures per GB delivered, from streams that ended early; not like for like with a whole stream.', '');
}

function throughputTable(L, tp, pub) {
  L.push('| receiver | CPU s/GB | user / sys s/GB | rtmp-ingest / this (CPU) | minor faults/GB | throughput MB/s | peak RSS MiB | idle RSS MiB | start-up CPU ms | packets |');
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const rec of tp.receivers) {
    const s = tp.summary[pub][rec];
    if (!s?.runs) {
      L.push(`| ${label(rec)} | failed: ${String(s?.error ?? '').replace(/\|/g, '/').slice(0, 160)} | | | | | | | | |`);
      continue;
    }
    L.push(`| ${label(rec)} | ${cpuCell(s)} | ${f(s.userSecPerGB)} / ${f(s.sysSecPerGB)} | ${ratioCell(s, rec)} | ${f(s.minFaultsPerGB, 0)} | ${f(s.throughputMBps, 0)} | ${f(s.peakRssMiB, 0)} | ${f(s.idleRssMiB, 0)} | ${f(s.startupCpuMs, 0)} | ${packetsCell(s)} |`);
  }
  L.push('');
  dagger(L, { summary: { [pub]: tp.summary[pub] } });
}

/** How far the captured SYN lay from the connect() call, where bench/linger.c logged the call (the lingering-close runs). */
function synAccuracy(res) {
  const d = (res.throughputLinger?.trials ?? []).map((t) => t.synAfterConnectCallUs).filter((x) => x !== undefined);
  if (!d.length) return '';
  return ` In the ${d.length} runs with bench/linger.c preloaded, which also logs the publisher's connect() call, the SYN was captured ${f(median(d), 0)} µs after the call (median; ${Math.min(...d)}-${Math.max(...d)} µs).`;
}

/**
 * The input matrix in one table: per input, publisher and receiver, CPU per
 * GB, the paired ratio, minor faults per GB, syscalls per MB (perf, whole
 * input) and throughput; the main input's rows come from its own sections.
 */
function matrixTable(L, res) {
  L.push('## Input matrix: CPU, page faults and syscalls by input', '');
  L.push(
    'Medians of the interleaved rounds of each input (the main input: its rounds above). A cost per byte that does not depend on the frame size is flat down each receiver\'s column of inputs.',
    '',
  );
  L.push('| input | publisher | receiver | CPU s/GB | rtmp-ingest / this (CPU) | minor faults/GB | syscalls/MB | throughput MB/s | rounds | packets |');
  L.push('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const e of byInput(res)) {
    const tp = e.throughput;
    if (!tp) continue;
    const pubs = e.main ? tp.publishers.filter((p) => res.plan.matrix?.publishers?.includes(p) ?? true) : tp.publishers;
    for (const pub of pubs) {
      for (const rec of tp.receivers) {
        const s = tp.summary[pub]?.[rec];
        const sc = e.syscalls?.[pub]?.[rec];
        const what = `${inputLabel(e.input.spec)}${e.main ? ' (main)' : ''}`;
        if (!s?.runs) {
          L.push(`| ${what} | ${PUBLISHERS[pub].label} | ${label(rec)} | failed: ${String(s?.error ?? '').replace(/\|/g, '/').slice(0, 120)} | | | | | | |`);
          continue;
        }
        L.push(`| ${what} | ${PUBLISHERS[pub].label} | ${label(rec)} | ${cpuCell(s)} | ${ratioCell(s, rec)} | ${f(s.minFaultsPerGB, 0)} | ${sc ? `${f(sc.perMB, 0)}${sc.complete === false ? ' (that run lost packets)' : ''}` : 'n/a'} | ${f(s.throughputMBps, 0)} | ${tp.rounds} | ${packetsCell(s)} |`);
      }
    }
    dagger(L, tp);
  }
  L.push('');
}
