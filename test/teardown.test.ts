// What only a separate process can show: whether a listening ingest keeps
// the process alive (ref/unref), that the process exits cleanly when it ends
// mid-stream (process.exit from a packet handler, worker.terminate(), a
// garbage-collected-eligible ingest), and where a throwing 'packet' handler's
// exception goes. The children (test/children/*.mjs) run the built package
// from dist/ (rebuilt by ensureBuiltPackage() when lib/ is newer) and report
// JSON lines on stdout.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuiltPackage, spawnNodeChild, type ChildMessage, type NodeChild } from './helpers/child.js';
import { expectSamePackets } from './helpers/compare.js';
import { fixturePath, reference } from './helpers/ingest.js';
import type { RefPacket } from './helpers/reference.js';
import { killAllChildren, waitForExit } from './helpers/process.js';
import { publishWithFfmpeg, requireTool } from './helpers/publishers.js';
import { within } from './helpers/record.js';

const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');

beforeAll(() => ensureBuiltPackage(), 180_000);
afterEach(async () => {
  await killAllChildren();
});


function ingestChild(config: Record<string, unknown>, nodeArgs: string[] = []): NodeChild {
  return spawnNodeChild('ingest.mjs', [JSON.stringify(config)], nodeArgs);
}

const urlFor = (port: number) => `rtmp://127.0.0.1:${port}/live/key`;
const portOf = (m: ChildMessage) => m.port as number;
const isType = (type: string) => (m: ChildMessage) => m.type === type;

/** The packets the child reported (config `packets`). */
function childPackets(child: NodeChild): RefPacket[] {
  return child.messages.filter(isType('packet')).map((m) => m.packet as RefPacket);
}

function expectNoCrashOutput(child: NodeChild): void {
  expect(child.handle.stderr()).not.toMatch(/Segmentation fault|Aborted|terminate called|FATAL ERROR|Assertion|core dumped|libc\+\+abi|SIGSEGV/);
}

// The child's unref'd probe timer (config aliveProbeMs) fires only while something else, the
// listening ingest, keeps its event loop alive: its 'alive' message is the proof, and the
// unref'd cases, which must exit first, are the control.
const ALIVE_PROBE_MS = 300;

describe('ref / unref', () => {
  it.each([['after-listen'], ['before-listen']])("an unref'd listening ingest (unref %s) lets the process exit by itself", async (when) => {
    const child = ingestChild({ unref: when, aliveProbeMs: ALIVE_PROBE_MS });
    await child.waitFor(isType('listening'), "'listening'");
    const exit = await waitForExit(child.handle, 10_000);
    expect(exit, child.handle.stderr()).toEqual({ code: 0, signal: null });
    // No 'close': it was never closed. No 'alive': nothing held the process.
    expect(child.messages.map((m) => m.type)).toEqual(['listening']);
    expectNoCrashOutput(child);
  });

  it.each([['ref (default)', {}], ['unref() then ref()', { unref: 'toggle' }]])('a listening ingest, %s, keeps the process alive', async (_name, config) => {
    const child = ingestChild({ ...config, aliveProbeMs: ALIVE_PROBE_MS });
    await child.waitFor(isType('listening'), "'listening'");
    await child.waitFor((m) => m.type === 'alive' && m.after === 'listen', 'the unref\'d probe timer firing');
    expect(child.handle.child.exitCode, 'the child exited although its ingest listens').toBeNull();
    expect(child.handle.child.signalCode).toBeNull();
    const exit = await child.handle.kill();
    expect(exit.signal).toBe('SIGTERM'); // it was still running: our signal ended it
  });
});

describe.skipIf(!haveFfmpeg)('exiting mid-stream', () => {
  it('process.exit(0) from a packet handler while a publisher streams: exit code 0, no signal', async () => {
    // Once paced, once as fast as possible (the reader thread busy while the process exits).
    for (const [run, realtime, name] of [[0, true, 'small'], [1, false, 'hd720']] as const) {
      const child = ingestChild({ exitAfterPackets: 40 });
      const port = portOf(await child.waitFor(isType('listening'), "'listening'"));
      const pub = publishWithFfmpeg(fixturePath(name), urlFor(port), { realtime });
      const exit = await waitForExit(child.handle, 20_000);
      expect(exit, `run ${run}: ${child.handle.stderr()}`).toEqual({ code: 0, signal: null });
      expect(child.messages.find(isType('exiting'))).toMatchObject({ packets: 40 });
      expectNoCrashOutput(child);
      await pub.kill();
    }
  });

  it.each([[1], [2]])('worker.terminate() of %i worker(s), each with its own ingest receiving a stream: the process exits 0', async (workers) => {
    const child = spawnNodeChild('workers.mjs', [JSON.stringify({ workers, terminateAfter: 30 })]);
    const ports: number[] = [];
    for (let w = 0; w < workers; w++) {
      ports.push(portOf(await child.waitFor((m) => m.type === 'listening' && m.worker === w, `worker ${w} listening`)));
    }
    expect(new Set(ports).size).toBe(workers);
    const pubs = ports.map((port) => publishWithFfmpeg(fixturePath('small'), urlFor(port), { realtime: true }));
    for (let w = 0; w < workers; w++) {
      await child.waitFor((m) => m.type === 'terminated' && m.worker === w, `worker ${w} terminated`, 20_000);
    }
    const exit = await waitForExit(child.handle, 10_000);
    expect(exit, child.handle.stderr()).toEqual({ code: 0, signal: null });
    expect(child.messages.filter(isType('worker-error')), 'errors from the workers').toEqual([]);
    for (let w = 0; w < workers; w++) {
      // Terminated mid-stream: it had its packets, and its session never ended by itself.
      expect(child.messages.some((m) => m.type === 'packets' && m.worker === w && (m.packets as number) >= 30)).toBe(true);
      expect(child.messages.some((m) => m.type === 'end' && m.worker === w)).toBe(false);
    }
    expectNoCrashOutput(child);
    // The publishers lose their listener.
    for (const pub of pubs) {
      const e = await within(pub.exited, 10_000, 'a publisher noticing its listener is gone');
      expect(e.code).not.toBe(0);
    }
  });
});

describe('an ingest that is not listening', () => {
  it('is garbage-collected once dropped (never listened, unref\'d, closed, after a failed listen(), or listened and closed), and leaves no file descriptor open', async () => {
    const child = spawnNodeChild('unlistened.mjs', [], ['--expose-gc']);
    const result = await child.waitFor(isType('result'), 'the WeakRef count', 30_000);
    expect(result).toMatchObject({ made: 40, alive: 0, listeningAlive: 4 });
    // Nothing a server opened outlives it: not its socket, not its eventfd.
    const { atStart, listening, closed } = result.fds as { atStart: number; listening: number; closed: number };
    expect(listening).toBeGreaterThanOrEqual(atStart + 4 * 2);
    expect(closed).toBe(atStart);
    const exit = await waitForExit(child.handle, 10_000);
    expect(exit.code).toBe(0);
    expectNoCrashOutput(child);
  });
});

describe.skipIf(!haveFfmpeg)('an ingest nothing references', () => {
  it('keeps listening after garbage collection and receives a publish frame-accurately', async () => {
    const child = ingestChild({ dropReference: true, gc: true, packets: true, aliveProbeMs: ALIVE_PROBE_MS }, ['--expose-gc']);
    const port = portOf(await child.waitFor(isType('listening'), "'listening'"));
    await child.waitFor(isType('collected'), 'the WeakRef check');
    const pub = publishWithFfmpeg(fixturePath('small'), urlFor(port));
    const end = await child.waitFor(isType('end'), "the session's 'end'", 30_000);
    expect(end).toMatchObject({ reason: 'eof' });
    expect((await pub.exited).code, pub.stderr()).toBe(0);
    expectSamePackets(childPackets(child), await reference('small'), { label: 'ingest without references, after gc()', interleaving: true });
    expect(child.messages.find(isType('collected'))).toMatchObject({ collected: false });
    // Still alive (it listens, ref'd), and still fine after the collections that followed 'end'.
    await child.waitFor((m) => m.type === 'alive' && m.after === 'end', "the probe timer started after 'end' firing");
    expect(child.handle.child.exitCode).toBeNull();
    expectNoCrashOutput(child);
  });

  it("unref'd and unreferenced: the process exits by itself after gc(), cleanly", async () => {
    const child = ingestChild({ dropReference: true, gc: true, unref: 'after-listen', aliveProbeMs: ALIVE_PROBE_MS }, ['--expose-gc']);
    await child.waitFor(isType('listening'), "'listening'");
    const exit = await waitForExit(child.handle, 10_000);
    expect(exit, child.handle.stderr()).toEqual({ code: 0, signal: null });
    expect(child.messages.filter(isType('alive'))).toEqual([]);
    expectNoCrashOutput(child);
  });
});

describe.skipIf(!haveFfmpeg)("a throwing 'packet' handler", () => {
  it('with an uncaughtException handler: every throw reaches it, every packet is still delivered in order, no stall', async () => {
    const child = ingestChild({
      options: { highWaterMarkBytes: 64 * 1024 },
      throwEvery: 50,
      uncaughtHandler: true,
      packets: true,
      exitWhenEnded: true,
    });
    const port = portOf(await child.waitFor(isType('listening'), "'listening'"));
    const pub = publishWithFfmpeg(fixturePath('hd720'), urlFor(port));
    // A release lost to a throw would stop the reader at 64 KiB for good: no 'end' at all.
    const end = await child.waitFor(isType('end'), "the session's 'end'", 30_000);
    expect((await pub.exited).code, pub.stderr()).toBe(0);
    expect(await waitForExit(child.handle, 10_000)).toEqual({ code: 0, signal: null });
    const ref = await reference('hd720');
    expect(end).toMatchObject({ reason: 'eof', packets: ref.length });
    expectSamePackets(childPackets(child), ref, { label: 'packets with a throwing handler', interleaving: true });
    const uncaught = child.messages.filter(isType('uncaught'));
    const expected = Math.floor(ref.length / 50);
    expect(uncaught.map((m) => m.message)).toEqual(Array.from({ length: expected }, (_, i) => `boom #${(i + 1) * 50}`));
    // Each exception surfaced after its packet and before the next one.
    const order = child.messages.filter((m) => m.type === 'packet' || m.type === 'uncaught');
    for (const u of uncaught) {
      const at = order.indexOf(u);
      const k = Number(String(u.message).slice('boom #'.length));
      expect(order[at - 1], `the packet before ${String(u.message)}`).toMatchObject({ type: 'packet', n: k });
    }
  });

  it('without one: the process dies of the thrown error', async () => {
    const child = ingestChild({ options: { highWaterMarkBytes: 64 * 1024 }, throwEvery: 50 });
    const port = portOf(await child.waitFor(isType('listening'), "'listening'"));
    publishWithFfmpeg(fixturePath('small'), urlFor(port), { realtime: true });
    const exit = await waitForExit(child.handle, 20_000);
    expect(exit.signal).toBeNull();
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(child.handle.stderr()).toContain('Error: boom #50');
    expect(child.messages.filter(isType('end'))).toEqual([]);
  });
});
