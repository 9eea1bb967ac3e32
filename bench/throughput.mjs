// CPU per GB, throughput, peak RSS (and, in separate strace runs, syscalls
// per MB): the same publisher sends the same input to each receiver in turn,
// interleaved round by round (A B C D E, B C D E A, ...) so that drift of the
// shared machine falls on every receiver alike.
import { join } from 'node:path';
import { PUBLISHERS, startPublisher } from './publishers.mjs';
import { NGINX_CHUNK, startReceiver } from './receivers.mjs';
import { attachPerf, attachStrace, CACHE_DIR, parsePerfStat, freePort, median, parseStraceSummary, processTree, procMem, sleep, treeCpuUs, treeFaults, waitExit } from './measure.mjs';
import { readFileSync, rmSync } from 'node:fs';

let seq = 0;

/**
 * One publish of `input` by `publisher` to `receiver`, measured. linger:
 * preload bench/linger.c into the publisher (the extra row only).
 */
export async function runTrial({ receiver, publisher, input, strace = false, perf = false, realtime = false, linger = false, timeoutMs = 300_000 }) {
  const port = await freePort();
  let h;
  try {
    const rec = await startReceiver(receiver, { port, maxSeconds: Math.ceil(timeoutMs / 1000) + 30 });
    h = rec.h;
    await sleep(150); // let it settle into its idle wait
    const idleRssKiB = processTree(h.pid).reduce((a, p) => a + (procMem(p)?.rssKiB ?? 0), 0);
    const base = treeCpuUs(h.pid);
    const baseFaults = treeFaults(h.pid);
    let st;
    let straceFile;
    if (strace) {
      straceFile = join(CACHE_DIR, `strace-${process.pid}-${++seq}.txt`);
      st = await attachStrace(processTree(h.pid), straceFile);
    }
    let pf;
    let perfFile;
    if (perf) {
      perfFile = join(CACHE_DIR, `perf-${process.pid}-${++seq}.txt`);
      pf = await attachPerf(processTree(h.pid), perfFile);
    }
    // The syscall runs need no connect time: no capture there.
    const pub = await startPublisher(publisher, input.file, `rtmp://127.0.0.1:${port}/live/bench`, { connectTime: !strace && !perf, realtime, linger, audioOnly: input.video === 0 });
    await waitExit(h, timeoutMs);
    const pubExit = await waitExit(pub, 15_000).catch((e) => ({ error: e }));
    const ru = h.rusage();
    if (!ru) throw new Error(`${receiver}: no rusage (${JSON.stringify(h.exitInfo)}): ${h.stderr().slice(-1500)}`);
    const res = await rec.result();
    const connectAt = await pub.connectAt();
    const shimConnectAt = pub.shimConnectAt();
    let syscalls;
    if (st) {
      await waitExit(st, 15_000).catch(() => st.kill());
      syscalls = parseStraceSummary(readFileSync(straceFile, 'utf8'));
      rmSync(straceFile, { force: true });
    }
    let perfCounts;
    if (pf) {
      await waitExit(pf, 15_000).catch(() => pf.kill());
      perfCounts = parsePerfStat(readFileSync(perfFile, 'utf8'));
      rmSync(perfFile, { force: true });
    }
    const cpuUs = ru.userUs + ru.sysUs - base.userUs - base.sysUs;
    // nginx-rtmp counts no packets: its bytes read must at least carry the
    // input's media at the chunk size the publisher used (a lower bound).
    const chunk = typeof PUBLISHERS[publisher].chunk === 'number' ? PUBLISHERS[publisher].chunk : NGINX_CHUNK;
    const wireMin = res.wireBytes === undefined ? undefined : input.wireMinBytes?.[chunk];
    const complete = res.packets !== undefined ? res.packets >= input.packets : wireMin !== undefined ? res.wireBytes >= wireMin : undefined;
    return {
      receiver,
      publisher,
      ...(linger ? { linger } : {}),
      ok: true,
      userUs: ru.userUs - base.userUs,
      sysUs: ru.sysUs - base.sysUs,
      cpuUs,
      startupCpuUs: base.userUs + base.sysUs,
      minFlt: ru.minFlt === undefined ? undefined : ru.minFlt - baseFaults.minFlt,
      majFlt: ru.majFlt === undefined ? undefined : ru.majFlt - baseFaults.majFlt,
      wallUs: connectAt ? (h.doneWallUs ?? ru.exitedAtWallUs) - connectAt : undefined,
      // How far the captured SYN lies from the connect() call that bench/linger.c logged (linger only).
      synAfterConnectCallUs: connectAt && shimConnectAt ? connectAt - shimConnectAt : undefined,
      peakRssKiB: h.peakRssKiB(),
      idleRssKiB,
      packets: res.packets,
      bytes: res.bytes,
      end: res.listeners?.map((l) => l.end).join(','),
      ...(res.wireBytes === undefined ? {} : { wireBytes: res.wireBytes, wireMinBytes: wireMin }),
      complete,
      // Payload bytes this receiver delivered: the input's when it got every
      // packet (nginx-rtmp: at most the bytes it read).
      gotBytes: complete === false ? (res.bytes ?? Math.min(res.wireBytes, input.payloadBytes)) : input.payloadBytes,
      video: res.listeners?.[0]?.video,
      audio: res.listeners?.[0]?.audio,
      publisherExit: pubExit.error ? String(pubExit.error.message).slice(0, 200) : pubExit.code,
      syscalls,
      perf: perfCounts,
    };
  } catch (err) {
    await h?.kill(500);
    return { receiver, publisher, ok: false, error: String(err?.message ?? err).slice(0, 600) };
  }
}

/**
 * rounds x publishers x receivers, receivers rotated each round. Returns every
 * trial plus, per publisher and receiver, medians and paired ratios
 * rtmp-ingest/peer (median over rounds of the per-round ratio).
 */
export async function runThroughput({ receivers, publishers, input, rounds, log, realtime = false, linger = false }) {
  const trials = [];
  for (let r = 0; r < rounds; r++) {
    for (const pub of publishers) {
      const order = receivers.map((_, i) => receivers[(i + r) % receivers.length]);
      for (const rec of order) {
        const t = await runTrial({ receiver: rec, publisher: pub, input, realtime, linger, timeoutMs: realtime ? (input.spec.seconds + 120) * 1000 : 300_000 });
        t.round = r;
        trials.push(t);
        log(
          `  ${realtime ? 'realtime ' : ''}${linger ? 'linger ' : ''}round ${r + 1}/${rounds} ${pub.padEnd(7)} ${rec.padEnd(17)} ` +
            (t.ok
              ? `cpu ${(t.cpuUs / 1e3).toFixed(0).padStart(5)} ms  ${((t.cpuUs / 1e6) / (t.gotBytes / 1e9)).toFixed(2)} s/GB  ${(t.minFlt / (t.gotBytes / 1e9)).toFixed(0)} faults/GB  wall ${t.wallUs ? (t.wallUs / 1e3).toFixed(0) : '?'} ms  rss ${(t.peakRssKiB / 1024).toFixed(0)} MiB  pkts ${t.packets ?? '-'}/${input.packets}` +
                (t.complete === false ? '  LOST PACKETS' : '') +
                (t.synAfterConnectCallUs === undefined ? '' : `  SYN ${t.synAfterConnectCallUs} us after connect()`)
              : `FAILED ${t.error}`),
        );
      }
    }
  }
  return { trials, summary: summarizeThroughput(trials, receivers, publishers, input) };
}

/**
 * Medians per publisher and receiver, and paired ratios rtmp-ingest/peer
 * (median over rounds of the per-round ratio). A run in which a receiver
 * lost packets did less work than a complete one: while that receiver has
 * complete runs its figures come from those, and a round enters the ratios
 * only when both sides of it were complete. A receiver that lost packets in
 * every run is summarized from those runs, per GB it delivered, and marked
 * (fromIncomplete), as are the ratios that involve it.
 */
export function summarizeThroughput(trials, receivers, publishers, input) {
  const got = (t) => t.gotBytes ?? input.payloadBytes;
  const perGB = (t, us) => us / 1e6 / (got(t) / 1e9);
  const summary = {};
  for (const pub of publishers) {
    summary[pub] = {};
    const ran = {};
    const used = {};
    for (const rec of receivers) {
      ran[rec] = trials.filter((t) => t.publisher === pub && t.receiver === rec && t.ok);
      const full = ran[rec].filter((t) => t.complete !== false);
      used[rec] = full.length ? full : ran[rec];
    }
    const mine = used['rtmp-ingest'] ?? [];
    const mineIncomplete = mine.some((t) => t.complete === false);
    for (const rec of receivers) {
      const ts = ran[rec];
      if (!ts.length) {
        const failed = trials.find((t) => t.publisher === pub && t.receiver === rec && !t.ok);
        summary[pub][rec] = { runs: 0, error: failed?.error ?? 'no run' };
        continue;
      }
      const us = used[rec];
      const fromIncomplete = us.some((t) => t.complete === false);
      const ratios = [];
      for (const t of us) {
        const m = mine.find((x) => x.round === t.round);
        if (m && t.cpuUs > 0) ratios.push(perGB(m, m.cpuUs) / perGB(t, t.cpuUs));
      }
      const packets = ts.map((t) => t.packets).filter((n) => n !== undefined);
      summary[pub][rec] = {
        runs: ts.length,
        cpuSecPerGB: median(us.map((t) => perGB(t, t.cpuUs))),
        userSecPerGB: median(us.map((t) => perGB(t, t.userUs))),
        sysSecPerGB: median(us.map((t) => perGB(t, t.sysUs))),
        throughputMBps: median(us.filter((t) => t.wallUs).map((t) => got(t) / 1e6 / (t.wallUs / 1e6))),
        peakRssMiB: median(us.map((t) => t.peakRssKiB / 1024)),
        // nginx-rtmp (no packet count): the fewest bytes it read, and the media's minimum.
        ...(ts.some((t) => t.wireBytes !== undefined) ? { minWireBytes: Math.min(...ts.map((t) => t.wireBytes)), wireMinBytes: ts[0].wireMinBytes } : {}),
        minFaultsPerGB: median(us.filter((t) => t.minFlt !== undefined).map((t) => t.minFlt / (got(t) / 1e9))),
        idleRssMiB: median(us.map((t) => t.idleRssKiB / 1024)),
        startupCpuMs: median(us.map((t) => t.startupCpuUs / 1e3)),
        complete: ts.every((t) => t.complete !== false),
        incompleteRuns: ts.filter((t) => t.complete === false).length,
        // The figures above come from this many runs (all, or the complete ones).
        figureRuns: us.length,
        fromIncomplete,
        expected: input.packets,
        packets: packets.length ? Math.max(...packets) : undefined,
        minPackets: packets.length ? Math.min(...packets) : undefined,
        ratioVsThis: rec === 'rtmp-ingest' ? 1 : median(ratios),
        ratioMin: ratios.length ? Math.min(...ratios) : NaN,
        ratioMax: ratios.length ? Math.max(...ratios) : NaN,
        ratioRounds: ratios.length,
        ratioFromIncomplete: rec !== 'rtmp-ingest' && (fromIncomplete || mineIncomplete),
      };
    }
  }
  return summary;
}

/**
 * Syscall profile, per receiver and publisher: totals per MB from `perf stat`
 * on the full input (cheap, all threads), and the breakdown by syscall from
 * `strace -c` on a shorter clip (strace stops the tracee at every syscall).
 */
export async function runSyscalls({ receivers, publishers, input, clip, usePerf, perfOnly = false, log, realtime = false }) {
  const out = {};
  const mb = input.payloadBytes / 1e6;
  const clipMb = clip?.payloadBytes / 1e6;
  for (const pub of publishers) {
    out[pub] = {};
    for (const rec of receivers) {
      const row = {};
      if (usePerf) {
        const t = await runTrial({ receiver: rec, publisher: pub, input, perf: true });
        if (t.ok && t.perf?.syscalls) {
          row.perMB = t.perf.syscalls / mb;
          row.contextSwitchesPerMB = t.perf.contextSwitches / mb;
          row.complete = t.complete;
          if (t.minFlt !== undefined) row.minFaultsPerGB = t.minFlt / (t.gotBytes / 1e9);
        } else row.perfError = t.error ?? 'no perf output';
      }
      // perfOnly (the matrix's other inputs): no breakdown by syscall.
      const s = perfOnly ? { ok: false, error: 'perf only' } : await runTrial({ receiver: rec, publisher: pub, input: clip, strace: true, realtime });
      if (s.ok && s.syscalls) {
        row.straceTotalPerMB = s.syscalls.total / clipMb;
        row.top = Object.entries(s.syscalls.byName)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 6)
          .map(([name, calls]) => ({ name, perMB: calls / clipMb }));
        if (row.perMB === undefined) row.perMB = row.straceTotalPerMB;
      } else if (!perfOnly) row.straceError = s.error ?? 'no strace output';
      out[pub][rec] = row;
      log(
        `  syscalls ${realtime ? 'realtime ' : ''}${pub.padEnd(7)} ${rec.padEnd(17)} ${row.perMB?.toFixed(0) ?? '?'} /MB` +
          (row.contextSwitchesPerMB !== undefined ? `, ${row.contextSwitchesPerMB.toFixed(0)} ctx switches/MB` : '') +
          (row.minFaultsPerGB !== undefined ? `, ${row.minFaultsPerGB.toFixed(0)} minor faults/GB` : '') +
          (row.top ? `  (strace: ${row.top.map((x) => `${x.name} ${x.perMB.toFixed(0)}`).join(', ')})` : ` ${row.straceError ?? row.perfError ?? ''}`),
      );
    }
  }
  return out;
}
