// A received packet as the tests compare it: its fields, with the data as
// ffprobe's -show_data_hash sha256 prints it. Plain JavaScript because plain
// node runs it too: the child scripts (test/children/*.mjs) and the smoke
// script of the installed package (package.test.ts) import it, as do the
// TypeScript helpers (types in packet-record.d.mts).
import { createHash } from 'node:crypto';

/** Hash of packet bytes, exactly as ffprobe's -show_data_hash sha256 prints it: "SHA256:<64 lowercase hex>". */
export function packetHash(bytes) {
  return `SHA256:${createHash('sha256').update(bytes).digest('hex')}`;
}

// NaN (no timestamp) becomes null, which survives JSON.
const ts = (v) => (Number.isNaN(v) ? null : v);

/** A packet's comparable fields and the hash of its data, JSON-safe. */
export function packetRecord(p) {
  return {
    streamIndex: p.streamIndex,
    type: p.type,
    pts: ts(p.pts),
    dts: ts(p.dts),
    duration: ts(p.duration),
    keyframe: p.keyframe,
    size: p.size,
    hash: packetHash(p.data),
  };
}
