// Strict packet-by-packet comparison of received packets against a reference,
// with failure messages short enough to read: which stream, which packet
// index, which field, and only the first few differences.
import { packetHash, type PacketType } from './reference.js';

/** Anything packet-like: the addon's packets (with data), ffprobe/framehash references (with hash). */
export interface ComparablePacket {
  streamIndex: number;
  type: PacketType;
  /**
   * null, undefined and NaN all mean "no timestamp" (the addon reports
   * AV_NOPTS_VALUE as NaN); a duration of 0 means none too (FFmpeg's
   * "unknown", which ffprobe prints as absent).
   */
  pts: number | null | undefined;
  dts: number | null | undefined;
  duration: number | null | undefined;
  keyframe?: boolean;
  size: number;
  data?: Uint8Array;
  hash?: string;
}

export type PacketField = 'pts' | 'dts' | 'duration' | 'keyframe' | 'size' | 'hash';
const FIELDS: readonly PacketField[] = ['pts', 'dts', 'duration', 'keyframe', 'size', 'hash'];

export interface CompareOptions {
  /** Fields not to compare, e.g. ['keyframe'] against a framehash reference, which has no flags. */
  ignore?: readonly PacketField[];
  /** Differences listed per stream before "... and N more" (default 5). */
  maxDiffs?: number;
  /** Prefix for the failure message, e.g. 'gstreamer chunk-size 4096, small.flv'. */
  label?: string;
  /**
   * Also require the same cross-stream order (which stream comes next), not
   * just the same order within each stream. Right for anything that hands out
   * av_read_frame() order; wrong against ffmpeg's framehash, which re-interleaves.
   */
  interleaving?: boolean;
}

interface Norm {
  index: number; // position within its stream
  pts: number | null;
  dts: number | null;
  duration: number | null;
  keyframe: boolean | undefined;
  size: number;
  hash: string | undefined;
  dataSize: number | undefined;
}

function ts(v: number | null | undefined): number | null {
  return v === null || v === undefined || Number.isNaN(v) ? null : v;
}

function normalize(p: ComparablePacket, index: number): Norm {
  return {
    index,
    pts: ts(p.pts),
    dts: ts(p.dts),
    duration: p.duration === 0 ? null : ts(p.duration),
    keyframe: p.keyframe,
    size: p.size,
    hash: p.hash ?? (p.data ? packetHash(p.data) : undefined),
    dataSize: p.data?.length,
  };
}

function show(p: Norm): string {
  const h = p.hash ? ` ${p.hash.slice(0, 15)}…` : '';
  const k = p.keyframe === undefined ? '' : p.keyframe ? ' key' : '';
  return `#${p.index} pts=${p.pts} dts=${p.dts} dur=${p.duration}${k} size=${p.size}${h}`;
}

interface StreamId {
  index: number;
  type: PacketType;
}

function streamsOf(packets: readonly ComparablePacket[], side: string, problems: string[]): StreamId[] {
  const types = new Map<number, PacketType>();
  for (const p of packets) {
    const t = types.get(p.streamIndex);
    if (t === undefined) types.set(p.streamIndex, p.type);
    else if (t !== p.type && !problems.some((x) => x.includes(`${side} stream #${p.streamIndex} `))) {
      problems.push(`${side} stream #${p.streamIndex} has packets of type ${t} and ${p.type}`);
    }
  }
  return [...types].map(([index, type]) => ({ index, type })).sort((a, b) => a.index - b.index);
}

/** Pairs received streams with reference streams: by index when both sides agree on index->type, else by type. */
function mapStreams(rx: StreamId[], ref: StreamId[], problems: string[], notes: string[]): Array<[StreamId, StreamId]> {
  const sameIndexes = rx.length === ref.length && rx.every((s, i) => s.index === ref[i]!.index && s.type === ref[i]!.type);
  if (sameIndexes) return rx.map((s, i) => [s, ref[i]!]);
  const pairs: Array<[StreamId, StreamId]> = [];
  const types = [...new Set([...rx, ...ref].map((s) => s.type))];
  for (const type of types) {
    const a = rx.filter((s) => s.type === type);
    const b = ref.filter((s) => s.type === type);
    if (a.length !== b.length) {
      problems.push(`${type} streams: received has ${a.length} (${a.map((s) => `#${s.index}`).join(', ') || 'none'}), ` +
        `reference has ${b.length} (${b.map((s) => `#${s.index}`).join(', ') || 'none'})`);
    }
    for (let i = 0; i < Math.min(a.length, b.length); i++) pairs.push([a[i]!, b[i]!]);
  }
  notes.push(`stream indexes differ, streams mapped by type: ${pairs.map(([a, b]) => `received #${a.index} = reference #${b.index} (${a.type})`).join(', ')}`);
  return pairs;
}

function compareStream(rx: Norm[], ref: Norm[], name: string, opts: Required<Pick<CompareOptions, 'ignore' | 'maxDiffs'>>): string[] {
  const out: string[] = [];
  const fields = FIELDS.filter((f) => !opts.ignore.includes(f));
  const max = opts.maxDiffs;

  if (rx.length !== ref.length) out.push(`${name}: received ${rx.length} packets, reference has ${ref.length}`);

  // Lost / duplicated packets, found by data hash so an off-by-one does not
  // drown the report in field differences.
  if (fields.includes('hash') && rx.every((p) => p.hash) && ref.every((p) => p.hash)) {
    const left = new Map<string, number>();
    for (const p of ref) left.set(p.hash!, (left.get(p.hash!) ?? 0) + 1);
    const extra: Norm[] = [];
    for (const p of rx) {
      const n = left.get(p.hash!) ?? 0;
      if (n > 0) left.set(p.hash!, n - 1);
      else extra.push(p);
    }
    const lost = ref.filter((p) => {
      const n = left.get(p.hash!) ?? 0;
      if (n > 0) left.set(p.hash!, n - 1);
      return n > 0;
    });
    const refHashes = new Set(ref.map((p) => p.hash));
    if (lost.length) {
      out.push(`${name}: ${lost.length} reference packet(s) missing from received: ` +
        lost.slice(0, max).map(show).join('; ') + (lost.length > max ? `; … and ${lost.length - max} more` : ''));
    }
    const dup = extra.filter((p) => refHashes.has(p.hash));
    const alien = extra.filter((p) => !refHashes.has(p.hash));
    if (dup.length) {
      out.push(`${name}: ${dup.length} received packet(s) duplicated: ` +
        dup.slice(0, max).map(show).join('; ') + (dup.length > max ? `; … and ${dup.length - max} more` : ''));
    }
    // When nothing matches at all, the per-packet 'data differs' lines below say it better.
    if (alien.length && alien.length !== rx.length) {
      out.push(`${name}: ${alien.length} received packet(s) with data not in the reference: ` +
        alien.slice(0, max).map(show).join('; ') + (alien.length > max ? `; … and ${alien.length - max} more` : ''));
    }
  }

  for (const p of rx) {
    if (p.dataSize !== undefined && p.dataSize !== p.size) {
      out.push(`${name}: received ${show(p)} has size ${p.size} but ${p.dataSize} bytes of data`);
      break;
    }
  }

  // Field by field, position by position.
  const diffs: string[] = [];
  let differing = 0;
  for (let i = 0; i < Math.min(rx.length, ref.length); i++) {
    const a = rx[i]!;
    const b = ref[i]!;
    const what: string[] = [];
    for (const f of fields) {
      const va = a[f];
      const vb = b[f];
      if (f === 'keyframe' && (va === undefined || vb === undefined)) {
        what.push(`keyframe unknown on ${va === undefined ? 'received' : 'reference'} side (pass ignore: ['keyframe'])`);
      } else if (f === 'hash' && (va === undefined || vb === undefined)) {
        what.push(`no data or hash on ${va === undefined ? 'received' : 'reference'} side`);
      } else if (va !== vb) {
        what.push(f === 'hash' ? 'data differs' : `${f} ${va} != ${vb}`);
      }
    }
    if (what.length) {
      differing++;
      if (diffs.length < max) diffs.push(`  packet #${i}: ${what.join(', ')}  [received ${show(a)} | reference ${show(b)}]`);
    }
  }
  if (differing) {
    out.push(`${name}: ${differing} of ${Math.min(rx.length, ref.length)} packets differ (received != reference), first ${diffs.length}:\n${diffs.join('\n')}`);
  }
  return out;
}

/** Every difference between received and reference, as readable lines; [] when they are the same. */
export function diffPackets(received: readonly ComparablePacket[], reference: readonly ComparablePacket[], opts: CompareOptions = {}): string[] {
  const o = { ignore: opts.ignore ?? [], maxDiffs: opts.maxDiffs ?? 5 };
  const problems: string[] = [];
  const notes: string[] = [];
  const rxStreams = streamsOf(received, 'received', problems);
  const refStreams = streamsOf(reference, 'reference', problems);
  if (received.length === 0 && reference.length > 0) return [`received no packets, reference has ${reference.length}`];
  const pairs = mapStreams(rxStreams, refStreams, problems, notes);
  for (const [a, b] of pairs) {
    const name = a.index === b.index ? `stream #${a.index} (${a.type})` : `received stream #${a.index} / reference #${b.index} (${a.type})`;
    const rx = received.filter((p) => p.streamIndex === a.index).map(normalize);
    const ref = reference.filter((p) => p.streamIndex === b.index).map(normalize);
    problems.push(...compareStream(rx, ref, name, o));
  }
  if (opts.interleaving) {
    const toRef = new Map(pairs.map(([a, b]) => [a.index, b.index]));
    const rxOrder = received.map((p) => toRef.get(p.streamIndex) ?? -1);
    const n = Math.min(rxOrder.length, reference.length);
    let i = 0;
    while (i < n && rxOrder[i] === reference[i]!.streamIndex) i++;
    if (i < n) {
      const around = (xs: number[]): string => xs.slice(Math.max(0, i - 2), i + 3).map((x) => `#${x}`).join(' ');
      problems.push(`cross-stream order differs from packet ${i} of ${n} on: received streams ${around(rxOrder)}, ` +
        `reference ${around(reference.map((p) => p.streamIndex))} (positions ${Math.max(0, i - 2)}..${i + 2}, as reference stream indexes)`);
    }
  }
  return problems.length ? [...notes, ...problems] : [];
}

/** Throws an Error describing the first differences unless received matches reference exactly, stream by stream. */
export function expectSamePackets(received: readonly ComparablePacket[], reference: readonly ComparablePacket[], opts: CompareOptions = {}): void {
  const problems = diffPackets(received, reference, opts);
  if (problems.length) {
    const head = opts.label ? `${opts.label}: ` : '';
    throw new Error(`${head}received packets differ from the reference:\n${problems.join('\n')}`);
  }
}

/**
 * For a session cut short (closed, killed, corrupted, stalled): the received
 * packets are the reference's first packets, each equal to the reference
 * packet at the same position, cross-stream order included.
 */
export function expectReferencePrefix(received: readonly ComparablePacket[], reference: readonly ComparablePacket[], label: string): void {
  if (received.length > reference.length) {
    throw new Error(`${label}: received ${received.length} packets, more than the reference's ${reference.length}`);
  }
  expectSamePackets(received, reference.slice(0, received.length), { label, interleaving: true });
}
