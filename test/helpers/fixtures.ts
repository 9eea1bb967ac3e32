// The fixtures (test/fixtures/*.flv, made by scripts/make-fixtures.sh) and
// their reference packets (and any other file's), read once per test file.
import { fileURLToPath } from 'node:url';
import { gstreamerReference } from './publishers.js';
import { probePackets, type RefPacket } from './reference.js';

export const fixturePath = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}.flv`, import.meta.url));

const referenceCache = new Map<string, Promise<RefPacket[]>>();
/** A file's packets as ffprobe reads them (or as GStreamer's flvmux rewrites them), cached per test file. */
export function referenceOf(file: string, via: 'file' | 'gstreamer' = 'file'): Promise<RefPacket[]> {
  const key = `${via}:${file}`;
  let p = referenceCache.get(key);
  if (!p) {
    p = via === 'file' ? probePackets(file) : gstreamerReference(file);
    referenceCache.set(key, p);
  }
  return p;
}

/** Fixture `name`'s reference packets (referenceOf its file). */
export const reference = (name: string, via: 'file' | 'gstreamer' = 'file'): Promise<RefPacket[]> => referenceOf(fixturePath(name), via);
