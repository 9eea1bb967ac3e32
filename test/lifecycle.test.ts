// The ingest's life: keep-alive over several publishers, keepAlive false,
// close() from every state, one publisher per key, bind errors and option
// validation. Real publishers over real sockets on 127.0.0.1; packets
// are compared with ffprobe's reading of the fixture.
import { createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { RtmpIngest, type IngestSession, type Packet } from '../lib/index.js';
import { expectReferencePrefix, expectSamePackets } from './helpers/compare.js';
import { fixturePath, newIngest, nextSession, once, reference, startIngest } from './helpers/ingest.js';
import { listeningPorts, waitForListeningPort } from './helpers/net.js';
import {
  GST_PUBLISH_ELEMENTS,
  destroyRawClients,
  gstreamerReference,
  publishWithFfmpeg,
  publishWithGstreamer,
  rawTcpClient,
  requireGstElements,
  requireTool,
  type Publisher,
} from './helpers/publishers.js';
import { loopIteration, recordEvents, waitUntil, within } from './helpers/record.js';
import type { RefPacket } from './helpers/reference.js';

const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');
const haveGst = haveFfmpeg && requireGstElements(...GST_PUBLISH_ELEMENTS);

// Ingests and publishers are closed and killed when each test ends (newIngest, startIngest, spawnTracked); raw TCP clients are not.
afterEach(destroyRawClients);

describe.skipIf(!haveFfmpeg)('keep-alive', () => {
  it('takes three publishers in a row on one listener, each session complete and frame-accurate', async () => {
    const { ingest, url, port } = await startIngest(); // keepAlive defaults to true
    // Different fixtures and clients, so a session cannot pass with another one's packets.
    const publishers: Array<{ name: string; publish: () => Publisher; reference: () => Promise<RefPacket[]> }> = [
      { name: 'ffmpeg small', publish: () => publishWithFfmpeg(fixturePath('small'), url), reference: () => reference('small') },
      haveGst
        ? {
            name: 'gstreamer bframes',
            publish: () => publishWithGstreamer(fixturePath('bframes'), url, { chunkSize: 4096 }),
            reference: () => gstreamerReference(fixturePath('bframes')),
          }
        : { name: 'ffmpeg bframes', publish: () => publishWithFfmpeg(fixturePath('bframes'), url), reference: () => reference('bframes') },
      { name: 'ffmpeg hd720', publish: () => publishWithFfmpeg(fixturePath('hd720'), url), reference: () => reference('hd720') },
    ];
    const sessions: IngestSession[] = [];
    for (const p of publishers) {
      await waitForListeningPort(port, { timeoutMs: 5000 });
      const received = nextSession(ingest, 30_000);
      const pub = p.publish();
      const { session, packets, end } = await received;
      const exit = await within(pub.exited, 15_000, `${p.name} exiting`);
      expect(exit.code, pub.stderr()).toBe(0);
      expect(end).toEqual({ reason: 'eof' });
      expect(session.ended).toBe(true);
      expectSamePackets(packets, await p.reference(), { label: `publisher ${sessions.length + 1} (${p.name})`, interleaving: true });
      sessions.push(session);
      expect(ingest.listening).toBe(true);
    }
    expect(new Set(sessions.map((s) => s.id)).size).toBe(3);
    expect(sessions.map((s) => [s.app, s.streamKey, s.remoteAddress])).toEqual(publishers.map(() => ['live', 'key', '127.0.0.1']));
  });
});

describe.skipIf(!haveFfmpeg)('keepAlive: false', () => {
  it('ends after one session: closes by itself, for-await finishes, the port refuses connections', async () => {
    const { ingest, url, port } = await startIngest({ keepAlive: false });
    let closes = 0;
    ingest.on('close', () => closes++);
    const closed = once(ingest, 'close', 30_000);
    const loop = (async () => {
      const got: Array<{ session: IngestSession; packets: Packet[] }> = [];
      for await (const session of ingest) {
        const packets: Packet[] = [];
        for await (const p of session) packets.push(p);
        got.push({ session, packets });
      }
      return got;
    })();
    const pub = publishWithFfmpeg(fixturePath('small'), url);
    const got = await within(loop, 30_000, 'for await (const s of ingest) finishing');
    await closed;
    expect((await pub.exited).code, pub.stderr()).toBe(0);

    expect(got).toHaveLength(1);
    expect(got[0]!.session.endReason).toBe('eof');
    expectSamePackets(got[0]!.packets, await reference('small'), { label: 'keepAlive false', interleaving: true });
    expect(ingest.closed).toBe(true);
    expect(ingest.listening).toBe(false);
    expect(ingest.address()).toBeNull();
    await ingest.close(); // still fine, and queues no second 'close'
    await loopIteration();
    expect(closes).toBe(1);

    // Nobody listens any more: TCP and a real publisher are refused.
    expect(listeningPorts().has(port)).toBe(false);
    await expect(rawTcpClient(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const second = publishWithFfmpeg(fixturePath('small'), url);
    const exit = await within(second.exited, 10_000, 'the second publisher giving up');
    expect(exit.code).not.toBe(0);
    expect(second.stderr()).toMatch(/Connection refused/i);
  });
});

describe.skipIf(!haveFfmpeg)('keepAlive: false, turned-away connections', () => {
  // README: keepAlive (default true) "after each publisher leaves, is rejected or times out, listen again".
  it('after a rejected publisher, it stops listening and closes (no session)', async () => {
    const { ingest, port } = await startIngest({ keepAlive: false });
    const rec = recordEvents(ingest);
    const pub = publishWithFfmpeg(fixturePath('small'), `rtmp://127.0.0.1:${port}/live/wrongkey`);
    await waitUntil(() => rec.count('close') === 1, "'close'", 15_000);
    await within(pub.exited, 10_000, 'the rejected publisher exiting');
    expect(rec.names()).toEqual(['listening', 'connection', 'rejected', 'close']);
    expect(listeningPorts().has(port)).toBe(false);
  });
});

describe.skipIf(!haveFfmpeg)('close()', () => {
  /**
   * After 'close', whatever could still arrive is already in flight: close() stops the native
   * listener synchronously (its event queue closed, its thread joined, so it produces nothing
   * more) and clears the ingest's timers. Its socket leaving the kernel's LISTEN table is the
   * sign the listener is gone; one loop iteration then runs every callback already queued.
   */
  async function listenerGone(port: number): Promise<void> {
    await waitUntil(() => !listeningPorts().has(port), `port ${port} to stop listening`, 1000);
    await loopIteration();
  }

  async function closeAndCheck(ingest: RtmpIngest, rec: ReturnType<typeof recordEvents>, port: number): Promise<void> {
    const t0 = performance.now();
    const first = ingest.close();
    const second = ingest.close();
    await within(Promise.all([first, second]), 1000, 'close() resolving'); // README: from any state, within 1 s
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeLessThan(1000);
    await ingest.close(); // and again, after it has closed
    await listenerGone(port);
    expect(rec.count('close', 'ingest')).toBe(1);
    expect(rec.afterClose(), `events after 'close': ${rec.afterClose().map((e) => e.name).join(', ')}`).toEqual([]);
    expect(rec.events.at(-1)).toMatchObject({ source: 'ingest', name: 'close' });
    expect(ingest.listening).toBe(false);
    await expect(ingest.listen()).rejects.toMatchObject({ code: 'ERR_INGEST_CLOSED' });

    // The port is free again: a new ingest can listen on it.
    const again = newIngest({ url: `rtmp://127.0.0.1:${port}/live/key` });
    await expect(again.listen()).resolves.toMatchObject({ port });
    await again.close();
  }

  it('while listening, with no publisher', async () => {
    const { ingest, port } = await startIngest();
    const rec = recordEvents(ingest);
    await waitUntil(() => rec.count('listening') === 1, "'listening'", 1000);
    await closeAndCheck(ingest, rec, port);
    expect(rec.names()).toEqual(['listening', 'close']);
  });

  it('during a handshake (a TCP client that sent nothing)', async () => {
    const { ingest, port } = await startIngest({ handshakeTimeoutMs: 20_000 });
    const rec = recordEvents(ingest);
    const client = await rawTcpClient(port);
    await waitUntil(() => rec.count('connection') === 1, "'connection' for the raw client", 5000);
    await closeAndCheck(ingest, rec, port);
    expect(rec.names()).toEqual(['listening', 'connection', 'close']);
    // Its connection is closed with the listener.
    await within(client.closed, 2000, 'the raw client being disconnected');
  });

  it('while an async authorize is pending: no verdict or rejection after it', async () => {
    let asked = 0;
    let answer: ((v: boolean) => void) | undefined;
    let verdict: Promise<boolean> | undefined;
    const { ingest, port, url } = await startIngest({
      authorize: () => {
        asked++;
        verdict = new Promise<boolean>((r) => {
          answer = r;
        });
        return verdict;
      },
    });
    const rec = recordEvents(ingest);
    const pub = publishWithFfmpeg(fixturePath('small'), url);
    await waitUntil(() => asked === 1, 'the authorize call', 15_000);
    await closeAndCheck(ingest, rec, port);
    answer!(true); // too late: nothing may come of it
    // The ingest's reaction to the verdict was queued when authorize returned, before this await's.
    await verdict;
    await loopIteration();
    expect(rec.afterClose()).toEqual([]);
    expect(rec.names()).toEqual(['listening', 'connection', 'close']);
    await within(pub.exited, 10_000, 'the publisher exiting');
  });

  it("through the AbortSignal, mid-stream: 'end' ('closed'), then 'close'; listen() afterwards rejects with ABORT_ERR", async () => {
    const controller = new AbortController();
    const { ingest, url, port } = await startIngest({ signal: controller.signal });
    const rec = recordEvents(ingest);
    publishWithFfmpeg(fixturePath('small'), url, { realtime: true });
    const session = await waitUntil(() => rec.sessions[0], 'a session', 15_000);
    await waitUntil(() => (rec.packets.get(session.id)?.length ?? 0) >= 10, '10 packets', 15_000);
    controller.abort();
    await waitUntil(() => rec.count('close') === 1, "'close'", 1000);
    await listenerGone(port);
    expect(rec.ends.get(session.id)).toEqual({ reason: 'closed' });
    expect(rec.afterClose()).toEqual([]);
    await expect(ingest.listen()).rejects.toMatchObject({ code: 'ABORT_ERR' });
    const again = newIngest({ url: `rtmp://127.0.0.1:${port}/live/key` });
    await expect(again.listen()).resolves.toMatchObject({ port });
  });

  it("mid-stream: the session ends with reason 'closed' before the ingest's 'close'", async () => {
    const { ingest, port, url } = await startIngest();
    const rec = recordEvents(ingest);
    const pub = publishWithFfmpeg(fixturePath('small'), url, { realtime: true });
    const session = await waitUntil(() => rec.sessions[0], 'a session', 15_000);
    await waitUntil(() => (rec.packets.get(session.id)?.length ?? 0) >= 30, '30 packets', 15_000);
    await closeAndCheck(ingest, rec, port);
    expect(rec.ends.get(session.id)).toEqual({ reason: 'closed' });
    expect(session.endReason).toBe('closed');
    const names = rec.names();
    expect(names.indexOf('session:end')).toBe(names.length - 2); // 'end', then 'close'
    // What arrived before the close is what was sent.
    expectReferencePrefix(rec.packets.get(session.id)!, await reference('small'), 'closed mid-stream');
    // The publisher loses its connection.
    const exit = await within(pub.exited, 10_000, 'the publisher noticing the close');
    expect(exit.code).not.toBe(0);
  });
});

describe.skipIf(!haveFfmpeg)("one publisher per app and key (onDuplicateKey: 'reject', the default)", () => {
  it("refuses a second publisher of the same key while one streams ('duplicate-key'), then takes a new one after it left", async () => {
    const { ingest, url } = await startIngest();
    const rec = recordEvents(ingest);
    const first = nextSession(ingest, 30_000);
    const a = publishWithFfmpeg(fixturePath('small'), url, { realtime: true });
    const sessionA = await waitUntil(() => rec.sessions[0], 'the first session', 15_000);
    await waitUntil(() => (rec.packets.get(sessionA.id)?.length ?? 0) >= 10, 'the first packets', 15_000);

    const b = publishWithFfmpeg(fixturePath('small'), url);
    await waitUntil(() => rec.count('rejected') === 1, 'the second publisher being refused', 5000);
    await within(b.exited, 5000, 'the second publisher exiting'); // its exit code depends on how much it had written
    expect(a.child.exitCode, 'the first publisher is still streaming').toBeNull();
    expect(rec.sessions).toHaveLength(1);
    expect(rec.events.filter((e) => e.name === 'rejected').map((e) => e.value)).toMatchObject([
      { reason: 'duplicate-key', app: 'live', streamKey: 'key', remoteAddress: '127.0.0.1' },
    ]);

    const ra = await first;
    expect((await a.exited).code, a.stderr()).toBe(0);
    expect(ra.end).toEqual({ reason: 'eof' });
    expectSamePackets(ra.packets, await reference('small'), { label: 'first publisher', interleaving: true });

    const third = nextSession(ingest, 30_000);
    const c = publishWithFfmpeg(fixturePath('bframes'), url);
    const rc = await third;
    expect((await c.exited).code, c.stderr()).toBe(0);
    expect(rc.end).toEqual({ reason: 'eof' });
    expectSamePackets(rc.packets, await reference('bframes'), { label: 'publisher after the first left', interleaving: true });
    expect(rec.sessions).toHaveLength(2);
  });
  it('refuses a second publisher of the key at once also while a slow consumer holds the first one back', async () => {
    const { ingest, url } = await startIngest({ highWaterMarkBytes: 64 * 1024 });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let holding!: (session: IngestSession) => void;
    const held = new Promise<IngestSession>((r) => {
      holding = r;
    });
    const consumed = new Promise<{ packets: Packet[]; reason: string | undefined }>((resolve, reject) => {
      ingest.once('session', (session) => {
        void (async () => {
          const packets: Packet[] = [];
          for await (const p of session) {
            packets.push(p);
            if (packets.length === 1) {
              holding(session);
              await gate; // the consumer does not pull until the test lets it
            }
          }
          resolve({ packets, reason: session.endReason });
        })().catch(reject);
      });
    });
    const a = publishWithFfmpeg(fixturePath('hd720'), url);
    try {
      const session = await within(held, 15_000, 'the first packet');
      // The reader stops once more than highWaterMarkBytes are delivered and not consumed.
      await waitUntil(() => session.stats.bufferedBytes > 64 * 1024, 'the reader to be held at the high-water mark', 15_000);
      const rejected = once(ingest, 'rejected', 2000);
      publishWithFfmpeg(fixturePath('small'), url);
      expect(await rejected).toMatchObject({ reason: 'duplicate-key' });
    } finally {
      release();
    }
    const { packets, reason } = await within(consumed, 30_000, 'the first session finishing');
    expect((await a.exited).code, a.stderr()).toBe(0);
    expect(reason).toBe('eof');
    expectSamePackets(packets, await reference('hd720'), { label: 'first publisher, held back', interleaving: true });
  });
});

describe('bind errors', () => {
  it('a second RtmpIngest on a port an ingest listens on rejects listen() with EADDRINUSE; the first keeps working', async () => {
    const { ingest, port, url } = await startIngest();
    const second = newIngest({ url: `rtmp://127.0.0.1:${port}/live/key` });
    const err = await second.listen().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: 'EADDRINUSE' });
    expect(second.listening).toBe(false);
    await second.close();
    expect(ingest.listening).toBe(true);
    if (haveFfmpeg) {
      const received = nextSession(ingest, 30_000);
      const pub = publishWithFfmpeg(fixturePath('small'), url);
      const { packets, end } = await received;
      expect((await pub.exited).code, pub.stderr()).toBe(0);
      expect(end.reason).toBe('eof');
      expectSamePackets(packets, await reference('small'), { label: 'first ingest after a failed second listen', interleaving: true });
    }
  });

  it('a port held by net.createServer: EADDRINUSE', async () => {
    const server = createServer();
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const ingest = newIngest({ url: `rtmp://127.0.0.1:${port}/live/key` });
    await expect(ingest.listen()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(ingest.listening).toBe(false);
    // After the server lets go of it, a new ingest binds it.
    await new Promise((r) => server.close(r));
    const after = newIngest({ url: `rtmp://127.0.0.1:${port}/live/key` });
    await expect(after.listen()).resolves.toMatchObject({ port });
  });

  it('listen() twice: ERR_ALREADY_LISTENING', async () => {
    const { ingest } = await startIngest();
    await expect(ingest.listen()).rejects.toMatchObject({ code: 'ERR_ALREADY_LISTENING' });
    expect(ingest.listening).toBe(true);
  });
});

describe('option validation', () => {
  const cases: Array<[string, Record<string, unknown>, string, 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE']> = [
    ['url: 42', { url: 42 }, 'options.url', 'ERR_INVALID_ARG_TYPE'],
    ['no url', {}, 'options.url', 'ERR_INVALID_ARG_TYPE'],
    ['highWaterMarkBytes: -1', { highWaterMarkBytes: -1 }, 'options.highWaterMarkBytes', 'ERR_INVALID_ARG_VALUE'],
    ['highWaterMarkBytes: 0', { highWaterMarkBytes: 0 }, 'options.highWaterMarkBytes', 'ERR_INVALID_ARG_VALUE'],
    ['highWaterMarkBytes: "1mb"', { highWaterMarkBytes: '1mb' }, 'options.highWaterMarkBytes', 'ERR_INVALID_ARG_TYPE'],
    ['handshakeTimeoutMs: 1.5', { handshakeTimeoutMs: 1.5 }, 'options.handshakeTimeoutMs', 'ERR_INVALID_ARG_VALUE'],
    ['handshakeTimeoutMs: 2**31', { handshakeTimeoutMs: 2 ** 31 }, 'options.handshakeTimeoutMs', 'ERR_INVALID_ARG_VALUE'],
    ['idleTimeoutMs: 0', { idleTimeoutMs: 0 }, 'options.idleTimeoutMs', 'ERR_INVALID_ARG_VALUE'],
    ['idleTimeoutMs: NaN', { idleTimeoutMs: Number.NaN }, 'options.idleTimeoutMs', 'ERR_INVALID_ARG_VALUE'],
    ['keepAlive: 1', { keepAlive: 1 }, 'options.keepAlive', 'ERR_INVALID_ARG_TYPE'],
    ['streamKey: ""', { streamKey: '' }, 'options.streamKey', 'ERR_INVALID_ARG_VALUE'],
    ['streamKey: 7', { streamKey: 7 }, 'options.streamKey', 'ERR_INVALID_ARG_TYPE'],
    ['authorize: true', { authorize: true }, 'options.authorize', 'ERR_INVALID_ARG_TYPE'],
    ['logLevel: "loud"', { logLevel: 'loud' }, 'options.logLevel', 'ERR_INVALID_ARG_VALUE'],
    ['signal: {}', { signal: {} }, 'options.signal', 'ERR_INVALID_ARG_TYPE'],
    ['probeMs: -1', { probeMs: -1 }, 'options.probeMs', 'ERR_INVALID_ARG_VALUE'],
  ];
  it.each(cases)('%s throws a TypeError naming the option', (_name, opts, option, code) => {
    const url = 'url' in opts || Object.keys(opts).length === 0 ? {} : { url: 'rtmp://127.0.0.1:0/live/key' };
    let thrown: unknown;
    try {
      new RtmpIngest({ ...url, ...opts } as never);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toContain(option);
    expect(thrown).toMatchObject({ code });
  });

  it('a non-object throws a TypeError', () => {
    expect(() => new RtmpIngest(undefined as never)).toThrow(TypeError);
    expect(() => new RtmpIngest('rtmp://127.0.0.1:0/live/key' as never)).toThrow(TypeError);
  });

  it.each([
    ['rtmps://127.0.0.1:0/live/key'],
    ['http://127.0.0.1:0/live/key'],
    ['rtmp://127.0.0.1:0/live/'],
    ['rtmp://127.0.0.1:0//key'],
    ['rtmp://user:pw@127.0.0.1:0/live/key'],
    ['rtmp://127.0.0.1:0/live/key?x=1'],
    ['not a url'],
  ])('%s: listen() rejects with ERR_INVALID_URL', async (url) => {
    const ingest = newIngest({ url });
    await expect(ingest.listen()).rejects.toMatchObject({ code: 'ERR_INVALID_URL' });
    expect(ingest.listening).toBe(false);
    expect(ingest.address()).toBeNull();
  });
});
