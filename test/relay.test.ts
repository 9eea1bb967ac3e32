// session.relay() and the ingest's relay option: a session published on to
// another RTMP server by the addon's own flv muxer, off the JS thread.
// Targets: a second rtmp-ingest and nginx-rtmp, both compared packet by
// packet with what the first ingest received; targets that are down at the
// start or go down mid-stream. Real publishers over real sockets.
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import type { IngestSession, Packet, Relay } from '../lib/index.js';
import { expectSamePackets } from './helpers/compare.js';
import { fixturePath, newIngest } from './helpers/ingest.js';
import { getFreePort } from './helpers/net.js';
import { requireNginxRtmp, startNginxRtmp } from './helpers/nginx-rtmp.js';
import { killAllChildren } from './helpers/process.js';
import { publishWithFfmpeg, publishWithGstreamer, requireGstElements, requireTool, GST_PUBLISH_ELEMENTS } from './helpers/publishers.js';
import { waitUntil } from './helpers/record.js';
import { probePackets } from './helpers/reference.js';
import { requireTlsTerminator, startTlsTerminator } from './helpers/tls-terminator.js';

const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');
const haveGst = haveFfmpeg && requireGstElements(...GST_PUBLISH_ELEMENTS);

afterEach(async () => {
  await killAllChildren();
});

interface Collected {
  session: IngestSession;
  packets: Packet[];
  ended: Promise<string>;
}

/** The next session of `ingest`, with its packets and its end reason. */
function nextCollected(ingest: ReturnType<typeof newIngest>): Promise<Collected> {
  return new Promise((resolve) => {
    ingest.once('session', (session) => {
      const packets: Packet[] = [];
      session.on('packet', (p) => packets.push(p));
      const ended = new Promise<string>((r) => session.once('end', (e) => r(e.reason)));
      resolve({ session, packets, ended });
    });
  });
}

/** Every event of a relay, in order, and its drops. */
function watchRelay(relay: Relay) {
  const events: string[] = [];
  let dropped = 0;
  relay.on('connected', () => events.push('connected'));
  relay.on('disconnected', (e) => events.push(e === undefined ? 'disconnected' : `disconnected:${e.code}`));
  relay.on('error', (e) => events.push(`error:${e.code}`));
  relay.on('dropped', (d) => {
    dropped += d.packets;
  });
  return { events, dropped: () => dropped };
}

/** `received` starts at a keyframe of the first video stream and is, from there, a run of packets of `source` in order: no packet invented, changed or reordered. */
function expectRunsOf(received: readonly Packet[], source: readonly Packet[]): void {
  const key = (p: Packet) => `${p.streamIndex}:${p.dts}:${p.pts}:${p.size}:${p.data.subarray(0, 64).toString('hex')}`;
  const positions = new Map<string, number>();
  source.forEach((p, i) => positions.set(key(p), i));
  const firstVideo = received.find((p) => p.type === 'video');
  expect(firstVideo?.keyframe, 'the first video packet relayed is a keyframe').toBe(true);
  let last = -1;
  for (const p of received) {
    const at = positions.get(key(p));
    expect(at, `relayed packet ${p.streamIndex}@${p.dts} is one the source sent`).toBeDefined();
    expect(at!, 'relayed packets keep the source order').toBeGreaterThan(last);
    expect(Buffer.compare(p.data, source[at!]!.data)).toBe(0);
    last = at!;
  }
}

describe.skipIf(!haveFfmpeg)('relay', () => {
  it('into a second rtmp-ingest (the ingest option relay): frame-accurate, beside a JS consumer', async () => {
    const target = newIngest({ url: 'rtmp://127.0.0.1:0/out/relayed' });
    const { port: targetPort } = await target.listen();
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live/key', relay: [{ url: `rtmp://127.0.0.1:${targetPort}/out/relayed`, maxBufferMs: 60_000 }] });
    const { port } = await ingest.listen();
    const source = nextCollected(ingest);
    const relayed = nextCollected(target);
    publishWithFfmpeg(fixturePath('bframes'), `rtmp://127.0.0.1:${port}/live/key`);
    const a = await source;
    const relay = a.session.relays[0]!;
    expect(relay).toBeDefined();
    const watched = watchRelay(relay);
    expect(await a.ended).toBe('eof');
    const b = await relayed;
    expect(await b.ended).toBe('eof');
    await relay.finished;
    expectSamePackets(b.packets, a.packets, { interleaving: true, label: 'relayed into rtmp-ingest' });
    expect(relay.stats).toMatchObject({ sentPackets: a.packets.length, droppedPackets: 0, reconnects: 0 });
    expect(watched.events).toEqual(['connected', 'disconnected']);
    expect(b.session.streams.map((s) => s.codec)).toEqual(a.session.streams.map((s) => s.codec));
  });

  it.skipIf(!haveGst)('session.relay() from a rtmp2sink publisher into nginx-rtmp: what nginx records equals what was received', async () => {
    expect(requireNginxRtmp()).toBe(true);
    const nginx = await startNginxRtmp();
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live/key' });
    const { port } = await ingest.listen();
    const relays: Relay[] = [];
    const source = new Promise<Collected>((resolve) =>
      ingest.once('session', (session) => {
        // Started in the 'session' handler: from the GOP in progress, here the first.
        relays.push(session.relay(`rtmp://127.0.0.1:${nginx.port}/out/nginxed`, { maxBufferMs: 60_000 }));
        const packets: Packet[] = [];
        session.on('packet', (p) => packets.push(p));
        resolve({ session, packets, ended: new Promise((r) => session.once('end', (e) => r(e.reason))) });
      }),
    );
    publishWithGstreamer(fixturePath('hd720'), `rtmp://127.0.0.1:${port}/live/key`, { chunkSize: 4096, realtime: true });
    const a = await source;
    expect(await a.ended).toBe('eof');
    await relays[0]!.finished;
    expect(relays[0]!.stats.droppedPackets).toBe(0);
    await waitUntil(() => nginx.recordings().length > 0, 'a recording by nginx-rtmp', 10_000);
    // nginx-rtmp finishes the file when the publish ends; give it its close.
    await new Promise((r) => setTimeout(r, 500));
    const recorded = await probePackets(nginx.recordings()[0]!);
    expectSamePackets(recorded, a.packets, { label: 'recorded by nginx-rtmp' });
  });

  it('a target down at the start: errors, then connects once it is up, starting at a keyframe; drops counted; the session is unaffected', async () => {
    const targetPort = await getFreePort();
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live/key' });
    const { port } = await ingest.listen();
    const source = new Promise<Collected & { relay: Relay }>((resolve) =>
      ingest.once('session', (session) => {
        const relay = session.relay(`rtmp://127.0.0.1:${targetPort}/out/late`, { maxBufferMs: 1000 });
        const packets: Packet[] = [];
        session.on('packet', (p) => packets.push(p));
        resolve({ session, packets, relay, ended: new Promise((r) => session.once('end', (e) => r(e.reason))) });
      }),
    );
    const pub = publishWithFfmpeg(fixturePath('hd720'), `rtmp://127.0.0.1:${port}/live/key`, { realtime: true });
    const a = await source;
    const watched = watchRelay(a.relay);
    await waitUntil(() => watched.events.some((e) => e.startsWith('error:')), 'a relay error', 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    const target = newIngest({ url: `rtmp://127.0.0.1:${targetPort}/out/late` });
    const relayed = nextCollected(target);
    await target.listen();
    const b = await relayed;
    expect(await a.ended).toBe('eof');
    await pub.exited;
    expect(await b.ended).toBe('eof');
    await a.relay.finished;
    // The publisher's session got everything.
    expectSamePackets(a.packets, await probePackets(fixturePath('hd720')), { interleaving: true, label: 'the session beside a relay whose target was down' });
    expectRunsOf(b.packets, a.packets);
    const stats = a.relay.stats;
    expect(stats.droppedPackets).toBeGreaterThan(0);
    expect(stats.droppedPackets).toBe(watched.dropped());
    expect(stats.sentPackets + stats.droppedPackets).toBe(a.packets.length);
    expect(b.packets.length).toBe(stats.sentPackets);
    expect(watched.events.filter((e) => e === 'connected')).toHaveLength(1);
    expect(watched.events.at(-1)).toBe('disconnected');
    // The stream key is a secret: error messages name the target without it.
    expect(a.relay.error?.message).toContain(`rtmp://127.0.0.1:${targetPort}/out/*****`);
    expect(a.relay.error?.message).not.toContain('late');
  });

  it('a target that goes down mid-stream: disconnected with a coded error, reconnects, resumes at a keyframe; the session is unaffected', async () => {
    const targetPort = await getFreePort();
    const first = newIngest({ url: `rtmp://127.0.0.1:${targetPort}/out/flaky` });
    await first.listen();
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live/key', relay: [`rtmp://127.0.0.1:${targetPort}/out/flaky`] });
    const { port } = await ingest.listen();
    const source = nextCollected(ingest);
    const firstRelayed = nextCollected(first);
    const pub = publishWithFfmpeg(fixturePath('hd720'), `rtmp://127.0.0.1:${port}/live/key`, { realtime: true });
    const a = await source;
    const relay = a.session.relays[0]!;
    const watched = watchRelay(relay);
    const b1 = await firstRelayed;
    await waitUntil(() => b1.packets.length > 30, '30 relayed packets', 10_000);
    await first.close();
    await waitUntil(() => watched.events.some((e) => e.startsWith('disconnected:')), 'a lost connection');
    const second = newIngest({ url: `rtmp://127.0.0.1:${targetPort}/out/flaky` });
    const secondRelayed = nextCollected(second);
    await second.listen();
    const b2 = await secondRelayed;
    expect(await a.ended).toBe('eof');
    await pub.exited;
    expect(await b2.ended).toBe('eof');
    await relay.finished;
    expectSamePackets(a.packets, await probePackets(fixturePath('hd720')), { interleaving: true, label: 'the session beside a flaky relay' });
    expectRunsOf(b1.packets, a.packets);
    expectRunsOf(b2.packets, a.packets);
    expect(relay.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(relay.stats.droppedPackets).toBe(watched.dropped());
    expect(relay.stats.sentPackets + relay.stats.droppedPackets).toBe(a.packets.length);
    expect(watched.events[0]).toBe('connected');
    expect(watched.events.filter((e) => e === 'connected').length).toBe(relay.stats.reconnects + 1);
  });

  it('a target that accepts and never answers: the relay drops what it cannot send, its session and a second session are not held back', async () => {
    // A TCP server that never reads: the relay's RTMP handshake waits on it.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    });
    const silentPort = (silent.address() as { port: number }).port;
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live' });
    const { port } = await ingest.listen();
    const sessions = new Map<string, Collected & { relay?: Relay }>();
    let watched: ReturnType<typeof watchRelay> | undefined;
    ingest.on('session', (session) => {
      const relay = session.streamKey === 'relayed' ? session.relay(`rtmp://127.0.0.1:${silentPort}/out/x`, { maxBufferMs: 500 }) : undefined;
      if (relay) watched = watchRelay(relay);
      const packets: Packet[] = [];
      session.on('packet', (p) => packets.push(p));
      sessions.set(session.streamKey, { session, packets, ended: new Promise((r) => session.once('end', (e) => r(e.reason))), ...(relay ? { relay } : {}) });
    });
    publishWithFfmpeg(fixturePath('hd720'), `rtmp://127.0.0.1:${port}/live/relayed`, { realtime: true });
    publishWithFfmpeg(fixturePath('hd720'), `rtmp://127.0.0.1:${port}/live/plain`, { realtime: true });
    await waitUntil(() => sessions.size === 2, 'two sessions', 10_000);
    const reference = await probePackets(fixturePath('hd720'));
    for (const name of ['relayed', 'plain']) {
      const s = sessions.get(name)!;
      expect(await s.ended).toBe('eof');
      expectSamePackets(s.packets, reference, { interleaving: true, label: `session ${name}` });
      // Paced publishers: no packet waited long in the addon (a held-back reader would show as a late one).
      const lateMs = Math.max(...s.packets.map((p, i) => (i === 0 ? 0 : (p.readAtUs - s.packets[0]!.readAtUs) / 1000 - Number(p.dts))));
      expect(lateMs, `session ${name}: the most a packet was read behind the media clock`).toBeLessThan(1000);
    }
    const relay = sessions.get('relayed')!.relay!;
    await relay.finished;
    expect(relay.stats.sentPackets).toBe(0);
    expect(relay.stats.droppedPackets).toBe(reference.length);
    expect(watched!.dropped()).toBe(reference.length);
    expect(watched!.events).toEqual(['error:ETIMEDOUT']);
  });

  it('rtmps:// through a TLS terminator into a second rtmp-ingest: frame-accurate with the test CA trusted; refused, with the reason, without it', async () => {
    expect(requireTlsTerminator()).toBe(true);
    const target = newIngest({ url: 'rtmp://127.0.0.1:0/out' });
    const { port: targetPort } = await target.listen();
    const tls = await startTlsTerminator(targetPort);
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live/key' });
    const { port } = await ingest.listen();
    let untrusted: Relay | undefined;
    const source = new Promise<Collected & { relay: Relay }>((resolve) =>
      ingest.once('session', (session) => {
        const relay = session.relay(tls.url('out/secure'), { tls: { ca: tls.caFile }, maxBufferMs: 60_000 });
        // The system's CAs (the default) do not include the test CA: verification must fail.
        untrusted = session.relay(tls.url('out/untrusted'));
        untrusted.on('error', () => {});
        const packets: Packet[] = [];
        session.on('packet', (p) => packets.push(p));
        resolve({ session, packets, relay, ended: new Promise((r) => session.once('end', (e) => r(e.reason))) });
      }),
    );
    const relayed = nextCollected(target);
    publishWithFfmpeg(fixturePath('bframes'), `rtmp://127.0.0.1:${port}/live/key`, { realtime: true });
    const a = await source;
    const b = await relayed;
    expect(await a.ended).toBe('eof');
    expect(await b.ended).toBe('eof');
    await a.relay.finished;
    expect(b.session.streamKey).toBe('secure');
    expectSamePackets(b.packets, a.packets, { interleaving: true, label: 'relayed over rtmps' });
    expect(a.relay.stats).toMatchObject({ sentPackets: a.packets.length, droppedPackets: 0 });
    await untrusted!.finished;
    expect(untrusted!.stats.sentPackets).toBe(0);
    expect(untrusted!.error?.code).toBe('EIO');
    expect(untrusted!.error?.message).toMatch(/certificate|verif/i);
    expect(untrusted!.error?.message).not.toContain('untrusted');
    expect([...target.sessions.values()].map((s) => s.streamKey)).not.toContain('untrusted');
  });
});
