// Scale: N rtmp-ingest listeners in one process, each receiving its own
// realtime 6 Mb/s publish (GStreamer, one demux/mux and a tee to at most 16
// rtmp2sinks per publisher process). Total CPU of the receiving process,
// p99 hop latency over all packets, packets lost (expected - received).
import { startPublisher } from './publishers.mjs';
import { startReceiver } from './receivers.mjs';
import { freePort, sleep, treeCpuUs, waitExit } from './measure.mjs';

const PER_PUBLISHER = 16;

export async function runScale({ listeners, input, publisher, log }) {
  const ports = [];
  while (ports.length < listeners) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const seconds = input.spec.seconds;
  const rec = await startReceiver('rtmp-ingest', { ports, maxSeconds: seconds + 120, latency: true });
  try {
    await sleep(200);
    const base = treeCpuUs(rec.h.pid);
    const pubs = [];
    for (let i = 0; i < ports.length; i += PER_PUBLISHER) {
      const urls = ports.slice(i, i + PER_PUBLISHER).map((p) => `rtmp://127.0.0.1:${p}/live/bench`);
      pubs.push(await startPublisher(publisher, input.file, urls, { realtime: true, measured: true }));
    }
    const t0 = Date.now();
    await waitExit(rec.h, (seconds + 100) * 1000);
    const wallSec = (Date.now() - t0) / 1000;
    for (const p of pubs) await waitExit(p, 20_000).catch(() => p.kill());
    const done = await rec.result();
    const ru = rec.h.rusage();
    const cpuUs = ru.userUs + ru.sysUs - base.userUs - base.sysUs;
    const pubCpuUs = pubs.reduce((a, p) => {
      const r = p.rusage();
      return a + (r ? r.userUs + r.sysUs : 0);
    }, 0);
    const lost = done.listeners.reduce((a, l) => a + Math.max(0, input.packets - l.packets), 0);
    const out = {
      listeners,
      publisher,
      seconds,
      cpuSec: cpuUs / 1e6,
      cpuPercentOfCore: (cpuUs / 1e6 / seconds) * 100,
      publisherCpuPercentOfCore: (pubCpuUs / 1e6 / seconds) * 100,
      wallSec,
      p50Us: done.latencyUs.p50,
      p99Us: done.latencyUs.p99,
      maxUs: done.latencyUs.max,
      packets: done.packets,
      expected: input.packets * listeners,
      lost,
      ends: [...new Set(done.listeners.map((l) => l.end))],
      peakRssMiB: rec.h.peakRssKiB() / 1024,
    };
    log(
      `  scale ${String(listeners).padStart(2)} listeners: CPU ${out.cpuPercentOfCore.toFixed(1)}% of a core (publishers ${out.publisherCpuPercentOfCore.toFixed(0)}%), ` +
        `hop p99 ${out.p99Us} us, max ${out.maxUs} us, lost ${lost} of ${out.expected}, RSS ${out.peakRssMiB.toFixed(0)} MiB`,
    );
    return out;
  } catch (err) {
    await rec.h.kill(500);
    return { listeners, publisher, error: String(err?.message ?? err).slice(0, 400) };
  }
}
