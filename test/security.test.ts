// The security model (README): stream key, authorize, handshake and idle
// timeouts. A turned-away connection gets no session and no packet, and the
// listener goes on; every publisher let in afterwards is received frame-accurately.
import { afterEach, describe, expect, it } from 'vitest';
import { RtmpIngest, type AuthorizeRequest } from '../lib/index.js';
import { expectReferencePrefix, expectSamePackets } from './helpers/compare.js';
import { expectFrameAccuratePublish, fixturePath, newIngest, nextSession, reference, startIngest } from './helpers/ingest.js';
import { spawnTracked } from './helpers/process.js';
import { destroyRawClients, publishStalling, publishWithFfmpeg, rawTcpClient, requireTool } from './helpers/publishers.js';
import { recordEvents, sleep, waitUntil, within } from './helpers/record.js';

const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');

// Ingests and publishers are closed and killed when each test ends (startIngest, spawnTracked); raw TCP clients are not.
afterEach(destroyRawClients);

describe.skipIf(!haveFfmpeg)('stream key', () => {
  it("a wrong key is rejected ('stream-key', with the key it sent): no session, no packet; the right key then gets in", async () => {
    const { ingest, url, port } = await startIngest();
    const rec = recordEvents(ingest);
    const wrong = publishWithFfmpeg(fixturePath('small'), `rtmp://127.0.0.1:${port}/live/wrongkey`);
    await waitUntil(() => rec.count('rejected') === 1, "'rejected'", 15_000);
    // Its exit code says nothing: a fast publisher may have written the whole file into socket buffers.
    await within(wrong.exited, 10_000, 'the rejected publisher exiting');
    await sleep(200); // a negative check: nothing (no session, no second connection) follows the rejection
    const rejected = rec.events.find((e) => e.name === 'rejected')!.value;
    expect(rejected).toMatchObject({ reason: 'stream-key', app: 'live', streamKey: 'wrongkey', remoteAddress: '127.0.0.1' });
    expect(rec.sessions).toHaveLength(0);
    expect(rec.names()).toEqual(['listening', 'connection', 'rejected']);

    await expectFrameAccuratePublish(ingest, url, 'small', 'right key after a wrong one');
    expect(rec.count('rejected')).toBe(1);
  });

  it('a key that only shares a prefix, or differs in case, is rejected too', async () => {
    const { ingest, port } = await startIngest({ streamKey: 'secret' });
    const rec = recordEvents(ingest);
    for (const key of ['secre', 'secret2', 'SECRET']) {
      const pub = publishWithFfmpeg(fixturePath('small'), `rtmp://127.0.0.1:${port}/live/${key}`);
      await within(pub.exited, 10_000, `the publisher with key ${key} exiting`);
    }
    await waitUntil(() => rec.count('rejected') === 3, 'three rejections', 5000);
    expect(rec.events.filter((e) => e.name === 'rejected').map((e) => (e.value as { streamKey: string }).streamKey)).toEqual([
      'secre',
      'secret2',
      'SECRET',
    ]);
    expect(rec.sessions).toHaveLength(0);
  });
});

// README "Limits": a stream key is at most 1023 bytes (FFmpeg's server reads the publish command's
// stream name into 1024 bytes since patch 0005; it was 128); a longer one is refused when the
// options are checked, so no publisher can be turned away for a key the options accepted.
describe.skipIf(!haveFfmpeg)('long stream keys', () => {
  // The ffmpeg CLI cuts a URL's path at 1023 characters, '/live/' included (it would send
  // 1017 bytes of a longer key), so this publisher passes the key with -rtmp_playpath.
  const publishWithKey = (port: number, key: string) =>
    spawnTracked('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-i', fixturePath('small'),
      '-map', '0', '-c', 'copy', '-rtmp_playpath', key, '-f', 'flv', `rtmp://127.0.0.1:${port}/live`]);

  it.each([
    [127, 'options.streamKey'],
    [128, 'options.streamKey'],
    [1023, 'options.streamKey'],
    [1023, 'the URL'],
  ] as const)('a %i-byte key in %s: a publisher with it gets a session and is received frame-accurately', async (n, where) => {
    const key = 'k'.repeat(n);
    const { ingest, port } = await startIngest(where === 'the URL' ? { url: `rtmp://127.0.0.1:0/live/${key}` } : { streamKey: key });
    const outcome = new Promise<string>((resolve) => {
      ingest.once('session', () => resolve('session'));
      ingest.once('rejected', (r) =>
        resolve(`rejected: ${r.reason}, key of ${r.streamKey?.length} bytes (${(r.error as { code?: string } | undefined)?.code}: ${r.error?.message})`));
    });
    const received = nextSession(ingest, 30_000);
    received.catch(() => {}); // no session when rejected: reported through `outcome`
    const pub = publishWithKey(port, key);
    expect(await within(outcome, 30_000, 'a session or a rejection'), `a publisher with the configured ${n}-byte key`).toBe('session');
    const { session, packets, end } = await received;
    expect((await within(pub.exited, 15_000, 'the publisher exiting')).code, pub.stderr()).toBe(0);
    expect(session.streamKey).toBe(key);
    expect(end).toEqual({ reason: 'eof' });
    expectSamePackets(packets, await reference('small'), { label: `${n}-byte key`, interleaving: true });
  });
});

describe('a stream key over 1023 bytes', () => {
  const url = 'rtmp://127.0.0.1:0/live/key';
  const refusal = (key: string): unknown => {
    try {
      new RtmpIngest({ url, streamKey: key });
    } catch (e) {
      return e;
    }
    return undefined;
  };

  it('as options.streamKey: the constructor throws a TypeError naming it (bytes of UTF-8 count, not characters)', () => {
    for (const key of ['k'.repeat(1024), 'é'.repeat(512)]) {
      const thrown = refusal(key);
      expect(thrown, `${key.length} characters, ${Buffer.byteLength(key)} bytes`).toBeInstanceOf(TypeError);
      expect(thrown).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('options.streamKey') });
    }
    // 1023 bytes in 512 characters: accepted.
    expect(refusal(`${'é'.repeat(511)}k`)).toBeUndefined();
  });

  it('in the URL (percent-decoded): listen() rejects with ERR_INVALID_URL; 1023 bytes listen', async () => {
    for (const key of ['k'.repeat(1024), '%C3%A9'.repeat(512)]) {
      const ingest = newIngest({ url: `rtmp://127.0.0.1:0/live/${key}` });
      await expect(ingest.listen(), key.slice(0, 12)).rejects.toMatchObject({ code: 'ERR_INVALID_URL', message: expect.stringContaining('1023 bytes') });
      expect(ingest.listening).toBe(false);
    }
    const ingest = newIngest({ url: `rtmp://127.0.0.1:0/live/${'%C3%A9'.repeat(511)}k` });
    await expect(ingest.listen()).resolves.toMatchObject({ port: expect.any(Number) });
  });
});

describe.skipIf(!haveFfmpeg)('authorize', () => {
  it("returning false: 'unauthorized', no session; it is asked with app, streamKey and remoteAddress", async () => {
    const asked: AuthorizeRequest[] = [];
    let allow = false;
    const { ingest, url } = await startIngest({
      authorize: (req) => {
        asked.push(req);
        return allow;
      },
    });
    const rec = recordEvents(ingest);
    const denied = publishWithFfmpeg(fixturePath('small'), url);
    await waitUntil(() => rec.count('rejected') === 1, "'rejected'", 15_000);
    await within(denied.exited, 10_000, 'the denied publisher exiting');
    expect(rec.events.find((e) => e.name === 'rejected')!.value).toMatchObject({
      reason: 'unauthorized',
      app: 'live',
      streamKey: 'key',
      remoteAddress: '127.0.0.1',
    });
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ app: 'live', streamKey: 'key', remoteAddress: '127.0.0.1' });
    expect(asked[0]!.remotePort).toBeGreaterThan(0);
    expect(rec.sessions).toHaveLength(0);

    allow = true;
    await expectFrameAccuratePublish(ingest, url, 'small', 'authorized after a denied one');
    expect(asked).toHaveLength(2);
  });

  it('is not asked about a publisher with the wrong key', async () => {
    let asked = 0;
    const { ingest, port } = await startIngest({ authorize: () => (asked++, true) });
    const rec = recordEvents(ingest);
    const pub = publishWithFfmpeg(fixturePath('small'), `rtmp://127.0.0.1:${port}/live/nope`);
    await within(pub.exited, 10_000, 'the publisher exiting');
    await waitUntil(() => rec.count('rejected') === 1, "'rejected'", 5000);
    expect(rec.events.find((e) => e.name === 'rejected')!.value).toMatchObject({ reason: 'stream-key' });
    expect(asked).toBe(0);
  });

  it('async, resolving true after a while: accepted and frame-accurate', async () => {
    let asked = 0;
    const { ingest, url } = await startIngest({
      authorize: async (req) => {
        asked++;
        await sleep(300); // a slow authorize (the scenario)
        return req.streamKey === 'key' && req.remoteAddress === '127.0.0.1';
      },
    });
    const rec = recordEvents(ingest);
    await expectFrameAccuratePublish(ingest, url, 'bframes', 'async authorize');
    expect(asked).toBe(1);
    expect(rec.count('rejected')).toBe(0);
  });

  it("async, resolving false or rejecting: 'unauthorized' (with the error); the listener goes on", async () => {
    let call = 0;
    const { ingest, url } = await startIngest({
      authorize: async () => {
        call++;
        await sleep(50);
        if (call === 1) return false;
        if (call === 2) throw Object.assign(new Error('database down'), { code: 'EDB' });
        return true;
      },
    });
    const rec = recordEvents(ingest);
    for (let i = 0; i < 2; i++) {
      const pub = publishWithFfmpeg(fixturePath('small'), url);
      await waitUntil(() => rec.count('rejected') === i + 1, `rejection ${i + 1}`, 15_000);
      await within(pub.exited, 10_000, 'the denied publisher exiting');
    }
    const rejections = rec.events.filter((e) => e.name === 'rejected').map((e) => e.value as { reason: string; error?: Error });
    expect(rejections.map((r) => r.reason)).toEqual(['unauthorized', 'unauthorized']);
    expect(rejections[0]!.error).toBeUndefined();
    expect(rejections[1]!.error).toMatchObject({ message: 'database down', code: 'EDB' });
    expect(rec.sessions).toHaveLength(0);
    await expectFrameAccuratePublish(ingest, url, 'small', 'authorized after two denials');
  });

  it("never answering: 'unauthorized' with ERR_AUTHORIZE_TIMEOUT after handshakeTimeoutMs", async () => {
    let call = 0;
    const { ingest, url } = await startIngest({
      handshakeTimeoutMs: 500,
      authorize: () => (++call === 1 ? new Promise<boolean>(() => {}) : true),
    });
    const rec = recordEvents(ingest);
    const pub = publishWithFfmpeg(fixturePath('small'), url);
    await waitUntil(() => rec.count('rejected') === 1, "'rejected'", 10_000);
    expect(rec.events.find((e) => e.name === 'rejected')!.value).toMatchObject({
      reason: 'unauthorized',
      error: { code: 'ERR_AUTHORIZE_TIMEOUT' },
    });
    await within(pub.exited, 10_000, 'the publisher exiting');
    expect(rec.sessions).toHaveLength(0);
    await expectFrameAccuratePublish(ingest, url, 'small', 'after an authorize timeout');
  });
});

describe.skipIf(!haveFfmpeg)('handshake timeout', () => {
  it("a TCP client that sends nothing is dropped ('handshake-timeout'); a real publisher then gets in", async () => {
    const { ingest, url } = await startIngest({ handshakeTimeoutMs: 500 });
    const rec = recordEvents(ingest);
    const client = await rawTcpClient(ingest.address()!.port);
    const localPort = client.socket.localPort;
    await waitUntil(() => rec.count('rejected') === 1, "'rejected'", 5000);
    const rejected = rec.events.find((e) => e.name === 'rejected')!.value;
    expect(rejected).toMatchObject({ reason: 'handshake-timeout', remoteAddress: '127.0.0.1', remotePort: localPort });
    expect((rejected as { error?: Error }).error).toMatchObject({ code: 'ETIMEDOUT' });
    const closed = await within(client.closed, 2000, 'the raw client being disconnected');
    // Dropped by the timeout, not before it (a little slack for timer granularity).
    expect(closed.afterMs).toBeGreaterThanOrEqual(450);
    expect(closed.bytesReceived).toBe(0);
    expect(rec.names()).toEqual(['listening', 'connection', 'rejected']);

    await expectFrameAccuratePublish(ingest, url, 'small', 'after a handshake timeout');
  });

  it('a publisher that connects while a silent client is in its handshake is not held back by it', async () => {
    const { ingest, url } = await startIngest({ handshakeTimeoutMs: 3000 });
    const rec = recordEvents(ingest);
    const client = await rawTcpClient(ingest.address()!.port);
    await waitUntil(() => rec.count('connection') === 1, "the silent client's 'connection'", 5000);
    const received = nextSession(ingest, 30_000);
    const pub = publishWithFfmpeg(fixturePath('small'), url);
    const { packets, end } = await received;
    expect((await within(pub.exited, 15_000, 'the publisher exiting')).code, pub.stderr()).toBe(0);
    expect(end).toEqual({ reason: 'eof' });
    expectSamePackets(packets, await reference('small'), { label: 'publisher beside a silent client', interleaving: true });
    // The publisher was served while the silent client still waited for its timeout.
    expect(rec.count('rejected')).toBe(0);
    await waitUntil(() => rec.count('rejected') === 1, "the silent client's 'rejected'", 5000);
    expect(rec.names().filter((n) => n !== 'session:packet')).toEqual([
      'listening',
      'connection',
      'connection',
      'session',
      'session:end',
      'rejected',
    ]);
    expect(rec.events.find((e) => e.name === 'rejected')!.value).toMatchObject({ reason: 'handshake-timeout' });
    await within(client.closed, 2000, 'the raw client being disconnected');
  });
});

describe.skipIf(!haveFfmpeg)('idle timeout', () => {
  it("a publisher that stalls with its socket open is dropped ('idle-timeout', ETIMEDOUT) with every packet before the stall delivered", async () => {
    const stallAtMs = 1000;
    const { ingest, url } = await startIngest({ idleTimeoutMs: 800 });
    const received = nextSession(ingest, 30_000);
    const pub = publishStalling(fixturePath('small'), url, { stallAtMs });
    const { packets, end } = await received;
    expect(end.reason).toBe('idle-timeout');
    expect(end.error).toBeInstanceOf(Error);
    expect(end.error?.code).toBe('ETIMEDOUT');
    expect(pub.child.exitCode, 'the stalled publisher is still running').toBeNull();

    const ref = await reference('small');
    const beforeStall = ref.filter((p) => (p.dts ?? 0) < stallAtMs);
    expectReferencePrefix(packets, ref, 'stalled publisher');
    // ffmpeg's interleaving queue holds back the last one or two packets (helpers README).
    expect(packets.length).toBeGreaterThanOrEqual(beforeStall.length - 2);
    expect(packets.length).toBeLessThanOrEqual(beforeStall.length);

    await expectFrameAccuratePublish(ingest, url, 'small', 'after an idle timeout');
  });
});
