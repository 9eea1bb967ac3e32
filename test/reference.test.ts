// Proves the test infrastructure is consistent before any addon test relies on
// it: the fixtures are what make-fixtures.sh promises, packetHash() matches
// ffprobe, and what a libavformat RTMP listener (the Debian ffmpeg CLI tools)
// receives from each real publisher equals the reference packet for packet.
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, publishCases } from './helpers/cases.js';
import { diffPackets, expectSamePackets } from './helpers/compare.js';
import { fixturePath, reference } from './helpers/fixtures.js';
import { clientTcpStats, waitForTcpStats, type TcpStats } from './helpers/net.js';
import { killAllChildren, processState } from './helpers/process.js';
import {
  GST_PUBLISH_ELEMENTS,
  destroyRawClients,
  freeze,
  publishStalling,
  publishWithGstreamer,
  rawTcpClient,
  requireGstElements,
  requireTool,
  type Publisher,
} from './helpers/publishers.js';
import { listenWithFfmpeg, listenWithFfprobe } from './helpers/receivers.js';
import { sleep, waitUntil } from './helpers/record.js';
import { packetHash, probePackets, probeStreams, type RefPacket } from './helpers/reference.js';

const execFileAsync = promisify(execFile);

const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');
const haveGst = requireGstElements(...GST_PUBLISH_ELEMENTS);
const haveSs = requireTool('ss');

afterEach(async () => {
  destroyRawClients();
  await killAllChildren();
});

const sameCounters = (a: TcpStats, b: TcpStats): boolean => a.bytesSent === b.bytesSent && a.bytesReceived === b.bytesReceived;

async function expectCleanExit(pub: Publisher): Promise<void> {
  const info = await pub.exited;
  if (info.code !== 0) throw new Error(`${pub.command}\n exited with ${info.code ?? info.signal}:\n${pub.stderr()}`);
}

describe.skipIf(!haveFfmpeg)('fixtures', () => {
  const expected = {
    small: { width: 320, height: 240, fps: 30, video: 150, bframes: false },
    hd720: { width: 1280, height: 720, fps: 30, video: 150, bframes: false },
    bframes: { width: 640, height: 360, fps: 25, video: 125, bframes: true },
  } as const;

  it('stay small', () => {
    const total = FIXTURES.reduce((n, f) => n + statSync(fixturePath(f)).size, 0);
    expect(total).toBeLessThan(2.5 * 1024 * 1024);
    expect(statSync(fixturePath('hd720')).size).toBeLessThan(1.1 * 1024 * 1024);
  });

  it.each(FIXTURES)('%s.flv is H.264 + AAC with a 2 s GOP', async (name) => {
    const e = expected[name];
    const streams = await probeStreams(fixturePath(name));
    expect(streams.map((s) => [s.index, s.type, s.codec, s.timeBase])).toEqual([
      [0, 'video', 'h264', '1/1000'],
      [1, 'audio', 'aac', '1/1000'],
    ]);
    const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-show_entries',
      'stream=width,height,r_frame_rate,sample_rate,channels,profile', '-of', 'json', fixturePath(name)]);
    const [v, a] = (JSON.parse(stdout) as { streams: Array<Record<string, string | number>> }).streams;
    expect(v).toMatchObject({ width: e.width, height: e.height, r_frame_rate: `${e.fps}/1` });
    expect(a).toMatchObject({ sample_rate: '44100', channels: 2, profile: 'LC' });

    const packets = await probePackets(fixturePath(name));
    const video = packets.filter((p) => p.type === 'video');
    expect(video).toHaveLength(e.video);
    // Keyframes exactly every 2 s: 0, 2, 4 s of decode order.
    const keys = video.flatMap((p, i) => (p.keyframe ? [i] : []));
    expect(keys).toEqual([0, 2 * e.fps, 4 * e.fps]);
    expect(video.some((p) => p.pts !== p.dts)).toBe(e.bframes);
    expect(packets.filter((p) => p.type === 'audio').length).toBeGreaterThan(200);
  });
});

describe.skipIf(!haveFfmpeg)('packetHash', () => {
  it('reproduces ffprobe -show_data_hash sha256 for every packet of small.flv', async () => {
    // ffprobe's hexdump of each packet is the ground truth for the bytes.
    const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-show_packets', '-show_data',
      '-show_data_hash', 'sha256', '-of', 'json', fixturePath('small')], { maxBuffer: 64 * 1024 * 1024 });
    const packets = (JSON.parse(stdout) as { packets: Array<{ data: string; data_hash: string; size: string }> }).packets;
    expect(packets.length).toBeGreaterThan(300);
    for (const p of packets) {
      const hex = p.data.split('\n').filter((l) => /^[0-9a-f]{8}: /.test(l)).map((l) => l.slice(10, 50).replace(/ /g, '')).join('');
      const bytes = Buffer.from(hex, 'hex');
      expect(bytes.length).toBe(Number(p.size));
      expect(packetHash(bytes)).toBe(p.data_hash);
    }
  });
});

describe('expectSamePackets', () => {
  const pkt = (i: number, type: 'video' | 'audio', streamIndex: number, data: string): RefPacket => ({
    streamIndex, type, pts: i * 10, dts: i * 10, duration: 10, keyframe: i === 0, size: data.length, hash: packetHash(Buffer.from(data)),
  });
  const ref = [pkt(0, 'video', 0, 'v0'), pkt(0, 'audio', 1, 'a0'), pkt(1, 'video', 0, 'v1'), pkt(1, 'audio', 1, 'a1'), pkt(2, 'video', 0, 'v2')];

  it('accepts received packets with data, and other cross-stream interleaving', () => {
    const rx = [ref[0]!, ref[2]!, ref[1]!, ref[4]!, ref[3]!].map(({ hash: _h, ...p }, i) => ({
      ...p, data: Buffer.from(['v0', 'v1', 'a0', 'v2', 'a1'][i]!),
    }));
    expect(() => expectSamePackets(rx, ref)).not.toThrow();
    expect(diffPackets(rx, ref, { interleaving: true }).join('\n')).toContain('cross-stream order differs from packet 1 of 5');
  });

  it('maps streams by type when indexes differ, and says so', () => {
    const rx = ref.map((p) => ({ ...p, streamIndex: p.type === 'video' ? 1 : 0 }));
    expect(diffPackets(rx, ref)).toEqual([]);
    const bad = rx.map((p, i) => (i === 4 ? { ...p, pts: 99 } : p));
    const msg = diffPackets(bad, ref).join('\n');
    expect(msg).toContain('streams mapped by type');
    expect(msg).toContain('received stream #1 / reference #0 (video)');
    expect(msg).toContain('packet #2: pts 99 != 20');
  });

  it('names lost and duplicated packets and limits the listing', () => {
    const lost = ref.filter((_, i) => i !== 2);
    expect(diffPackets(lost, ref).join('\n')).toMatch(/stream #0 \(video\): 1 reference packet\(s\) missing from received: #1 pts=10/);
    const dup = [...ref.slice(0, 3), ref[2]!, ...ref.slice(3)];
    expect(diffPackets(dup, ref).join('\n')).toMatch(/1 received packet\(s\) duplicated/);
    const many = Array.from({ length: 100 }, (_, i) => pkt(i, 'video', 0, `x${i}`));
    const shifted = many.map((p) => ({ ...p, dts: (p.dts ?? 0) + 1 }));
    const lines = diffPackets(shifted, many, { maxDiffs: 3 }).join('\n').split('\n');
    expect(lines[0]).toContain('100 of 100 packets differ');
    expect(lines).toHaveLength(4);
  });
});

// The matrix (helpers/cases.ts); ffmpeg -re only for the small fixture here.
const cases = publishCases((f) => f === 'small');

describe.skipIf(!haveFfmpeg)('libavformat RTMP listener receives exactly the reference', () => {
  describe.each(cases)('$name', (c) => {
    it.skipIf(!c.available())('ffprobe -listen 1: every field, in demux order', async () => {
      const rx = await listenWithFfprobe();
      const pub = c.publish(fixturePath(c.fixture), rx.url);
      await expectCleanExit(pub);
      expectSamePackets(await rx.result(), await reference(c.fixture, c.reference), { label: c.name, interleaving: true });
    });

    it.skipIf(!c.available())('ffmpeg -listen 1 -c copy -f framehash: timestamps, sizes, hashes, extradata', async () => {
      const rx = await listenWithFfmpeg();
      const pub = c.publish(fixturePath(c.fixture), rx.url);
      await expectCleanExit(pub);
      const got = await rx.result();
      // framehash has no packet flags; the ffprobe receiver covers those.
      expectSamePackets(got.packets, await reference(c.fixture, c.reference), { label: c.name, ignore: ['keyframe'] });
      const streams = await probeStreams(fixturePath(c.fixture));
      expect(got.streams.map((s) => [s.index, s.type, s.timeBase, s.extradataSize, s.extradataHash])).toEqual(
        streams.map((s) => [s.index, s.type, s.timeBase, s.extradataSize, s.extradataHash]),
      );
    });
  });
});

describe.skipIf(!haveFfmpeg || !haveGst)('GStreamer reference (flvmux rewrite)', () => {
  it.each(['small', 'hd720'] as const)('equals the fixture for %s.flv, whose first timestamp is 0', async (name) => {
    expectSamePackets(await reference(name, 'gstreamer'), await reference(name, 'file'));
  });

  it('shifts bframes.flv by its first pts, clamped at 0, and re-interleaves; data, sizes, flags, durations kept', async () => {
    const file = await reference('bframes', 'file');
    const gst = await reference('bframes', 'gstreamer');
    expectSamePackets(gst, file, { ignore: ['pts', 'dts'] });
    expect(diffPackets(gst, file, { ignore: ['pts', 'dts'], interleaving: true }).join('\n')).toContain('cross-stream order differs');
    // The first tag in the file is video with pts 80, dts 0 (B-frame delay):
    // everything moves 80 ms earlier and what would go negative becomes 0.
    const shift = file[0]!.pts!;
    expect(shift).toBe(80);
    for (const type of ['video', 'audio'] as const) {
      const f = file.filter((p) => p.type === type);
      const g = gst.filter((p) => p.type === type);
      expect(g.map((p) => [p.pts, p.dts])).toEqual(f.map((p) => [Math.max(0, p.pts! - shift), Math.max(0, p.dts! - shift)]));
    }
  });
});

describe.skipIf(!haveFfmpeg)('misbehaving clients', () => {
  it('rawTcpClient connects and sends nothing; the RTMP listener sends nothing either', async () => {
    const rx = await listenWithFfprobe({ listenTimeoutSec: 10 });
    const client = await rawTcpClient(rx.port);
    await sleep(500); // a negative check: within 500 ms the listener sends nothing (it waits for C0/C1)
    expect(client.socket.bytesWritten).toBe(0);
    expect(client.socket.readyState).toBe('open');
    client.destroy();
    const closed = await client.closed;
    expect(closed.bytesReceived).toBe(0); // server waits for C0/C1 first
    await rx.handle.exited; // the listener gives up once the client goes away
  });

  it.skipIf(!haveSs)('publishStalling keeps the connection open without sending, then resumes losslessly', async () => {
    const rx = await listenWithFfprobe();
    const pub = publishStalling(fixturePath('small'), rx.url, { stallAtMs: 1000 });
    await pub.stalled;
    // ffmpeg has sent what it was given: over 10 kB, all of it acknowledged, the counters still.
    const before = await waitForTcpStats(
      rx.port,
      (s, prev) => s.bytesSent > 10_000 && s.sendQueue === 0 && prev !== undefined && sameCounters(s, prev),
      'the head of the stream to be sent and acknowledged',
      { intervalMs: 100 },
    );
    await sleep(1500); // a negative check: while stalled, not a byte either way
    const after = await clientTcpStats(rx.port);
    expect(after).toEqual(before); // still established, not a byte more either way
    expect(pub.child.exitCode).toBeNull();

    pub.resume();
    await expectCleanExit(pub);
    expectSamePackets(await rx.result(), await reference('small', 'file'));
  });

  it.skipIf(!haveSs || !haveGst)('freeze() on a realtime GStreamer publish keeps the connection open without sending', async () => {
    const rx = await listenWithFfprobe();
    const pub = publishWithGstreamer(fixturePath('small'), rx.url, { chunkSize: 4096, realtime: true });
    await waitForTcpStats(rx.port, (s) => s.bytesSent > 10_000, 'the realtime publish to be under way');
    const thaw = freeze(pub);
    // Stopped, it writes nothing more; what it wrote before drains from the socket.
    await waitUntil(() => processState(pub.child.pid!) === 'T', 'the publisher to be stopped', 5000);
    const before = await waitForTcpStats(rx.port, (s) => s.sendQueue === 0, 'the send queue to drain');
    expect(before.bytesSent).toBeGreaterThan(10_000);
    await sleep(1500); // a negative check: while frozen, not a byte either way
    expect(await clientTcpStats(rx.port)).toEqual(before);
    thaw();
    await expectCleanExit(pub);
    expectSamePackets(await rx.result(), await reference('small', 'gstreamer'), { interleaving: true });
  });
});
