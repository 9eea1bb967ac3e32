// Latency with realtime publishers:
//  - hop latency: av_read_frame returning a packet -> rtmp-ingest's JS
//    'packet' handler running (readAtUs vs process.hrtime in the handler);
//  - startup: the publisher's TCP connect (its SYN, captured by tcpdump) ->
//    'session' and -> the first packet in JS, per receiver; for the ffmpeg
//    CLI, -> its "Input #0" line (the end of its default probing).
import { startPublisher } from './publishers.mjs';
import { startReceiver } from './receivers.mjs';
import os from 'node:os';
import { freePort, median, sleep, treeCpuUs, waitExit, wallUs } from './measure.mjs';

/** One realtime publish to rtmp-ingest; hop latency over every packet, and CPU. */
export async function runHopLatency({ publisher, input, log, pinCpu }) {
  const port = await freePort();
  const rec = await startReceiver('rtmp-ingest', { port, maxSeconds: input.spec.seconds + 120, latency: true, pinCpu });
  await sleep(150);
  const base = treeCpuUs(rec.h.pid);
  const pub = await startPublisher(publisher, input.file, `rtmp://127.0.0.1:${port}/live/bench`, { realtime: true });
  await waitExit(rec.h, (input.spec.seconds + 90) * 1000);
  await waitExit(pub, 15_000).catch(() => pub.kill());
  const done = await rec.result();
  const ru = rec.h.rusage();
  const cpuUs = ru.userUs + ru.sysUs - base.userUs - base.sysUs;
  const out = {
    publisher,
    ...(pinCpu === undefined ? {} : { pinnedCpu: pinCpu }),
    packets: done.packets,
    expected: input.packets,
    all: done.latencyUs,
    steady: done.steadyLatencyUs,
    heldDuringProbe: done.latencyUs.count - done.steadyLatencyUs.count,
    cpuSecPerGB: cpuUs / 1e6 / (input.payloadBytes / 1e9),
    cpuPercentOfCore: (cpuUs / (input.spec.seconds * 1e6)) * 100,
    // The 1-minute load average at the end: the machine is shared, and hop latency is scheduling latency.
    loadAvg1: os.loadavg()[0],
  };
  log(
    `  hop latency ${publisher}${pinCpu === undefined ? '' : ` (node on CPU ${pinCpu})`}: p50 ${out.all.p50} us, p99 ${out.all.p99} us, max ${out.all.max} us over ${out.all.count} packets ` +
      `(after 'session': p99 ${out.steady.p99} us, max ${out.steady.max} us); realtime CPU ${out.cpuSecPerGB.toFixed(2)} s/GB`,
  );
  return out;
}

/** One realtime publish of `seconds` to a receiver; startup milestones in ms after the publisher's SYN. */
export async function runStartup({ receiver, input, seconds, log }) {
  const port = await freePort();
  let inputLineAt;
  const rec = await startReceiver(receiver, {
    port,
    maxSeconds: seconds + 60,
    onStderr: (d) => {
      if (inputLineAt === undefined && /Input #0/.test(d)) inputLineAt = wallUs();
    },
  });
  try {
    await sleep(150);
    const pub = await startPublisher('ffmpeg', input.file, `rtmp://127.0.0.1:${port}/live/bench`, { realtime: true, seconds, connectTime: true });
    await waitExit(rec.h, (seconds + 45) * 1000);
    await waitExit(pub, 15_000).catch(() => pub.kill());
    const connectAt = await pub.connectAt();
    if (!connectAt) throw new Error('no SYN to the port captured (is tcpdump usable here?)');
    const line = (t) => rec.h.lines.find((m) => m.t === t);
    const ms = (w) => (w === undefined ? undefined : (w - connectAt) / 1000);
    const first = line('first');
    const session = line('session');
    const out = {
      receiver,
      sessionMs: receiver === 'ffmpeg-cli' ? ms(inputLineAt) : ms(session?.wallUs),
      firstPacketMs: ms(first?.wallUs),
    };
    if (receiver === 'rtmp-ingest' && first?.readAtUs) {
      // first.readAtUs is on the monotonic clock: place it on the wall clock through first's own pair.
      const firstReadWall = first.wallUs - (first.monoUs - first.readAtUs);
      out.firstReadMs = ms(firstReadWall);
      out.sessionAfterFirstReadMs = (first.sessionMonoUs - first.readAtUs) / 1000;
    }
    log(`  startup ${receiver.padEnd(17)} session ${out.sessionMs?.toFixed(1) ?? '-'} ms, first packet in JS ${out.firstPacketMs?.toFixed(1) ?? '-'} ms after the SYN`);
    return out;
  } catch (err) {
    await rec.h.kill(500);
    return { receiver, error: String(err?.message ?? err).slice(0, 400) };
  }
}

export async function runStartups({ receivers, input, rounds, seconds, log }) {
  const runs = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < receivers.length; i++) runs.push(await runStartup({ receiver: receivers[(i + r) % receivers.length], input, seconds, log }));
  }
  const summary = {};
  for (const rec of receivers) {
    const rs = runs.filter((x) => x.receiver === rec && !x.error);
    const med = (k) => {
      const v = rs.map((x) => x[k]).filter((x) => x !== undefined);
      return v.length ? median(v) : undefined;
    };
    summary[rec] = rs.length
      ? {
          runs: rs.length,
          sessionMs: med('sessionMs'),
          firstPacketMs: med('firstPacketMs'),
          firstReadMs: med('firstReadMs'),
          sessionAfterFirstReadMs: med('sessionAfterFirstReadMs'),
          sessionAfterFirstReadMaxMs: rs.some((x) => x.sessionAfterFirstReadMs !== undefined) ? Math.max(...rs.map((x) => x.sessionAfterFirstReadMs ?? -Infinity)) : undefined,
        }
      : { runs: 0, error: runs.find((x) => x.receiver === rec)?.error };
  }
  return { runs, summary };
}
