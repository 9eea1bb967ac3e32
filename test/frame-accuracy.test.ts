// What rtmp-ingest delivers equals, packet by packet, what was sent: the
// fixture as ffprobe reads it (or, for GStreamer, what its flvmux writes):
// same order, pts, dts, duration, key flag, size and SHA-256 of the data.
import { describe, expect, it } from 'vitest';
import { publishCases } from './helpers/cases.js';
import { expectSamePackets } from './helpers/compare.js';
import { fixturePath, nextSession, reference, startIngest } from './helpers/ingest.js';
import { publishWithFfmpeg, requireTool } from './helpers/publishers.js';
import { probeStreams } from './helpers/reference.js';

const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');


const cases = publishCases(); // helpers/cases.ts

describe.skipIf(!haveFfmpeg)('rtmp-ingest receives exactly what was sent', () => {
  it.each(cases.filter((c) => c.available()))('$name', async (c) => {
    const { ingest, url } = await startIngest({ keepAlive: false });
    const received = nextSession(ingest);
    const pub = c.publish(fixturePath(c.fixture), url);
    const { session, packets, end } = await received;
    const exit = await pub.exited;
    expect(exit.code, pub.stderr()).toBe(0);
    expect(end.reason).toBe('eof');

    expectSamePackets(packets, await reference(c.fixture, c.reference), { label: c.name, interleaving: true });

    // Streams are described as ffprobe describes the fixture.
    const streams = await probeStreams(fixturePath(c.fixture));
    expect(session.streams.map((s) => [s.index, s.type, s.codec, `${s.timeBase[0]}/${s.timeBase[1]}`, s.extradata.length])).toEqual(
      streams.map((s) => [s.index, s.type, s.codec, s.timeBase, s.extradataSize]),
    );
    expect(session.stats.packets).toBe(packets.length);
    expect(session.stats.bytes).toBe(packets.reduce((n, p) => n + p.size, 0));
  });
});

describe.skipIf(!haveFfmpeg)('stream info', () => {
  it('knows dimensions, profiles, rates and the AAC config without probing for seconds', async () => {
    const { ingest, url } = await startIngest({ keepAlive: false });
    const received = nextSession(ingest);
    const sessionAtUs = new Promise<number>((resolve) => ingest.once('session', () => resolve(Number(process.hrtime.bigint() / 1000n))));
    publishWithFfmpeg(fixturePath('bframes'), url, { realtime: true });
    const { session, packets } = await received;
    const [video, audio] = session.streams;
    expect(video).toMatchObject({ type: 'video', codec: 'h264', profile: 'High', width: 640, height: 360, frameRate: [25, 1] });
    expect(audio).toMatchObject({ type: 'audio', codec: 'aac', profile: 'LC', sampleRate: 44100, channels: 2 });
    // A realtime publisher sends both streams at once: the session starts as
    // soon as both are there. avformat_find_stream_info would have read
    // seconds of the stream (over 100 packets here) before it.
    const sessionUs = await sessionAtUs;
    const readBeforeSession = packets.filter((p) => p.readAtUs < sessionUs).length;
    expect(readBeforeSession).toBeGreaterThan(0);
    expect(readBeforeSession).toBeLessThan(20);
  });
});
