// Nothing lost, whatever the publisher: every packet of streams that cross
// RTMP's acknowledgement window many times arrives exactly as sent, from
// every unmodified publisher, fast and paced, and with a consumer slower
// than the publisher. The session ends 'eof'.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Packet, RtmpIngest, SessionEndEvent } from '../lib/index.js';
import { FAST_PUBLISHERS, REALTIME_PUBLISHERS, type PublisherCase } from './helpers/cases.js';
import { CLIPS, clipPath, type ClipName } from './helpers/clips.js';
import { expectSamePackets } from './helpers/compare.js';
import { nextSession, referenceOf, startIngest } from './helpers/ingest.js';
import type { RefPacket } from './helpers/reference.js';
import { requireTool } from './helpers/publishers.js';
import { within } from './helpers/record.js';

const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');
const CLIP_NAMES = Object.keys(CLIPS) as ClipName[];

function expectDelivered(label: string, packets: readonly Packet[], end: SessionEndEvent, ref: readonly RefPacket[]): void {
  expect(end, label).toEqual({ reason: 'eof' });
  expectSamePackets(packets, ref, { label, interleaving: true });
}

async function expectWholeStream(publisher: PublisherCase, clip: ClipName, timeoutMs: number): Promise<void> {
  const file = await clipPath(clip);
  const { ingest, url } = await startIngest({ keepAlive: false });
  const received = nextSession(ingest, timeoutMs);
  const pub = publisher.publish(file, url);
  const { packets, end } = await received;
  expect((await pub.exited).code, pub.stderr()).toBe(0);
  expectDelivered(`${publisher.name} ${clip}`, packets, end, await referenceOf(file, publisher.reference));
}

interface SlowRead {
  packets: Packet[];
  end: SessionEndEvent;
  /** Packets the consumer had taken when the publisher exited (its socket closed). */
  takenAtPublisherExit: number;
}

/** A for-await consumer that sleeps `sleepMs` per packet, so the reader waits at the high-water mark. */
async function readSlowly(ingest: RtmpIngest, publisher: PublisherCase, file: string, url: string, sleepMs: number): Promise<SlowRead> {
  const packets: Packet[] = [];
  let takenAtPublisherExit = -1;
  const session = new Promise<SlowRead>((resolve, reject) => {
    ingest.once('session', (s) => {
      let end: SessionEndEvent | undefined;
      s.once('end', (e) => (end = e));
      void (async () => {
        for await (const p of s) {
          packets.push(p);
          await new Promise((r) => setTimeout(r, sleepMs));
        }
        resolve({ packets, end: end!, takenAtPublisherExit });
      })().catch(reject);
    });
  });
  const pub = publisher.publish(file, url);
  void pub.exited.then(() => (takenAtPublisherExit = packets.length));
  const read = await within(session, 120_000, `${publisher.name}: the slow consumer finishing`);
  expect((await pub.exited).code, pub.stderr()).toBe(0);
  return read;
}

describe.skipIf(!haveFfmpeg)('every packet from every publisher, on streams that cross the acknowledgement window', () => {
  beforeAll(async () => {
    for (const name of CLIP_NAMES) await clipPath(name);
  }, 600_000);

  describe.each(CLIP_NAMES)('%s, as fast as the publisher goes', (clip) => {
    it.each(FAST_PUBLISHERS.filter((p) => p.available()))('$name', (p) => expectWholeStream(p, clip, 90_000), 120_000);
  });

  describe('ack-3mb, paced by the media clock', () => {
    it.each(REALTIME_PUBLISHERS.filter((p) => p.available()))('$name', (p) => expectWholeStream(p, 'ack-3mb', 60_000), 90_000);
  });

  // 45 Mb/s: many acknowledgement windows a second, more than the ffmpeg
  // CLI reads its socket while it publishes.
  describe('uhd2160-45mbps, paced by the media clock', () => {
    const ffmpegs = REALTIME_PUBLISHERS.filter((p) => p.name.startsWith('ffmpeg') && p.available());
    it.each(ffmpegs)('$name', (p) => expectWholeStream(p, 'uhd2160-45mbps', 60_000), 90_000);
  });

  const pacedHd = REALTIME_PUBLISHERS.find((c) => c.name === 'rtmp2sink chunk-size 4096 sync=true')!;
  it.skipIf(!pacedHd.available())('hd1080-20mbps (25 s of 1080p30 at 20 Mb/s), rtmp2sink chunk-size 4096 sync=true', () =>
    expectWholeStream(pacedHd, 'hd1080-20mbps', 90_000), 120_000);

  describe('a consumer slower than the publisher, which finishes and closes while much of its stream is unread', () => {
    it.each(FAST_PUBLISHERS.filter((p) => p.available()))('$name', async (p) => {
      const file = await clipPath('ack-12mb');
      const ref = await referenceOf(file, p.reference);
      const { ingest, url } = await startIngest({ keepAlive: false, highWaterMarkBytes: 1 << 20 });
      const { packets, end, takenAtPublisherExit } = await readSlowly(ingest, p, file, url, 2);
      // The case this is about: the publisher had closed with over a tenth
      // of its stream (more than an acknowledgement window) still unread.
      expect(takenAtPublisherExit).toBeGreaterThanOrEqual(0);
      expect(takenAtPublisherExit).toBeLessThan(ref.length * 0.9);
      expectDelivered(`${p.name}, slow consumer`, packets, end, ref);
    }, 150_000);
  });
});
