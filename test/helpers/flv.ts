// Minimal FLV tag walker: enough to cut a fixture at a tag boundary (so a
// stalled publisher sends only whole tags) without pulling in a demuxer.
export interface FlvTag {
  offset: number; // of the 11-byte tag header
  end: number; // after the trailing PreviousTagSize
  type: number; // 8 audio, 9 video, 18 script data
  timestamp: number; // ms, including the extended byte
}

export function flvTags(buf: Buffer): FlvTag[] {
  if (buf.length < 13 || buf.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV file');
  const tags: FlvTag[] = [];
  let off = buf.readUInt32BE(5) + 4; // header, then PreviousTagSize0
  while (off + 11 <= buf.length) {
    const size = buf.readUIntBE(off + 1, 3);
    const end = off + 11 + size + 4;
    if (end > buf.length) break; // truncated last tag
    const timestamp = (buf.readUIntBE(off + 4, 3) | (buf[off + 7]! << 24)) >>> 0;
    tags.push({ offset: off, end, type: buf[off]! & 0x1f, timestamp });
    off = end;
  }
  return tags;
}

/** The FLV header plus every tag before the first audio/video tag with timestamp >= ms. */
export function flvPrefix(buf: Buffer, ms: number): Buffer {
  const tags = flvTags(buf);
  const cut = tags.find((t) => (t.type === 8 || t.type === 9) && t.timestamp >= ms);
  return buf.subarray(0, cut ? cut.offset : buf.length);
}
