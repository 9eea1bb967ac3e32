/**
 * What a recording must hold: the rule that maps the packets a session
 * received (FLV time base 1/1000, pts/dts as the FLV demuxer gave them) to
 * what `ffprobe -show_packets` (the ffmpeg 9.0.2 CLI, unpatched) reports for
 * the file the recorder wrote, per container. The recorder as specified:
 * output streams in the input's order, each with the input's
 * AVCodecParameters and time_base 1/1000 before
 * avformat_write_header; every packet, in the order received, rescaled with
 * av_packet_rescale_ts(1/1000 -> the stream's time base after the header)
 * and written with av_write_frame; avoid_negative_ts left at its default.
 * Measured with a C program doing exactly that against the lib build and
 * with the ffmpeg 9 CLI (see test/recorded-rules.test.ts), and read from
 * libavformat 9.0.2 (mux.c, movenc.c, matroskaenc.c, mpegtsenc.c, flvenc.c).
 *
 * Notation. R_tb(x) = av_rescale_rnd(x, tb.den, 1000 * tb.num, NEAR_INF)
 * (round half away from zero): a received timestamp in the output time base.
 * "Compared" fields must be equal, packet by packet, per stream, in order
 * (cross-stream order is never compared: muxers reorder). A received
 * duration of 0 means none. Output stream i is the i-th received stream by
 * index. Shift = libavformat's avoid_negative_ts, decided once, at the first
 * packet written (av_write_frame: no queue to peek into): with ts0 that
 * packet's timestamp in its output time base, every stream s is shifted by
 * av_rescale_q_rnd(-ts0, tb_first, tb_s, AV_ROUND_UP).
 *
 * mp4 (fragmented: frag_keyframe+empty_moov+default_base_moof,
 * frag_duration 1 s). Time base: video 1/16000 (movenc doubles 1000 until it
 * reaches 10000), audio 1/sample_rate. No edit list is written (fragmented
 * without delay_moov), so movenc switches avoid_negative_ts to make_zero:
 * shift by the first packet's dts, whatever its sign. Then dts = R(dts) +
 * shift, pts = R(pts) + shift, except: (1) each track's first sample gets
 * dts 0 (movenc pulls it to 0 and lengthens it; pts = R(pts) - R(dts)), so a
 * stream that starts later than the first packet loses its start offset;
 * (2) movenc starts a new fragment (for all tracks at once) before a video
 * key frame or before a packet 1 s (av_rescale_q to microseconds, >=) after
 * the first sample of its track's current fragment, and places the first
 * sample of every later fragment of a track where the previous sample's
 * duration ends: dts = dts[prev] + dur[prev], pts = dts + R(pts) - R(dts);
 * if the real dts is below that, it logs "Packet duration ... out of range"
 * and drops the composition offset (pts = dts). dur[prev] is exact (next dts
 * minus dts) for the track whose packet started the fragment and, when
 * writing with av_interleaved_write_frame, for every track with a packet in
 * the interleaving queue (movenc peeks at it); otherwise (av_write_frame, or
 * the end of the file) it is R(received duration), or, when that is 0, the
 * duration of the sample before (movenc's "Estimating the duration of the
 * last packet"), or 0 for a fragment of one sample. With av_write_frame and
 * the durations the FLV demuxer gives (whole ms, none for Opus and early
 * AV1/VP9 packets) fragment starts move by a tick or more, and lose their pts
 * offset when the guess overshoots: compareRecording reports that (see
 * allowFragmentShift); the cure is a duration equal to the dts step in the
 * output time base. Durations: within a fragment the dts steps; the last
 * sample of a fragment as above. Fragment sizes predicted this way must
 * equal the file's (moof/traf/trun sample counts). VP9: ffprobe runs its
 * parser on the track and drops the stored durations: not compared. Key
 * flags compared (audio: all key). Payloads byte for byte (AVCC, hvcC-style
 * NAL units, AV1 OBUs, VP9 frames, raw AAC, Opus, MP3 as received).
 *
 * mkv (Matroska, defaults). Time base 1/1000. Shift: make_non_negative on
 * the first packet's pts (nothing for pts >= 0). pts compared (identity plus
 * shift). Matroska stores no dts: ffprobe's dts are libavformat's guesses
 * (none on the first B-frame packet), not compared. Durations: the recorder
 * sets no frame rate, so no DefaultDuration and no BlockDuration is written;
 * ffprobe's are its own estimates: not compared. Key flags, payloads byte
 * for byte: compared.
 *
 * mpegts (defaults). Time base 1/90000 for every stream: pts = 90 * pts +
 * shift, dts = 90 * dts + shift, exactly; shift: make_non_negative on the
 * first packet's dts, and no muxing delay (max_delay unset = 0; the CLI's
 * default -muxdelay 0.7 would add 126000 to every timestamp). Durations are
 * not stored (ffprobe's come from its parsers): not compared. Key flags:
 * compared (the demuxer's parsers set them: IDR / IRAP, every audio frame).
 * Payloads: H.264 and HEVC become Annex B (h264_mp4toannexb /
 * hevc_mp4toannexb), the muxer puts an access unit delimiter first when the
 * packet has none, and the bitstream filter inserts the extradata's
 * parameter sets before a key frame's first slice. Rule: split the recorded
 * packet at its start codes, drop AUD and parameter-set NAL units (H.264
 * 7, 8, 9; HEVC 32-35), prefix each remaining NAL unit with its length
 * (the extradata's length size, 4 by default): that must equal the received
 * packet with its own AUD and parameter-set NAL units dropped (when the
 * received packet has data; without data its hash is taken to be that of a
 * packet without any, true of every FLV publisher seen). Every recorded
 * video packet must start with an AUD, and every parameter set in it must be
 * one of the extradata's or the received packet's. AAC is written as ADTS:
 * the recorded packet is a 7-byte ADTS header (no CRC) whose profile,
 * sampling index and channel configuration are the AudioSpecificConfig's
 * and whose frame length is the packet size, followed by exactly the
 * received bytes. MP3 and Opus: byte for byte (the demuxer strips the Opus
 * control header). AV1 and VP9 are not carried (muxed as private data that
 * no demuxer reads back): such recordings are refused here.
 *
 * flv (defaults). Time base 1/1000; dts and pts identical to the received
 * ones (shift: make_non_negative on the first packet's dts, so nothing for
 * dts >= 0; flvenc refuses, with EINVAL, any later packet whose dts is below
 * the first packet's). No durations in FLV: not compared. Key flags and
 * payloads (the FLV demuxer's packets again) compared.
 *
 * What the recorder must handle (found on the way, with the C program):
 * without avformat_find_stream_info the FLV demuxer's parameters have
 * width/height 0, and mp4, mkv and flv refuse the header ("dimensions not
 * set") until they come from the addon's stream probe (the codec_tag it
 * leaves is accepted by all four muxers); for VP9 the pixel format is unset
 * too, so mp4 and flv write an empty vpcC ("Unsupported pixel format (-1)")
 * and an FLV so written reads back with the Opus stream first. AV1 and VP9
 * cannot go to mpegts. mp4 moves fragment starts (above; and loses their pts
 * offset where movenc's guess overshoots, as with the AV1 fixture) unless
 * the durations written are the dts steps in the output time base, or the
 * packets go through av_interleaved_write_frame: both checked exact on
 * every fixture. flvenc refuses a packet whose dts is below the first
 * packet's. libavformat fills in a missing audio duration from the codec's
 * frame size where it knows it (not for Opus) before the muxer sees it.
 * Segments: cutting at any video key frame of a multitrack publish (two
 * H.264 tracks, B-frames in one) leaves the other track's segment starting
 * on a non-key packet that arrived after the cut; compareSegments reports it.
 */
import { readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { diffPackets, type PacketField } from './compare.js';
import { packetHash, toPacketType, type FfprobePacketJson, type FfprobeStreamJson, type PacketType, type RefPacket } from './reference.js';
import { FFPROBE9 } from './ffmpeg9.js';

const execFileAsync = promisify(execFile);

export type RecordFormat = 'mp4' | 'mkv' | 'mpegts' | 'flv';

/**
 * A packet as received, in time base 1/1000: the addon's Packet (data, NaN
 * for no timestamp) or a reference packet (hash, null). `data` is needed for
 * the mpegts rule when a received H.264/HEVC packet carries its own AUD or
 * parameter sets; otherwise the hash is enough.
 */
export interface ReceivedPacket {
  streamIndex: number;
  type: PacketType;
  pts: number | null | undefined;
  dts: number | null | undefined;
  duration: number | null | undefined;
  keyframe: boolean;
  size: number;
  data?: Uint8Array;
  hash?: string;
}

/** A received stream (the addon's StreamInfo fits): codec, sample rate, extradata. */
export interface ReceivedStream {
  index: number;
  type: PacketType;
  codec: string;
  sampleRate?: number;
  extradata?: Uint8Array | null;
}

export interface CompareRecordingOptions {
  /** The ffprobe to read the file with (default: the ffmpeg 9 CLI's). */
  ffprobe?: string;
  /** Differences listed per stream (default 5). */
  maxDiffs?: number;
  /**
   * The order the packets reached the muxer: 'received' (default: the
   * recorder, av_write_frame) or 'dts' (av_interleaved_write_frame, as the
   * ffmpeg CLI muxes). Matters for mp4, whose fragments depend on it.
   */
  writeOrder?: WriteOrder;
  /**
   * mp4: whether the muxer has an interleaving queue movenc can peek at for
   * each track's next packet when it cuts a fragment (default: writeOrder
   * === 'dts'; false for the segment muxer's inner muxers, fed by
   * av_write_frame in dts order).
   */
  muxerQueue?: boolean;
  /**
   * mp4: accept movenc's placement of a fragment's first sample where the
   * previous sample's duration ends, when that is not its own timestamp
   * (default false: reported as a mismatch, since the file's timestamps then
   * differ from the received ones). The placement itself is always checked.
   */
  allowFragmentShift?: boolean;
}

/** A packet of the recorded file as ffprobe reports it (output time base), payload kept for the mpegts rule. */
type ProbedPacket = RefPacket & { data?: Uint8Array };

interface ProbedStream {
  index: number;
  type: PacketType;
  codec: string;
  timeBase: [number, number];
  sampleRate?: number;
}

interface ProbedFile {
  streams: ProbedStream[];
  packets: ProbedPacket[];
  /** mp4 only: per output stream, the sample count of each fragment in file order. */
  fragments?: Map<number, number[]>;
}

// ---------------------------------------------------------------- arithmetic

type Rounding = 'near_inf' | 'up' | 'down';

/** av_rescale_rnd(a, b, c, rnd), exactly (BigInt), for c > 0 and b >= 0. */
export function rescaleRnd(a: number, b: number, c: number, rnd: Rounding): number {
  const A = BigInt(a);
  const B = BigInt(b);
  const C = BigInt(c);
  const neg = A < 0n;
  const p = (neg ? -A : A) * B;
  // For negative a libavformat rounds |a| the other way for up/down, the same way for near_inf.
  const r: Rounding = neg ? (rnd === 'up' ? 'down' : rnd === 'down' ? 'up' : rnd) : rnd;
  let q: bigint;
  if (r === 'near_inf') q = (p + C / 2n) / C;
  else if (r === 'up') q = (p + C - 1n) / C;
  else q = p / C;
  return Number(neg ? -q : q);
}

/** av_rescale_q_rnd(x, from, to, rnd) for time bases [num, den]. */
export function rescaleQ(x: number, from: [number, number], to: [number, number], rnd: Rounding = 'near_inf'): number {
  return rescaleRnd(x, from[0] * to[1], from[1] * to[0], rnd);
}

const MS: [number, number] = [1, 1000];

function tsOf(v: number | null | undefined): number | null {
  return v === null || v === undefined || Number.isNaN(v) ? null : v;
}

/** The output time base the muxer gives a stream, from the received stream. */
export function expectedTimeBase(format: RecordFormat, stream: ReceivedStream): [number, number] | null {
  switch (format) {
    case 'mkv':
    case 'flv':
      return [1, 1000];
    case 'mpegts':
      return [1, 90000];
    case 'mp4': {
      if (stream.type === 'video') {
        let t = 1000;
        while (t < 10000) t *= 2;
        return [1, t];
      }
      return stream.sampleRate ? [1, stream.sampleRate] : null; // null: taken from the file
    }
  }
}

// --------------------------------------------------------------------- probe

/** reference.ts's ffprobe JSON, with the stream's sample rate and the packets' hex dumps (-show_data). */
interface FfprobeJson {
  streams?: Array<FfprobeStreamJson & { sample_rate?: string }>;
  packets?: Array<FfprobePacketJson & { data?: string }>;
}

/** ffprobe's -show_data hex dump ("00000000: 0000 0001 09f0 ...  ascii") back to bytes. */
export function parseHexDump(dump: string): Uint8Array {
  const out: number[] = [];
  for (const line of dump.split('\n')) {
    const colon = line.indexOf(': ');
    if (colon < 0) continue;
    for (const group of line.slice(colon + 2).split(' ')) {
      if (group === '') break; // the padding before the ASCII column
      for (let i = 0; i < group.length; i += 2) out.push(parseInt(group.slice(i, i + 2), 16));
    }
  }
  return Uint8Array.from(out);
}

async function probeRecording(file: string, format: RecordFormat, ffprobe: string): Promise<ProbedFile> {
  const args = ['-v', 'error', '-probesize', '100M', '-analyzeduration', '30M', '-show_streams', '-show_packets', '-show_data_hash', 'sha256'];
  if (format === 'mpegts') args.push('-show_data');
  args.push('-of', 'json', '-i', file);
  const { stdout } = await execFileAsync(ffprobe, args, { maxBuffer: 1024 * 1024 * 1024 });
  const j = JSON.parse(stdout) as FfprobeJson;
  const streams: ProbedStream[] = (j.streams ?? []).map((s) => {
    const [num, den] = (s.time_base ?? '0/0').split('/').map(Number) as [number, number];
    return {
      index: s.index,
      type: toPacketType(s.codec_type),
      codec: s.codec_name ?? 'unknown',
      timeBase: [num, den],
      ...(s.sample_rate ? { sampleRate: Number(s.sample_rate) } : {}),
    };
  });
  const packets: ProbedPacket[] = (j.packets ?? []).map((p) => ({
    streamIndex: p.stream_index,
    type: toPacketType(p.codec_type),
    pts: p.pts ?? null,
    // A PES header with a PTS and no DTS means DTS = PTS (ISO/IEC 13818-1, 2.4.3.7): mpegtsenc writes it so when
    // they are equal, and libavformat's demuxer leaves the DTS unset on the first such packet of a stream with
    // B-frames (a publisher whose first frame has PTS = DTS = 0: GStreamer's flvmux).
    dts: p.dts ?? (format === 'mpegts' ? p.pts ?? null : null),
    duration: p.duration ?? null,
    keyframe: (p.flags ?? '').includes('K'),
    size: Number(p.size),
    hash: p.data_hash ?? '',
    ...(p.data !== undefined ? { data: parseHexDump(p.data) } : {}),
  }));
  const probed: ProbedFile = { streams, packets };
  if (format === 'mp4') probed.fragments = mp4Fragments(await readFile(file));
  return probed;
}

// ---------------------------------------------------------------- mp4 boxes

interface Box {
  type: string;
  start: number; // payload start
  end: number;
}

function* boxes(b: Uint8Array, start: number, end: number): Generator<Box> {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = start;
  while (o + 8 <= end) {
    let size = v.getUint32(o);
    const type = String.fromCharCode(b[o + 4]!, b[o + 5]!, b[o + 6]!, b[o + 7]!);
    let header = 8;
    if (size === 1) {
      size = Number(v.getBigUint64(o + 8));
      header = 16;
    } else if (size === 0) size = end - o;
    if (size < header || o + size > end) return;
    yield { type, start: o + header, end: o + size };
    o += size;
  }
}

/**
 * Per output stream (ffprobe's index = trak order), the sample count of each
 * of its fragments, in file order: moof/traf/tfhd's track_ID, trun's sample_count.
 */
export function mp4Fragments(file: Uint8Array): Map<number, number[]> {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const trackIndex = new Map<number, number>();
  const out = new Map<number, number[]>();
  for (const top of boxes(file, 0, file.length)) {
    if (top.type === 'moov') {
      for (const trak of boxes(file, top.start, top.end)) {
        if (trak.type !== 'trak') continue;
        for (const b of boxes(file, trak.start, trak.end)) {
          if (b.type !== 'tkhd') continue;
          const id = v.getUint32(b.start + (file[b.start] === 1 ? 20 : 12));
          trackIndex.set(id, trackIndex.size);
        }
      }
    } else if (top.type === 'moof') {
      for (const traf of boxes(file, top.start, top.end)) {
        if (traf.type !== 'traf') continue;
        let index = -1;
        let count = 0;
        for (const b of boxes(file, traf.start, traf.end)) {
          if (b.type === 'tfhd') index = trackIndex.get(v.getUint32(b.start + 4)) ?? -1;
          if (b.type === 'trun') count += v.getUint32(b.start + 4);
        }
        if (index >= 0 && count > 0) {
          const list = out.get(index) ?? [];
          list.push(count);
          out.set(index, list);
        }
      }
    }
  }
  return out;
}

// -------------------------------------------------------- mpegts payloads

const H264_DROPPED = new Set([7, 8, 9]); // SPS, PPS, AUD
const HEVC_DROPPED = new Set([32, 33, 34, 35]); // VPS, SPS, PPS, AUD

function nalType(codec: string, nal: Uint8Array): number {
  return codec === 'hevc' ? (nal[0]! >> 1) & 0x3f : nal[0]! & 0x1f;
}

/** NAL units of an Annex B buffer; trailing zero bytes (part of the next start code) are not part of a NAL unit. */
export function splitAnnexB(b: Uint8Array): Uint8Array[] {
  const starts: Array<[number, number]> = []; // [start code offset, payload offset]
  for (let i = 0; i + 2 < b.length; i++) {
    if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1) {
      starts.push([i, i + 3]);
      i += 2;
    }
  }
  const nals: Uint8Array[] = [];
  for (let k = 0; k < starts.length; k++) {
    let end = k + 1 < starts.length ? starts[k + 1]![0] : b.length;
    while (end > starts[k]![1] && b[end - 1] === 0) end--;
    nals.push(b.subarray(starts[k]![1], end));
  }
  return nals;
}

/** NAL units of a length-prefixed (AVCC / hvcC style) buffer, or null when the lengths do not add up. */
export function splitLengthPrefixed(b: Uint8Array, lengthSize: number): Uint8Array[] | null {
  const nals: Uint8Array[] = [];
  let o = 0;
  while (o < b.length) {
    if (o + lengthSize > b.length) return null;
    let n = 0;
    for (let i = 0; i < lengthSize; i++) n = n * 256 + b[o + i]!;
    o += lengthSize;
    if (o + n > b.length) return null;
    nals.push(b.subarray(o, o + n));
    o += n;
  }
  return nals;
}

function joinLengthPrefixed(nals: readonly Uint8Array[], lengthSize: number): Uint8Array {
  const out = new Uint8Array(nals.reduce((n, x) => n + lengthSize + x.length, 0));
  let o = 0;
  for (const nal of nals) {
    for (let i = lengthSize - 1; i >= 0; i--) out[o + (lengthSize - 1 - i)] = Math.floor(nal.length / 256 ** i) % 256;
    o += lengthSize;
    out.set(nal, o);
    o += nal.length;
  }
  return out;
}

/** Length size and parameter-set NAL units of an avcC / hvcC record (empty when there is none). */
export function parseConfigRecord(codec: string, x: Uint8Array | null | undefined): { lengthSize: number; parameterSets: Uint8Array[] } {
  const sets: Uint8Array[] = [];
  if (!x || x.length < 7 || x[0] !== 1) return { lengthSize: 4, parameterSets: sets };
  let o: number;
  let lengthSize: number;
  const take = (): Uint8Array => {
    const n = (x[o]! << 8) | x[o + 1]!;
    const nal = x.subarray(o + 2, o + 2 + n);
    o += 2 + n;
    return nal;
  };
  if (codec === 'h264') {
    lengthSize = (x[4]! & 3) + 1;
    o = 6;
    const sps = x[5]! & 0x1f;
    for (let i = 0; i < sps && o + 2 <= x.length; i++) sets.push(take());
    const pps = x[o++]!;
    for (let i = 0; i < pps && o + 2 <= x.length; i++) sets.push(take());
  } else {
    if (x.length < 23) return { lengthSize: 4, parameterSets: sets };
    lengthSize = (x[21]! & 3) + 1;
    const arrays = x[22]!;
    o = 23;
    for (let a = 0; a < arrays && o + 3 <= x.length; a++) {
      const count = (x[o + 1]! << 8) | x[o + 2]!;
      o += 3;
      for (let i = 0; i < count && o + 2 <= x.length; i++) sets.push(take());
    }
  }
  return { lengthSize, parameterSets: sets };
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

const AAC_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/** The 7-byte ADTS header (no CRC) mpegtsenc writes for a raw AAC frame of `rawSize` bytes. */
export function adtsHeader(asc: Uint8Array, rawSize: number): Uint8Array {
  let objectType = asc[0]! >> 3;
  let bit = 5;
  if (objectType === 31) {
    objectType = 32 + (((asc[0]! & 7) << 3) | (asc[1]! >> 5));
    bit = 11;
  }
  const read = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++, bit++) v = (v << 1) | ((asc[bit >> 3]! >> (7 - (bit & 7))) & 1);
    return v;
  };
  let srIndex = read(4);
  if (srIndex === 15) {
    const rate = read(24);
    srIndex = AAC_RATES.indexOf(rate);
  }
  const channels = read(4);
  const len = rawSize + 7;
  const h = new Uint8Array(7);
  h[0] = 0xff;
  h[1] = 0xf1; // MPEG-4, layer 0, no CRC
  h[2] = (((objectType - 1) & 3) << 6) | ((srIndex & 15) << 2) | ((channels >> 2) & 1);
  h[3] = ((channels & 3) << 6) | ((len >> 11) & 3);
  h[4] = (len >> 3) & 0xff;
  h[5] = ((len & 7) << 5) | 0x1f; // buffer fullness 0x7ff (VBR)
  h[6] = 0xfc; // 1 raw data block
  return h;
}

/**
 * mpegts: the recorded packet brought back to what was received (see the
 * rule): its payload hash and size after undoing Annex B / ADTS, or an
 * error message.
 */
function undoMpegtsPayload(rec: ProbedPacket, rx: ReceivedPacket | undefined, stream: ReceivedStream): { hash: string; size: number } | string {
  const data = rec.data;
  if (!data) return 'no payload bytes from ffprobe (-show_data)';
  if (stream.codec === 'h264' || stream.codec === 'hevc') {
    const dropped = stream.codec === 'hevc' ? HEVC_DROPPED : H264_DROPPED;
    const aud = stream.codec === 'hevc' ? 35 : 9;
    const { lengthSize, parameterSets } = parseConfigRecord(stream.codec, stream.extradata);
    const nals = splitAnnexB(data);
    if (nals.length === 0 || nalType(stream.codec, nals[0]!) !== aud) return 'does not start with an access unit delimiter';
    let rxNals: Uint8Array[] | null = null;
    if (rx?.data) rxNals = splitLengthPrefixed(rx.data, lengthSize);
    for (const nal of nals) {
      const t = nalType(stream.codec, nal);
      if (t === aud || !dropped.has(t)) continue;
      if (!parameterSets.some((p) => sameBytes(p, nal)) && !(rxNals ?? []).some((p) => sameBytes(p, nal))) {
        return `has a parameter set (NAL type ${t}, ${nal.length} bytes) that is neither the extradata's nor the received packet's`;
      }
    }
    const kept = joinLengthPrefixed(nals.filter((n) => !dropped.has(nalType(stream.codec, n))), lengthSize);
    return { hash: packetHash(kept), size: kept.length };
  }
  if (stream.codec === 'aac') {
    if (data.length < 7) return 'shorter than an ADTS header';
    if (!stream.extradata || stream.extradata.length < 2) return 'no AudioSpecificConfig to check the ADTS header against';
    const want = adtsHeader(stream.extradata, data.length - 7);
    if (!sameBytes(want, data.subarray(0, 7))) {
      return `ADTS header ${Buffer.from(data.subarray(0, 7)).toString('hex')} != expected ${Buffer.from(want).toString('hex')}`;
    }
    const raw = data.subarray(7);
    return { hash: packetHash(raw), size: raw.length };
  }
  return { hash: rec.hash, size: rec.size };
}

/** The received packet as the recorded one is compared with it (mpegts: its AUD / parameter sets dropped). */
function receivedPayload(rx: ReceivedPacket, stream: ReceivedStream, format: RecordFormat): { hash: string; size: number } {
  if (format === 'mpegts' && rx.data && (stream.codec === 'h264' || stream.codec === 'hevc')) {
    const { lengthSize } = parseConfigRecord(stream.codec, stream.extradata);
    const nals = splitLengthPrefixed(rx.data, lengthSize);
    const dropped = stream.codec === 'hevc' ? HEVC_DROPPED : H264_DROPPED;
    if (nals) {
      const kept = joinLengthPrefixed(nals.filter((n) => n.length && !dropped.has(nalType(stream.codec, n))), lengthSize);
      return { hash: packetHash(kept), size: kept.length };
    }
  }
  return { hash: rx.hash ?? packetHash(rx.data!), size: rx.size };
}

// -------------------------------------------------------------------- rule

/** Which fields each container keeps (the others are not compared, see the rule). */
export const NOT_COMPARED: Record<RecordFormat, readonly PacketField[]> = {
  mp4: [],
  mkv: ['dts', 'duration'],
  mpegts: ['duration'],
  flv: ['duration'],
};

/** A packet as the file must hold it (output time base). */
type Expected = RefPacket;

/**
 * The order the muxer gets the packets in (indexes into `packets`): as
 * received (av_write_frame), or interleaved by dts in the output time bases,
 * ties to the lower output stream (av_interleaved_write_frame's
 * interleave_compare_dts, as the ffmpeg CLI writes).
 */
function writeOrderOf(
  packets: readonly ReceivedPacket[],
  outIndex: Map<number, number>,
  timeBases: Map<number, [number, number]>,
  writeOrder: WriteOrder,
): number[] {
  const order = packets.map((_, i) => i);
  if (writeOrder === 'received') return order;
  const key = (p: ReceivedPacket): [bigint, bigint] => {
    const tb = timeBases.get(outIndex.get(p.streamIndex)!)!;
    const d = tsOf(p.dts);
    return [BigInt(d === null ? 0 : rescaleQ(d, MS, tb)) * BigInt(tb[0]), BigInt(tb[1])];
  };
  return order.sort((a, b) => {
    const [an, ad] = key(packets[a]!);
    const [bn, bd] = key(packets[b]!);
    const c = an * bd - bn * ad;
    if (c !== 0n) return c < 0n ? -1 : 1;
    const sa = outIndex.get(packets[a]!.streamIndex)!;
    const sb = outIndex.get(packets[b]!.streamIndex)!;
    return sa !== sb ? sa - sb : a - b;
  });
}

/**
 * The packets the rule predicts for one file, per output stream, in the
 * output time base. `packets` are the received packets written to the file,
 * in the order received.
 */
function expectedPackets(
  format: RecordFormat,
  packets: readonly ReceivedPacket[],
  outIndex: Map<number, number>,
  streams: Map<number, ReceivedStream>,
  timeBases: Map<number, [number, number]>,
  writeOrder: WriteOrder,
  muxerQueue: boolean,
): { packets: Expected[]; fragments?: Map<number, number[]>; moved?: string[] } {
  const tbOf = (p: ReceivedPacket): [number, number] => timeBases.get(outIndex.get(p.streamIndex)!)!;
  const r = (v: number | null | undefined, tb: [number, number]): number | null => {
    const t = tsOf(v);
    return t === null ? null : rescaleQ(t, MS, tb);
  };

  const order = writeOrderOf(packets, outIndex, timeBases, writeOrder).map((i) => ({ p: packets[i]!, i }));

  // avoid_negative_ts, decided on the first packet written that has the timestamp in question.
  const usePts = format === 'mkv';
  const makeZero = format === 'mp4';
  const offsets = new Map<number, number>();
  const first = order.find((x) => tsOf(usePts ? x.p.pts : x.p.dts) !== null)?.p;
  if (first) {
    const tb0 = tbOf(first);
    const ts0 = r(usePts ? first.pts : first.dts, tb0)!;
    if (ts0 < 0 || (ts0 > 0 && makeZero)) {
      for (const [, out] of outIndex) offsets.set(out, rescaleQ(-ts0, tb0, timeBases.get(out)!, 'up'));
    }
  }

  const exp: Expected[] = [];
  const timing: Mp4Sample[] = [];
  for (const p of packets) {
    const o = outIndex.get(p.streamIndex)!;
    const tb = timeBases.get(o)!;
    const off = offsets.get(o) ?? 0;
    const payload = receivedPayload(p, streams.get(p.streamIndex)!, format);
    const pts = r(p.pts, tb);
    const dts = r(p.dts, tb);
    const d = tsOf(p.duration);
    exp.push({
      streamIndex: o,
      type: p.type,
      pts: pts === null ? null : pts + off,
      dts: dts === null ? null : dts + off,
      duration: null,
      keyframe: p.keyframe,
      size: payload.size,
      hash: payload.hash,
    });
    timing.push({ track: o, tb, video: p.type === 'video', key: p.keyframe, duration: d ? rescaleQ(d, MS, tb) : 0 });
  }
  if (format !== 'mp4') return { packets: exp };
  // Where each sample belongs: its own timestamps, each track starting at dts 0.
  const seenTrack = new Set<number>();
  const ideal = exp.map((e) => {
    if (seenTrack.has(e.streamIndex) || e.dts === null) return { dts: e.dts, pts: e.pts };
    seenTrack.add(e.streamIndex);
    return { dts: 0, pts: e.pts === null ? null : e.pts - e.dts };
  });
  const fragments = movencTiming(order.map((x) => x.i), exp, timing, muxerQueue);
  const moved: string[] = [];
  const count = new Map<number, number>();
  exp.forEach((e, i) => {
    const k = count.get(e.streamIndex) ?? 0;
    count.set(e.streamIndex, k + 1);
    if (e.dts !== ideal[i]!.dts || e.pts !== ideal[i]!.pts) {
      moved.push(`stream #${e.streamIndex} packet #${k}: pts ${e.pts} dts ${e.dts} instead of pts ${ideal[i]!.pts} dts ${ideal[i]!.dts}`);
    }
  });
  return { packets: exp, fragments, moved };
  return { packets: exp, fragments };
}

export type WriteOrder = 'received' | 'dts';

interface Mp4Sample {
  track: number;
  tb: [number, number];
  video: boolean;
  key: boolean;
  /** R(received duration), 0 for none. */
  duration: number;
}

/**
 * movenc (frag_keyframe, frag_duration 1 s, empty_moov, no edit list) fed
 * the packets in `order` (indexes into exp): where it cuts fragments and
 * where it puts each sample. `exp` comes in with R()+shift and leaves with
 * the dts/pts/duration ffprobe reads back. Returns the fragments (sample
 * counts per track).
 */
function movencTiming(order: number[], exp: Expected[], s: Mp4Sample[], peek: boolean): Map<number, number[]> {
  // Each track's packets not yet written, in order (what av_interleaved_write_frame's queue holds).
  const pending = new Map<number, number[]>();
  for (const i of order) {
    const list = pending.get(s[i]!.track) ?? [];
    list.push(i);
    pending.set(s[i]!.track, list);
  }
  interface Track {
    entries: number[]; // indexes into exp of the current fragment's samples
    startDts: number | null;
    trackDuration: number;
    fragments: number[];
  }
  const tracks = new Map<number, Track>();
  const track = (o: number): Track => {
    let t = tracks.get(o);
    if (!t) tracks.set(o, (t = { entries: [], startDts: null, trackDuration: 0, fragments: [] }));
    return t;
  };
  const lastDuration = (t: Track): number => t.startDts! + t.trackDuration - exp[t.entries[t.entries.length - 1]!]!.dts!;
  const flush = (trigger: number | null): void => {
    for (const [o, t] of tracks) {
      if (t.entries.length === 0) continue;
      // Interleaved writing: movenc ends every other track's fragment at its next queued packet.
      const next = pending.get(o)?.[0];
      if (peek && o !== trigger && next !== undefined && exp[next]!.dts !== null) t.trackDuration = exp[next]!.dts! - t.startDts!;
      // movenc's guess for a last sample without a duration: the one before's.
      if (t.entries.length > 1 && lastDuration(t) === 0) {
        const a = exp[t.entries[t.entries.length - 2]!]!;
        const b = exp[t.entries[t.entries.length - 1]!]!;
        t.trackDuration += b.dts! - a.dts!;
      }
      for (let k = 0; k + 1 < t.entries.length; k++) {
        exp[t.entries[k]!]!.duration = exp[t.entries[k + 1]!]!.dts! - exp[t.entries[k]!]!.dts!;
      }
      exp[t.entries[t.entries.length - 1]!]!.duration = lastDuration(t);
      t.fragments.push(t.entries.length);
      t.entries = [];
    }
  };
  for (const i of order) {
    const e = exp[i]!;
    const t = track(s[i]!.track);
    pending.get(s[i]!.track)!.shift();
    let dts = e.dts ?? 0;
    let pts: number | null = e.pts;
    // check_pkt: a dts before where the track stands is moved just after it, and loses its pts.
    const ref = t.entries.length ? exp[t.entries[t.entries.length - 1]!]!.dts! : t.startDts !== null ? t.startDts + t.trackDuration : dts;
    if (dts < ref) {
      dts = ref + 1;
      pts = null;
    }
    // A new fragment: at a video key frame, or 1 s (frag_duration) after the fragment's first sample of this track.
    if (t.entries.length) {
      const since = rescaleQ(dts - exp[t.entries[0]!]!.dts!, s[i]!.tb, [1, 1000000]);
      if (since >= 1000000 || (s[i]!.video && s[i]!.key)) {
        t.trackDuration = dts - t.startDts!; // the triggering track's last sample lines up with this one
        flush(s[i]!.track);
      }
    }
    if (pts === null) pts = dts;
    const cts = pts - dts;
    let at = dts;
    if (t.startDts === null) at = t.startDts = 0; // no edit list: every track starts at 0
    else if (t.entries.length === 0) at = t.startDts + t.trackDuration; // where the previous fragment ended
    t.trackDuration = dts - t.startDts + s[i]!.duration;
    e.dts = at;
    e.pts = at + cts;
    t.entries.push(i);
  }
  flush(null);
  return new Map([...tracks].map(([o, t]) => [o, t.fragments]));
}

/** Which output stream each received stream became: the i-th received stream (by index) is output stream i. */
function outputIndexes(streams: readonly ReceivedStream[]): Map<number, number> {
  return new Map([...streams].sort((a, b) => a.index - b.index).map((s, i) => [s.index, i]));
}

function compareProbed(
  probed: ProbedFile,
  format: RecordFormat,
  received: readonly ReceivedPacket[],
  streamList: readonly ReceivedStream[],
  opts: CompareRecordingOptions,
  label = '',
): string[] {
  const problems: string[] = [];
  const at = label ? `${label}: ` : '';
  const outIndex = outputIndexes(streamList);
  const streams = new Map(streamList.map((s) => [s.index, s]));

  // Streams: same count and codecs, the time base the muxer must have chosen.
  if (probed.streams.length !== streamList.length) {
    problems.push(`${at}the file has ${probed.streams.length} streams, ${streamList.length} were received`);
  }
  const timeBases = new Map<number, [number, number]>();
  for (const s of streamList) {
    const o = outIndex.get(s.index)!;
    const ps = probed.streams.find((x) => x.index === o);
    if (!ps) {
      problems.push(`${at}received stream #${s.index} (${s.codec}) has no output stream #${o}`);
      continue;
    }
    if (format === 'mpegts' && (s.codec === 'av1' || s.codec === 'vp9')) {
      problems.push(`${at}stream #${o}: mpegts cannot carry ${s.codec} (the muxer writes private data no demuxer reads back)`);
    }
    if (ps.codec !== s.codec) problems.push(`${at}stream #${o}: codec ${ps.codec}, received ${s.codec}`);
    const want = expectedTimeBase(format, s) ?? (ps.sampleRate ? ([1, ps.sampleRate] as [number, number]) : null);
    if (!want) {
      problems.push(`${at}stream #${o}: no sample rate to tell its mp4 time base`);
      continue;
    }
    if (ps.timeBase[0] * want[1] !== ps.timeBase[1] * want[0]) {
      problems.push(`${at}stream #${o} (${s.codec}): time base ${ps.timeBase.join('/')}, the rule says ${want.join('/')}`);
    }
    timeBases.set(o, want);
  }
  if (problems.length) return problems;

  const { packets: expected, fragments, moved } = expectedPackets(format, received, outIndex, streams, timeBases, opts.writeOrder ?? 'received', opts.muxerQueue ?? opts.writeOrder === 'dts');
  if (moved?.length && !opts.allowFragmentShift) {
    problems.push(`${at}mp4: movenc moved ${moved.length} fragment-first sample(s) off their timestamps, because the ` +
      `previous sample's duration did not end where they start (set AVPacket.duration to the next dts of the stream, in ` +
      `the output time base, or pass allowFragmentShift): ${moved.slice(0, opts.maxDiffs ?? 5).join('; ')}`);
  }
  if (fragments && probed.fragments) {
    for (const [o, want] of fragments) {
      const got = probed.fragments.get(o) ?? [];
      if (got.join(',') !== want.join(',')) {
        problems.push(`${at}stream #${o}: fragments of ${got.join(', ')} samples, the rule predicts ${want.join(', ')}`);
      }
    }
  }

  // The recorded packets, their payload brought back to the received form (mpegts).
  const rxByOut = new Map<number, ReceivedPacket[]>();
  for (const p of received) {
    const o = outIndex.get(p.streamIndex)!;
    const list = rxByOut.get(o) ?? [];
    list.push(p);
    rxByOut.set(o, list);
  }
  const seen = new Map<number, number>();
  const actual = probed.packets.map((p) => {
    const k = seen.get(p.streamIndex) ?? 0;
    seen.set(p.streamIndex, k + 1);
    let { hash, size } = p;
    if (format === 'mpegts') {
      const inIndex = [...outIndex].find(([, o]) => o === p.streamIndex)?.[0];
      const stream = inIndex === undefined ? undefined : streams.get(inIndex);
      if (stream) {
        const undone = undoMpegtsPayload(p, rxByOut.get(p.streamIndex)?.[k], stream);
        if (typeof undone === 'string') {
          problems.push(`${at}stream #${p.streamIndex} packet #${k}: ${undone}`);
          hash = `unreadable:${k}`;
        } else ({ hash, size } = undone);
      }
    }
    // ffprobe runs the VP9 parser on mp4's VP9 track: it drops the durations mp4 stores (none
    // while probing, its frame-rate guess after): not compared.
    const inIndex = [...outIndex].find(([, o]) => o === p.streamIndex)?.[0];
    const vp9 = format === 'mp4' && inIndex !== undefined && streams.get(inIndex)?.codec === 'vp9';
    return { streamIndex: p.streamIndex, type: p.type, pts: p.pts, dts: p.dts, duration: vp9 ? null : p.duration, keyframe: p.keyframe, size, hash };
  });
  if (problems.length > (opts.maxDiffs ?? 5)) problems.splice(opts.maxDiffs ?? 5, Infinity, `${at}… and more payload problems`);

  for (const e of expected) {
    const inIndex = [...outIndex].find(([, o]) => o === e.streamIndex)?.[0];
    if (format === 'mp4' && inIndex !== undefined && streams.get(inIndex)?.codec === 'vp9') e.duration = null;
  }
  const diffs = diffPackets(actual, expected, { ignore: NOT_COMPARED[format], maxDiffs: opts.maxDiffs ?? 5 });
  return [...problems, ...diffs.map((d) => `${at}${d.replaceAll('received', 'recorded').replaceAll('reference', 'expected')}`)];
}

/**
 * Compares a recorded file with the packets received (time base 1/1000, in
 * the order received, all of them written to this one file) and the
 * received streams (codec, sample rate, extradata). Returns the mismatches,
 * one readable line each ("recorded" = ffprobe of the file, "expected" = the
 * received packets through the container's rule); [] when the file holds
 * exactly what the rule predicts.
 */
export async function compareRecording(
  file: string,
  format: RecordFormat,
  received: readonly ReceivedPacket[],
  streams: readonly ReceivedStream[],
  opts: CompareRecordingOptions = {},
): Promise<string[]> {
  const probed = await probeRecording(file, format, opts.ffprobe ?? FFPROBE9);
  return compareProbed(probed, format, received, streams, opts);
}

/**
 * A segmented recording (`files` in order, each written by a muxer of its
 * own): each segment's video streams start with a key frame; the segments
 * together hold every received packet exactly once, segment k holding the
 * next run of packets in the order they were written (opts.writeOrder:
 * received, or dts for an interleaving writer such as the CLI's segment
 * muxer); and each segment on its own follows the container's rule for its
 * share of the packets (a new muxer per segment: an mp4 segment starts at 0
 * again, see the rule).
 */
export async function compareSegments(
  files: readonly string[],
  format: RecordFormat,
  received: readonly ReceivedPacket[],
  streams: readonly ReceivedStream[],
  opts: CompareRecordingOptions = {},
): Promise<string[]> {
  const problems: string[] = [];
  const outIndex = outputIndexes(streams);
  const ffprobe = opts.ffprobe ?? FFPROBE9;
  const probed = await Promise.all(files.map((f) => probeRecording(f, format, ffprobe)));
  // The order the packets were written in, which is the order segments are cut in.
  const timeBases = new Map<number, [number, number]>();
  for (const st of streams) {
    const o = outIndex.get(st.index)!;
    const fromFile = probed.map((p) => p.streams.find((x) => x.index === o)).find((x) => x)?.timeBase;
    const tb = expectedTimeBase(format, st) ?? fromFile;
    if (tb) timeBases.set(o, tb);
  }
  if (timeBases.size !== streams.length) return ['no time base for every stream: no segment has them all'];
  const order = writeOrderOf(received, outIndex, timeBases, opts.writeOrder ?? 'received');
  const rank = new Map(order.map((i, k) => [i, k]));
  // Per received stream, its packets (indexes into `received`) in write order.
  const queues = new Map<number, number[]>();
  for (const i of order) {
    const list = queues.get(received[i]!.streamIndex) ?? [];
    list.push(i);
    queues.set(received[i]!.streamIndex, list);
  }
  const used = new Map<number, number>();
  let next = 0; // write-order position of the first packet not yet in a segment
  for (const [k, file] of files.entries()) {
    const label = `segment ${k} (${file.split('/').pop()})`;
    const seg = probed[k]!;
    if (seg.packets.length === 0) {
      problems.push(`${label}: no packets`);
      continue;
    }
    // This segment's share of each stream: as many packets as it holds, the next ones.
    const mine: number[] = [];
    for (const st of streams) {
      const o = outIndex.get(st.index)!;
      const n = seg.packets.filter((p) => p.streamIndex === o).length;
      const from = used.get(st.index) ?? 0;
      const all = queues.get(st.index) ?? [];
      if (from + n > all.length) problems.push(`${label}: stream #${o} holds ${n} packets, only ${all.length - from} received packets are left`);
      mine.push(...all.slice(from, from + n));
      used.set(st.index, from + n);
      if (st.type === 'video') {
        const firstVideo = seg.packets.find((p) => p.streamIndex === o);
        if (firstVideo && !firstVideo.keyframe) problems.push(`${label}: video stream #${o} does not start with a key frame`);
      }
    }
    const ranks = mine.map((i) => rank.get(i)!).sort((a, b) => a - b);
    const gap = ranks.findIndex((v, i) => v !== next + i);
    if (gap >= 0) {
      problems.push(`${label}: not the next ${ranks.length} packets in the order written: packet ${next + gap} of that order ` +
        `(received packet ${order[next + gap]}) should come next, the segment has packet ${ranks[gap]} (received packet ${order[ranks[gap]!]})`);
    }
    next += mine.length;
    problems.push(...compareProbed(seg, format, mine.sort((a, b) => a - b).map((i) => received[i]!), streams, opts, label));
  }
  if (next < received.length) problems.push(`the segments hold ${next} packets, ${received.length} were received (the last ${received.length - next} are missing)`);
  return problems;
}
