// session.close() drops one publisher and keeps the listener.
import { describe, expect, it } from 'vitest';
import { expectReferencePrefix, expectSamePackets } from './helpers/compare.js';
import { fixturePath, nextSession, startIngest } from './helpers/ingest.js';
import { publishWithFfmpeg, requireTool } from './helpers/publishers.js';
import { probePackets } from './helpers/reference.js';
import type { Packet } from '../lib/index.js';

const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');

describe.skipIf(!haveFfmpeg)('session.close()', () => {
  it('ends the session with reason closed, loses nothing before it, and the next publisher gets in', async () => {
    const { ingest, url } = await startIngest();
    const reference = await probePackets(fixturePath('small'));

    const first = new Promise<{ packets: Packet[]; reason: string; closedAfter: number }>((resolve) => {
      ingest.once('session', (s) => {
        const packets: Packet[] = [];
        let closedAfter = -1;
        s.on('packet', (p) => {
          packets.push(p);
          if (packets.length === 40) {
            closedAfter = packets.length;
            void s.close();
          }
        });
        s.once('end', (e) => resolve({ packets, reason: e.reason, closedAfter }));
      });
    });
    const pub = publishWithFfmpeg(fixturePath('small'), url, { realtime: true });
    const { packets, reason, closedAfter } = await first;
    expect(reason).toBe('closed');
    expect(closedAfter).toBe(40);
    // A realtime 5 s publish was cut short: fewer packets than the file, all of them its prefix.
    expect(packets.length).toBeLessThan(reference.length / 2);
    expectReferencePrefix(packets, reference, 'before close()');
    expect((await pub.exited).code).not.toBe(0);

    const second = nextSession(ingest);
    publishWithFfmpeg(fixturePath('small'), url);
    const { packets: all, end } = await second;
    expect(end.reason).toBe('eof');
    expectSamePackets(all, reference, { interleaving: true, label: 'next publisher' });
  });
});
