// Receiving with rtmp-ingest itself: collect one session's packets and end.
import { expect, onTestFinished } from 'vitest';
import { RtmpIngest, type IngestSession, type Packet, type RtmpIngestOptions, type SessionEndEvent } from '../../lib/index.js';
import { expectSamePackets } from './compare.js';
import { gstreamerReference, publishWithFfmpeg } from './publishers.js';
import { within } from './record.js';
import { probePackets, type RefPacket } from './reference.js';

export const fixturePath = (name: string): string => new URL(`../fixtures/${name}.flv`, import.meta.url).pathname;

export interface Received {
  session: IngestSession;
  packets: Packet[];
  end: SessionEndEvent;
}

/** Listens on 127.0.0.1 (free port) and resolves the URL a publisher should use. */
export async function startIngest(
  opts: Partial<RtmpIngestOptions> = {},
): Promise<{ ingest: RtmpIngest; url: string; port: number }> {
  const ingest = new RtmpIngest({ url: 'rtmp://127.0.0.1:0/live/key', ...opts });
  // Like spawnTracked's children: closed when the test ends (close() is
  // idempotent); outside a test the caller's hooks must close it.
  try {
    onTestFinished(() => ingest.close());
  } catch {
    /* not inside a test */
  }
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

const referenceCache = new Map<string, Promise<RefPacket[]>>();
/** A file's packets as ffprobe reads them (or as GStreamer's flvmux rewrites them), cached per test file. */
export function referenceOf(file: string, via: 'file' | 'gstreamer' = 'file'): Promise<RefPacket[]> {
  const key = `${via}:${file}`;
  if (!referenceCache.has(key)) referenceCache.set(key, via === 'file' ? probePackets(file) : gstreamerReference(file));
  return referenceCache.get(key)!;
}

/** Fixture `name`'s reference packets (referenceOf its file). */
export const reference = (name: string, via: 'file' | 'gstreamer' = 'file'): Promise<RefPacket[]> => referenceOf(fixturePath(name), via);

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
