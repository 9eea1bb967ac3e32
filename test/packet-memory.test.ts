// What packet.data is made of: the packet's own memory from 512 bytes up,
// a view into a slab shared by many batches below that. Packets kept until
// the stream has ended must still hold their bytes (the slab is never
// written twice), and a shared slab must not be transferable.
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { expectSamePackets } from './helpers/compare.js';
import { fixturePath, nextSession, reference, startIngest } from './helpers/ingest.js';
import { publishWithFfmpeg, requireTool } from './helpers/publishers.js';

const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');
const COPY_BELOW = 512; // kCopyBelowBytes in native/js_convert.cc

describe.skipIf(!haveFfmpeg)('packet memory', () => {
  it('keeps every retained packet intact; small packets share an untransferable slab, large ones own their memory', async () => {
    const { ingest, url } = await startIngest();
    const received = nextSession(ingest);
    // As fast as it goes: many packets per batch, many batches per slab.
    const pub = publishWithFfmpeg(fixturePath('bframes'), url);
    const { packets } = await received;
    await pub.exited;

    // Hashed now, after the whole stream went through the slabs.
    expectSamePackets(packets, await reference('bframes'), { interleaving: true, label: 'retained until the end' });

    const small = packets.filter((p) => p.size < COPY_BELOW);
    const large = packets.filter((p) => p.size >= COPY_BELOW);
    expect(small.length).toBeGreaterThan(10);
    expect(large.length).toBeGreaterThan(10);

    const slabs = new Set(small.map((p) => p.data.buffer));
    expect(slabs.size).toBeLessThan(small.length); // shared
    for (const p of small) expect(p.data.buffer.byteLength).toBeGreaterThanOrEqual(16 * 1024);
    // Transferring the slab must not detach it under the other packets:
    // Node 20 copies an untransferable ArrayBuffer; a DataCloneError is the
    // other acceptable outcome.
    const slab = small[0]!.data.buffer;
    const slabBytes = slab.byteLength;
    const { port1, port2 } = new MessageChannel();
    try {
      try {
        port1.postMessage(small[0]!.data, [slab as ArrayBuffer]);
      } catch (err) {
        expect((err as Error).name).toBe('DataCloneError');
      }
      expect(slab.byteLength).toBe(slabBytes);
      expect(small[1]!.data.length).toBe(small[1]!.size);
    } finally {
      port1.close();
      port2.close();
    }

    for (const p of large) {
      expect(p.data.byteOffset).toBe(0);
      expect(p.data.buffer.byteLength).toBe(p.size);
    }
    expect(new Set(large.map((p) => p.data.buffer)).size).toBe(large.length);
  });
});
