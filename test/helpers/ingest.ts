// Receiving with rtmp-ingest itself: collect one session's packets and end.
import { expect, onTestFinished } from 'vitest';
import { RtmpIngest, type IngestSession, type Packet, type RtmpIngestOptions, type SessionEndEvent } from '../../lib/index.js';
import { expectSamePackets } from './compare.js';
import { fixturePath, reference } from './fixtures.js';
import { publishWithFfmpeg } from './publishers.js';
import { within } from './record.js';

export { fixturePath, reference, referenceOf } from './fixtures.js';

export interface Received {
  session: IngestSession;
  packets: Packet[];
  end: SessionEndEvent;
}

/**
 * `new RtmpIngest(opts)`, closed when the test that made it ends (close() is
 * idempotent), like spawnTracked's children; outside a test the caller's
 * hooks must close it.
 */
export function newIngest(opts: RtmpIngestOptions): RtmpIngest {
  const ingest = new RtmpIngest(opts);
  try {
    onTestFinished(() => ingest.close());
  } catch {
    /* not inside a test */
  }
  return ingest;
}

/** Listens on 127.0.0.1 (free port) and resolves the URL a publisher should use. Closed when the test ends. */
export async function startIngest(
  opts: Partial<RtmpIngestOptions> = {},
): Promise<{ ingest: RtmpIngest; url: string; port: number }> {
  const ingest = newIngest({ url: 'rtmp://127.0.0.1:0/live/key', ...opts });
  const { port } = await ingest.listen();
  const key = opts.streamKey ?? new URL(opts.url ?? 'rtmp://127.0.0.1:0/live/key').pathname.split('/').pop();
  return { ingest, port, url: `rtmp://127.0.0.1:${port}/live/${key}` };
}

/** The next session's packets, via 'packet' events, until it ends. */
export function nextSession(ingest: RtmpIngest, timeoutMs = 30_000): Promise<Received> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no complete session within ${timeoutMs} ms`)), timeoutMs);
    ingest.once('session', (session) => {
      const packets: Packet[] = [];
      session.on('packet', (p) => packets.push(p));
      session.once('end', (end) => {
        clearTimeout(timer);
        resolve({ session, packets, end });
      });
    });
  });
}

export function once<T>(emitter: { once(event: string, fn: (v: T) => void): unknown }, event: string, timeoutMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (v: T) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

/** A complete ffmpeg publish of fixture `name` through the ingest, compared with the fixture. */
export async function expectFrameAccuratePublish(ingest: RtmpIngest, url: string, name: string, label: string): Promise<void> {
  const received = nextSession(ingest, 30_000);
  const pub = publishWithFfmpeg(fixturePath(name), url);
  const { packets, end } = await received;
  const exit = await within(pub.exited, 15_000, `${label}: the publisher exiting`);
  expect(exit.code, pub.stderr()).toBe(0);
  expect(end, label).toEqual({ reason: 'eof' });
  expectSamePackets(packets, await reference(name), { label, interleaving: true });
}
