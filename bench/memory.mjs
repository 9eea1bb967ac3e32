// Memory: RSS of an idle rtmp-ingest listener, and RSS while one publisher
// (ffmpeg -stream_loop -1, as fast as it goes) pushes `targetBytes` through
// one session. Growth = RSS at the end minus RSS after the warm-up (the
// first 10% of the bytes); the target is under 5 MB.
import { startPublisher } from './publishers.mjs';
import { startReceiver } from './receivers.mjs';
import { freePort, procMem, sleep, startProcess, waitExit } from './measure.mjs';

export async function runIdle({ log }) {
  const port = await freePort();
  const rec = await startReceiver('rtmp-ingest', { port, maxSeconds: 30 });
  await sleep(1000);
  const m = procMem(rec.h.pid);
  await rec.h.kill(1000);
  // For scale: what Node.js itself takes here, idling in a timer.
  const bare = startProcess('bare node', process.execPath, ['-e', 'setTimeout(() => {}, 5000)'], { stdout: 'ignore' });
  await sleep(1000);
  const b = procMem(bare.pid);
  await bare.kill(500);
  const out = { rssMiB: m.rssKiB / 1024, hwmMiB: m.hwmKiB / 1024, bareNodeRssMiB: b ? b.rssKiB / 1024 : undefined };
  log(`  idle rtmp-ingest listener: RSS ${out.rssMiB.toFixed(1)} MiB (bare node: ${out.bareNodeRssMiB?.toFixed(1)} MiB)`);
  return out;
}

export async function runSoak({ input, targetBytes, log, timeoutSec = 600 }) {
  const port = await freePort();
  const step = Math.max(16e6, Math.round(targetBytes / 100));
  const rec = await startReceiver('rtmp-ingest', { port, maxSeconds: timeoutSec + 60, progressBytes: step });
  const samples = []; // [bytes, rssKiB]
  let reached;
  const reachedP = new Promise((r) => (reached = r));
  rec.h.lineListeners.add((m) => {
    if (m.t !== 'progress') return;
    const mem = procMem(rec.h.pid);
    if (mem) samples.push([m.bytes, mem.rssKiB]);
    if (m.bytes >= targetBytes) reached();
  });
  const t0 = Date.now();
  const pub = await startPublisher('ffmpeg', input.file, `rtmp://127.0.0.1:${port}/live/bench`, { loop: true });
  const timeout = sleep(timeoutSec * 1000).then(() => 'timeout');
  const how = await Promise.race([reachedP.then(() => 'reached'), timeout, pub.exited.then(() => 'publisher exited')]);
  await pub.kill(5000);
  await waitExit(rec.h, 30_000).catch(() => rec.h.kill());
  const done = rec.h.lines.find((m) => m.t === 'done');
  const seconds = (Date.now() - t0) / 1000;
  const warm = samples.find(([b]) => b >= targetBytes * 0.1) ?? samples[0];
  const last = samples[samples.length - 1];
  const rss = samples.map(([, r]) => r);
  const out = {
    how,
    targetBytes,
    bytes: done?.bytes ?? last?.[0],
    seconds,
    samples: samples.map(([b, r]) => [Math.round(b / 1e6), Math.round(r / 102.4) / 10]), // [MB, MiB]
    warmRssMiB: warm ? warm[1] / 1024 : NaN,
    endRssMiB: last ? last[1] / 1024 : NaN,
    minRssMiB: Math.min(...rss) / 1024,
    maxRssMiB: Math.max(...rss) / 1024,
    growthMiB: warm && last ? (last[1] - warm[1]) / 1024 : NaN,
    end: done?.listeners?.[0]?.end,
  };
  log(
    `  soak: ${(out.bytes / 1e9).toFixed(2)} GB in ${seconds.toFixed(0)} s (${how}); RSS after warm-up ${out.warmRssMiB.toFixed(1)} MiB, ` +
      `end ${out.endRssMiB.toFixed(1)} MiB, max ${out.maxRssMiB.toFixed(1)} MiB, growth ${out.growthMiB.toFixed(1)} MiB`,
  );
  return out;
}
