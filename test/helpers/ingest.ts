// Receiving with rtmp-ingest itself: collect one session's packets and end.
import { RtmpIngest, type IngestSession, type Packet, type RtmpIngestOptions, type SessionEndEvent } from '../../lib/index.js';

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
