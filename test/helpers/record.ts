// Records every event an ingest and its sessions emit, in order, so tests can
// check event order and that nothing follows 'close'.
import type { IngestSession, Packet, RtmpIngest, SessionEndEvent } from '../../lib/index.js';

export interface Recorded {
  /** 'ingest' or the session's id. */
  source: string;
  name: string;
  /** Date.now() when it was emitted. */
  at: number;
  value?: unknown;
}

export interface EventRecord {
  events: Recorded[];
  sessions: IngestSession[];
  /** Per session id: its packets (a 'packet' listener is attached to every session). */
  packets: Map<string, Packet[]>;
  ends: Map<string, SessionEndEvent>;
  /** Event names in order ('session:<name>' for session events), without 'log' (FFmpeg may log at any point). */
  names(): string[];
  /** Events recorded after the first 'close' of the ingest. */
  afterClose(): Recorded[];
  count(name: string, source?: string): number;
}

const INGEST_EVENTS = ['listening', 'connection', 'session', 'rejected', 'log', 'error', 'close'] as const;
const SESSION_EVENTS = ['packet', 'stream', 'metadata', 'end'] as const;

/** Attaches a listener for every ingest event and every session event (including 'packet' and 'error'). */
export function recordEvents(ingest: RtmpIngest): EventRecord {
  const events: Recorded[] = [];
  const sessions: IngestSession[] = [];
  const packets = new Map<string, Packet[]>();
  const ends = new Map<string, SessionEndEvent>();
  const on = ingest.on.bind(ingest) as (name: string, fn: (...a: unknown[]) => void) => unknown;
  for (const name of INGEST_EVENTS) {
    on(name, (value: unknown) => {
      events.push({ source: 'ingest', name, at: Date.now(), value });
      if (name === 'session') {
        const s = value as IngestSession;
        sessions.push(s);
        const list: Packet[] = [];
        packets.set(s.id, list);
        const son = s.on.bind(s) as (name: string, fn: (...a: unknown[]) => void) => unknown;
        for (const sname of SESSION_EVENTS) {
          son(sname, (v: unknown) => {
            // Packets are too many to keep as events one by one, but their order relative to others matters.
            events.push({ source: s.id, name: sname, at: Date.now(), ...(sname === 'packet' ? {} : { value: v }) });
            if (sname === 'packet') list.push(v as Packet);
            if (sname === 'end') ends.set(s.id, v as SessionEndEvent);
          });
        }
      }
    });
  }
  return {
    events,
    sessions,
    packets,
    ends,
    names: () => events.filter((e) => e.name !== 'log').map((e) => (e.source === 'ingest' ? e.name : `session:${e.name}`)),
    afterClose() {
      const i = events.findIndex((e) => e.source === 'ingest' && e.name === 'close');
      return i < 0 ? [] : events.slice(i + 1);
    },
    count: (name, source) => events.filter((e) => e.name === name && (source === undefined || e.source === source)).length,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves after the event loop has run one full iteration, its poll phase
 * included: every callback queued before the call (nextTick, promise jobs,
 * an I/O or thread-safe-function wake-up already signalled, setImmediate)
 * has run by then. Not a wait for something that has yet to happen.
 */
export async function loopIteration(): Promise<void> {
  // The first setImmediate may run in this iteration's check phase, before a poll; the second runs after one.
  for (let i = 0; i < 2; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Resolves with fn's value once it is truthy; rejects after timeoutMs with `what`. */
export async function waitUntil<T>(fn: () => T | undefined | null | false, what: string, timeoutMs = 15_000, intervalMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Rejects with `what` if p has not settled within ms. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
    }),
  ]);
}
