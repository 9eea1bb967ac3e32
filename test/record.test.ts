// session.record() and the ingest's record option: files written by
// libavformat's muxers off the JS thread. Segments, a process killed
// mid-recording, an unwritable folder, close() finishing the files, a
// session that only records (no trip through JS), names from the publisher.
// Packet-exact comparisons per container are in record-files.test.ts.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IngestSession, Packet, Recorder, SegmentInfo } from '../lib/index.js';
import { spawnNodeChild } from './helpers/child.js';
import { flvTags } from './helpers/flv.js';
import { expectSamePackets } from './helpers/compare.js';
import { fixturePath, newIngest } from './helpers/ingest.js';
import { killAllChildren } from './helpers/process.js';
import { publishWithFfmpeg, requireTool } from './helpers/publishers.js';
import { waitUntil } from './helpers/record.js';
import { probePackets, type RefPacket } from './helpers/reference.js';

const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');

afterEach(async () => {
  await killAllChildren();
});

const scratch = (): string => mkdtempSync(join(tmpdir(), 'rtmp-ingest-record-'));

/** Every file under `dir`, sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

interface Watched {
  session: IngestSession;
  packets: Packet[];
  ended: Promise<string>;
  recorder: Recorder;
  segments: SegmentInfo[];
}

function watch(session: IngestSession, recorder: Recorder, listen = true): Watched {
  const packets: Packet[] = [];
  if (listen) session.on('packet', (p) => packets.push(p));
  const segments: SegmentInfo[] = [];
  recorder.on('segment', (s) => segments.push(s));
  return { session, packets, recorder, segments, ended: new Promise((r) => session.once('end', (e) => r(e.reason))) };
}


describe.skipIf(!haveFfmpeg)('record', () => {
  it('segments: each starts with a keyframe, lasts within one GOP of segmentSeconds, and together they hold every packet once', async () => {
    const dir = scratch();
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live/key', record: { path: join(dir, '{streamKey}-%s.mp4'), segmentSeconds: 1 } });
    const { port } = await ingest.listen();
    const started = new Promise<Watched>((resolve) => ingest.once('session', (s) => resolve(watch(s, s.recorders[0]!))));
    publishWithFfmpeg(fixturePath('hd720'), `rtmp://127.0.0.1:${port}/live/key`);
    const w = await started;
    expect(await w.ended).toBe('eof');
    await w.recorder.finished;
    const files = w.segments.map((s) => s.path);
    expect(files.length).toBeGreaterThan(1);
    expect(new Set(files).size, 'no file written twice').toBe(files.length);
    expect(filesUnder(dir)).toEqual([...files].sort());
    const reference = await probePackets(fixturePath('hd720'));
    const gopMs = Math.max(...keyframeGaps(reference));
    const all: RefPacket[] = [];
    for (const [i, s] of w.segments.entries()) {
      const packets = await probePackets(s.path);
      const video = packets.filter((p) => p.type === 'video');
      expect(video[0]?.keyframe, `segment ${i} starts with a keyframe`).toBe(true);
      expect(statSync(s.path).size).toBe(s.bytes);
      if (i < w.segments.length - 1) {
        expect(s.durationMs).toBeGreaterThanOrEqual(1000);
        expect(s.durationMs).toBeLessThan(1000 + gopMs);
      }
      all.push(...packets);
    }
    // Every packet once: the same payloads (mp4 keeps them as they came), per stream in order.
    for (const i of [0, 1]) {
      const hashes = (ps: RefPacket[]) => ps.filter((p) => p.streamIndex === i).map((p) => p.hash);
      expect(hashes(all)).toEqual(hashes(reference));
    }
    expect(w.recorder.stats).toMatchObject({ packets: reference.length, segments: w.segments.length, droppedPackets: 0 });
  });

  it('a session that only records costs no trip through JS: its packets stop at the recorder', async () => {
    const dir = scratch();
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live/key', record: { path: join(dir, 'only.mkv') } });
    const { port } = await ingest.listen();
    const started = new Promise<Watched>((resolve) => ingest.once('session', (s) => resolve(watch(s, s.recorders[0]!, false))));
    publishWithFfmpeg(fixturePath('hd720'), `rtmp://127.0.0.1:${port}/live/key`, { realtime: true });
    const w = await started;
    expect(await w.ended).toBe('eof');
    await w.recorder.finished;
    const reference = await probePackets(fixturePath('hd720'));
    expect(w.recorder.stats.packets).toBe(reference.length);
    // Only what was read before the 'session' handlers returned (the probe's packets) reached JS; the
    // session's stats still count every packet.
    expect(w.session.stats.packets).toBe(reference.length);
    expect(w.session.stats.undeliveredPackets).toBeGreaterThan(reference.length * 0.9);
    expect(w.session.stats.streams.map((s) => s.packets)).toEqual([0, 1].map((i) => reference.filter((p) => p.streamIndex === i).length));
    expect((await probePackets(join(dir, 'only.mkv'))).length).toBe(reference.length);
  });

  it("record() in a 'session' handler of a live publish starts at a keyframe and then holds every packet", async () => {
    const dir = scratch();
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live/key' });
    const { port } = await ingest.listen();
    const started = new Promise<Watched>((resolve) =>
      ingest.once('session', (s) => resolve(watch(s, s.record({ path: join(dir, 'late.flv') })))),
    );
    publishWithFfmpeg(fixturePath('bframes'), `rtmp://127.0.0.1:${port}/live/key`, { realtime: true });
    const w = await started;
    expect(await w.ended).toBe('eof');
    const last = await w.recorder.stop();
    expect(last?.path).toBe(join(dir, 'late.flv'));
    const recorded = await probePackets(join(dir, 'late.flv'));
    expect(recorded.find((p) => p.type === 'video')?.keyframe).toBe(true);
    // flv keeps everything as it came: the recording is the tail of what JS received.
    expectSamePackets(recorded, w.packets.slice(w.packets.length - recorded.length), { label: 'late recording' });
    expect(recorded.length).toBe(w.packets.length); // the first GOP was still in progress: nothing missed
  });

  it('close() lets a live recording finish its file: the last segment is reported and the file is complete', async () => {
    const dir = scratch();
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live/key', record: { path: join(dir, 'closing.mp4') } });
    const { port } = await ingest.listen();
    const started = new Promise<Watched>((resolve) => ingest.once('session', (s) => resolve(watch(s, s.recorders[0]!))));
    publishWithFfmpeg(fixturePath('hd720'), `rtmp://127.0.0.1:${port}/live/key`, { realtime: true, loop: true });
    const w = await started;
    await waitUntil(() => w.packets.length > 100, '100 packets');
    await ingest.close();
    expect(w.segments).toHaveLength(1);
    expect(w.segments[0]!.path).toBe(join(dir, 'closing.mp4'));
    const recorded = await probePackets(join(dir, 'closing.mp4'));
    expect(recorded.length).toBe(w.recorder.stats.packets);
    expect(recorded.length).toBeGreaterThan(100);
    // Every recorded packet is one JS received, per stream in order (a fragment groups each stream's packets).
    for (const i of [0, 1]) {
      const got = recorded.filter((p) => p.streamIndex === i).map((p) => p.size);
      expect(got).toEqual(w.packets.filter((p) => p.streamIndex === i).slice(0, got.length).map((p) => p.size));
    }
  });

  it('an unwritable folder: the recorder reports a coded error, the session and a second recorder go on', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'not-a-folder'), '');
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live/key' });
    const { port } = await ingest.listen();
    const errors: string[] = [];
    const started = new Promise<Watched & { failing: Recorder }>((resolve) =>
      ingest.once('session', (s) => {
        const failing = s.record({ path: join(dir, 'not-a-folder', 'x.mp4') });
        failing.on('error', (e) => errors.push(String(e.code)));
        resolve({ ...watch(s, s.record({ path: join(dir, 'ok.ts') })), failing });
      }),
    );
    // Live (paced): a fast publisher's session may be over natively before its 'session' handler runs.
    publishWithFfmpeg(fixturePath('small'), `rtmp://127.0.0.1:${port}/live/key`, { realtime: true });
    const w = await started;
    expect(await w.ended).toBe('eof');
    await w.failing.finished;
    await w.recorder.finished;
    expect(errors).toEqual(['ENOTDIR']);
    expect(w.failing.error?.code).toBe('ENOTDIR');
    expect(w.failing.stats.packets).toBe(0);
    expectSamePackets(w.packets, await probePackets(fixturePath('small')), { interleaving: true, label: 'the session beside a failing recorder' });
    expect(w.recorder.stats.packets).toBe(w.packets.length);
  });

  it('names from the publisher cannot leave the folder: {app}/{streamKey}/{sessionId} are cleaned', async () => {
    const dir = scratch();
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0', record: { path: join(dir, '{app}', '{streamKey}', '{sessionId}.flv') } });
    const { port } = await ingest.listen();
    const started = new Promise<Watched>((resolve) => ingest.once('session', (s) => resolve(watch(s, s.recorders[0]!))));
    publishWithFfmpeg(fixturePath('small'), `rtmp://127.0.0.1:${port}/live/..%2F..%2Fescape`);
    const w = await started;
    expect(await w.ended).toBe('eof');
    await w.recorder.finished;
    const files = filesUnder(dir);
    expect(files).toHaveLength(1);
    expect(files[0]!.startsWith(dir + '/')).toBe(true);
    expect(files[0]).toBe(join(dir, w.session.app.replace(/[^A-Za-z0-9._-]/g, '_'), w.session.streamKey.replace(/[^A-Za-z0-9._-]/g, '_'), `${w.session.id}.flv`));
  });

  it('DTS a muxer would refuse (equal DTS into mp4) are moved, counted and logged; mkv takes them as they are', async () => {
    const dir = scratch();
    // hd720 with 5 video frames given their predecessor's timestamp: the ffmpeg publisher sends
    // them as they are (FLV allows equal DTS), mp4 requires increasing DTS.
    const flv = Buffer.from(readFileSync(fixturePath('hd720')));
    const video = flvTags(flv).filter((t) => t.type === 9);
    const changed = [20, 40, 60, 80, 100].map((i) => video[i]!).filter((t) => (flv[t.offset + 11]! & 0xf0) !== 0x10); // inter frames
    for (const t of changed) {
      const previous = video[video.indexOf(t) - 1]!;
      flv.writeUIntBE(previous.timestamp & 0xffffff, t.offset + 4, 3);
      flv[t.offset + 7] = previous.timestamp >>> 24;
    }
    const input = join(dir, 'equal-dts.flv');
    writeFileSync(input, flv);
    const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live/key', logLevel: 'warning' });
    const warnings: string[] = [];
    ingest.on('log', (l) => warnings.push(l.message));
    const { port } = await ingest.listen();
    const started = new Promise<Watched & { mkv: Recorder }>((resolve) =>
      ingest.once('session', (s) => resolve({ ...watch(s, s.record({ path: join(dir, 'fixed.mp4') })), mkv: s.record({ path: join(dir, 'kept.mkv') }) })),
    );
    publishWithFfmpeg(input, `rtmp://127.0.0.1:${port}/live/key`, { realtime: true });
    const w = await started;
    expect(await w.ended).toBe('eof');
    await Promise.all([w.recorder.finished, w.mkv.finished]);
    const received = w.packets.filter((p) => p.type === 'video').map((p) => p.dts);
    const equal = received.filter((d, i) => i > 0 && d === received[i - 1]).length;
    expect(equal).toBe(changed.length);
    expect(w.recorder.stats.timestampFixups).toBe(changed.length);
    expect(w.mkv.stats.timestampFixups).toBe(0);
    expect(warnings.filter((m) => / written as /.test(m))).toHaveLength(changed.length);
    expect(w.recorder.stats.packets).toBe(w.packets.length);
    expect((await probePackets(join(dir, 'fixed.mp4'))).length).toBe(w.packets.length);
  });

  for (const format of ['mp4', 'mkv', 'mpegts'] as const) {
    it(`SIGKILL mid-recording leaves a ${format} file that ffprobe reads up to its last fragment`, async () => {
      const dir = scratch();
      const path = join(dir, `killed.${format === 'mpegts' ? 'ts' : format}`);
      const child = spawnNodeChild('ingest.mjs', [JSON.stringify({ options: { record: { path } } })]);
      const { port } = (await child.waitFor((m) => m.type === 'listening', 'listening')) as unknown as { port: number };
      publishWithFfmpeg(fixturePath('hd720'), `rtmp://127.0.0.1:${port}/live/key`, { realtime: true });
      await child.waitFor((m) => m.type === 'session', 'session');
      await new Promise((r) => setTimeout(r, 3500));
      child.handle.child.kill('SIGKILL');
      await child.handle.exited;
      const reference = await probePackets(fixturePath('hd720'));
      const recorded = await probePackets(path);
      // 3.5 s into a 5 s clip: at least the fragments (clusters, TS packets) finished a second before the kill.
      const videoMs = Math.max(...recorded.filter((p) => p.type === 'video').map((p) => Number(p.dts)));
      expect(recorded.length).toBeGreaterThan(0);
      expect(videoMs).toBeGreaterThan(1500 * (format === 'mpegts' ? 90 : format === 'mp4' ? 16 : 1));
      // What it holds is the start of the stream, in order (sizes: mpegts carries H.264 as Annex B and AAC as ADTS).
      const perStream = (ps: RefPacket[], i: number) => ps.filter((p) => p.streamIndex === i);
      for (const i of [0, 1]) {
        const got = perStream(recorded, i);
        const want = perStream(reference, i).slice(0, got.length);
        expect(got.length).toBeGreaterThan(10);
        if (format !== 'mpegts') expect(got.map((p) => p.hash)).toEqual(want.map((p) => p.hash));
        expect(got.map((p) => p.keyframe)).toEqual(want.map((p) => p.keyframe));
      }
    });
  }
});

/** Milliseconds between the keyframes of the first video stream. */
function keyframeGaps(packets: readonly RefPacket[]): number[] {
  const keys = packets.filter((p) => p.type === 'video' && p.keyframe).map((p) => Number(p.dts));
  return keys.slice(1).map((k, i) => k - keys[i]!);
}
