// The ingest's connections and sessions, and the routing of publishers by
// app and stream key: what a publisher's connect and publish name, whether
// the listen URL takes it, and which connection holds each live app/key.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthorizeRequest } from './options';
import type { IngestSession } from './session';
import type { Recorder, Relay } from './sinks';

/** A publisher's app and key as it named them, split from their query strings. */
export interface PublishedName {
  app: string;
  streamKey: string;
  query: Record<string, string>;
}

function splitQuery(text: string, query: Record<string, string>): string {
  const q = text.indexOf('?');
  if (q < 0) return text;
  for (const [name, value] of new URLSearchParams(text.slice(q + 1))) query[name] = value;
  return text.slice(0, q);
}

/**
 * The app and key a publisher named. Publishers split a multi-segment path differently: OBS sends app
 * 'live/sub' and key 'key', FFmpeg's client app 'live' and stream 'sub/key'; both become app 'live/sub',
 * key 'key' (the last segment is the key). A query ('?token=...') may follow the app or the key; the key's
 * fields win.
 */
export function parsePublishedName(app: string, streamKey: string): PublishedName {
  const query: Record<string, string> = {};
  const bareApp = splitQuery(app, query);
  const bareKey = splitQuery(streamKey, query);
  const path = bareApp === '' ? bareKey : bareKey === '' ? bareApp : `${bareApp}/${bareKey}`;
  const slash = path.lastIndexOf('/');
  return slash < 0 ? { app: '', streamKey: path, query } : { app: path.slice(0, slash), streamKey: path.slice(slash + 1), query };
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** What the listen URL (and options.streamKey) let in: an app and a key, each fixed or any. */
export class RouteFilter {
  readonly #app: string | undefined;
  readonly #keyDigest: Buffer | undefined;

  constructor(app: string | undefined, streamKey: string | undefined) {
    this.#app = app;
    this.#keyDigest = streamKey === undefined ? undefined : sha256(streamKey);
  }

  /** Keys compare in constant time, over digests so that the length does not leak either. */
  accepts(name: PublishedName): boolean {
    const keyMatches = this.#keyDigest === undefined || timingSafeEqual(sha256(name.streamKey), this.#keyDigest);
    return keyMatches && (this.#app === undefined || name.app === this.#app);
  }
}

/** One accepted connection, from its 'connection' event to its end. */
export interface ConnectionEntry {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Set once the publisher is authorized. */
  request?: AuthorizeRequest;
  /** The app/key it holds (see SessionTable.holderOf). */
  route?: string;
  session?: IngestSession;
  /** The session's id, chosen when the publisher is admitted (recording paths use it before the session starts). */
  sessionId?: string;
  /** Sinks the ingest's options added when the publisher was admitted; the session takes them over. */
  sinks?: (Recorder | Relay)[];
  /** A newer publisher of its app/key took over (onDuplicateKey 'replace'): its session ends 'replaced'. */
  replaced?: boolean;
}

export function routeOf(name: { app: string; streamKey: string }): string {
  return `${name.app}/${name.streamKey}`;
}

export class SessionTable {
  readonly #connections = new Map<number, ConnectionEntry>();
  readonly #holders = new Map<string, ConnectionEntry>();
  readonly #sessions = new Map<string, IngestSession>();

  /** The live sessions by id. */
  get sessions(): ReadonlyMap<string, IngestSession> {
    return this.#sessions;
  }

  open(id: number, remoteAddress: string, remotePort: number): ConnectionEntry {
    const entry: ConnectionEntry = { id, remoteAddress, remotePort };
    this.#connections.set(id, entry);
    return entry;
  }

  get(id: number): ConnectionEntry | undefined {
    return this.#connections.get(id);
  }

  /** The connection that publishes (or is about to publish) `route`. */
  holderOf(route: string): ConnectionEntry | undefined {
    return this.#holders.get(route);
  }

  /** `entry` holds `route` from now on, in place of any holder before it. */
  hold(entry: ConnectionEntry, route: string): void {
    entry.route = route;
    this.#holders.set(route, entry);
  }

  startSession(entry: ConnectionEntry, session: IngestSession): void {
    entry.session = session;
    this.#sessions.set(session.id, session);
  }

  /** The connection's session is over: it frees its route and leaves the live sessions. */
  endSession(id: number): ConnectionEntry | undefined {
    const entry = this.#connections.get(id);
    if (entry === undefined) return undefined;
    if (entry.route !== undefined && this.#holders.get(entry.route) === entry) this.#holders.delete(entry.route);
    if (entry.session !== undefined) this.#sessions.delete(entry.session.id);
    return entry;
  }

  /** The connection is closed. */
  remove(id: number): void {
    this.endSession(id);
    this.#connections.delete(id);
  }

  /** Every open connection, oldest first. */
  entries(): IterableIterator<ConnectionEntry> {
    return this.#connections.values();
  }

  clear(): void {
    this.#connections.clear();
    this.#holders.clear();
    this.#sessions.clear();
  }
}
