// Enhanced RTMP from a publisher nobody here wrote: the unmodified ffmpeg 9
// CLI remuxes each fixture (HEVC, AV1, VP9, Opus, MP3 next to H.264, two
// video and two audio tracks) to FLV over RTMP. What rtmp-ingest delivers
// must equal, packet by packet, what that flv muxer writes, and its
// StreamInfo must describe every stream as the source file does.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { IngestSession, Packet, SessionEndEvent, StreamInfo } from '../lib/index.js';
import { expectSamePackets } from './helpers/compare.js';
import {
  ffmpeg9Reference,
  listenWithFfprobe9,
  mediaFixture,
  publishWithFfmpeg9,
  requireFfmpeg9,
  type Ffmpeg9Reference,
} from './helpers/ffmpeg9.js';
import { nextSession, startIngest } from './helpers/ingest.js';
import { requireTool } from './helpers/publishers.js';
import { within } from './helpers/record.js';
import { packetHash, toPacketType, type PacketType, type RefPacket } from './helpers/reference.js';

const execFileAsync = promisify(execFile);

const haveFfmpeg9 = requireFfmpeg9();
// Debian's ffprobe, with decoders, describes the source files.
const haveFfprobe = requireTool('ffprobe');

interface Case {
  file: string;
  /** Codec of each stream, in stream order, as the FLV carries them. */
  codecs: string[];
}

const CASES: Case[] = [
  // The classic pair, from an FLV fixture: what ffmpeg 9 sends without Enhanced RTMP.
  { file: 'bframes.flv', codecs: ['h264', 'aac'] },
  { file: 'hevc-aac.mp4', codecs: ['hevc', 'aac'] },
  { file: 'hevc-opus.mp4', codecs: ['hevc', 'opus'] },
  { file: 'av1-opus.mkv', codecs: ['av1', 'opus'] },
  { file: 'vp9-opus.webm', codecs: ['vp9', 'opus'] },
  { file: 'vp9-444-10bit.webm', codecs: ['vp9'] },
  { file: 'h264-mp3.mp4', codecs: ['h264', 'mp3'] },
  { file: 'multitrack.mkv', codecs: ['h264', 'h264', 'aac', 'aac'] },
];

const references = new Map<string, Promise<Ffmpeg9Reference>>();
function reference(file: string): Promise<Ffmpeg9Reference> {
  let r = references.get(file);
  if (!r) references.set(file, (r = ffmpeg9Reference(mediaFixture(file))));
  return r;
}

/** A stream of the source file as Debian's ffprobe (with decoders) describes it. */
interface SourceStream {
  type: PacketType;
  codec: string;
  profile?: string;
  width?: number;
  height?: number;
  frameRate?: [number, number];
  sampleRate?: number;
  channels?: number;
}

async function describeSource(file: string): Promise<SourceStream[]> {
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-show_entries',
    'stream=codec_type,codec_name,profile,width,height,r_frame_rate,sample_rate,channels', '-of', 'json', '-i', mediaFixture(file)]);
  const streams = (JSON.parse(stdout) as { streams: Array<Record<string, string | number | undefined>> }).streams;
  return streams.map((s) => {
    const type = toPacketType(s.codec_type as string);
    const out: SourceStream = { type, codec: s.codec_name as string };
    if (s.profile !== undefined && s.profile !== 'unknown') out.profile = String(s.profile);
    if (type === 'video') {
      const [num, den] = String(s.r_frame_rate).split('/').map(Number);
      Object.assign(out, { width: s.width, height: s.height, frameRate: [num, den] });
    } else if (type === 'audio') {
      Object.assign(out, { sampleRate: Number(s.sample_rate), channels: s.channels });
    }
    return out;
  });
}

/** The StreamInfo fields a source stream describes, from what the addon reported. */
function described(s: StreamInfo): SourceStream {
  const out: SourceStream = { type: s.type, codec: s.codec };
  if (s.profile !== undefined) out.profile = s.profile;
  if (s.type === 'video') Object.assign(out, { width: s.width, height: s.height, frameRate: s.frameRate });
  else if (s.type === 'audio') Object.assign(out, { sampleRate: s.sampleRate, channels: s.channels });
  return out;
}

/** The k-th stream of each type, in index order: FLV numbers its streams in the order their first tags come. */
function byTypeOrder<T extends { type: PacketType }>(streams: readonly T[]): T[] {
  const order: PacketType[] = ['video', 'audio', 'data'];
  return order.flatMap((t) => streams.filter((s) => s.type === t));
}

describe.skipIf(!haveFfmpeg9)('the reference: what the ffmpeg 9 flv muxer writes', () => {
  it.each(CASES)('$file remuxes to FLV with its codecs', async (c) => {
    const ref = await reference(c.file);
    expect(ref.streams.map((s) => [s.index, s.codec, s.timeBase])).toEqual(c.codecs.map((codec, i) => [i, codec, '1/1000']));
    for (const s of ref.streams) expect(ref.packets.filter((p) => p.streamIndex === s.index).length).toBeGreaterThanOrEqual(30);
  });

  // The ground truth: libavformat's own RTMP listener (ffmpeg 9's ffprobe)
  // receives from the ffmpeg 9 publisher exactly the remuxed file's packets,
  // durations included, and the same sequence headers.
  it.each(CASES)('$file: ffprobe 9 -listen 1 receives every packet of it, in order, and its sequence headers', async (c) => {
    const rx = await listenWithFfprobe9();
    const pub = publishWithFfmpeg9(mediaFixture(c.file), rx.url);
    const exit = await pub.exited;
    expect(exit.code, pub.stderr()).toBe(0);
    const got = await rx.result();
    const ref = await reference(c.file);
    expectSamePackets(got.packets, ref.packets, { label: c.file, interleaving: true });
    expect(got.streams).toEqual(ref.streams);
  });
});

/**
 * The reference packets with the durations rtmp-ingest should have. FLV
 * carries none: each receiver's libavformat computes them. ffprobe 9 does so
 * after avformat_find_stream_info, but it has no AAC decoder here, so no AAC
 * frame size and no AAC durations; rtmp-ingest's flv demuxer takes the frame
 * size from the AudioSpecificConfig (patch 0004), so there the expectation
 * is libavformat's duration of a 1024-sample AAC-LC frame.
 */
// The reference's durations, and where ffprobe 9 has none, what a receiver
// that knows the stream gives: AAC's frame length (ffprobe 9 has no AAC
// decoder), and one frame at the announced frame rate for AV1 and VP9
// packets, which ffprobe 9 only times once avformat_find_stream_info has
// estimated r_frame_rate (from packet 41 of 90 here; none for a 30-packet
// clip). Rounded down, as libavformat's compute_pkt_fields does.
async function withDurations(file: string): Promise<RefPacket[]> {
  const ref = await reference(file);
  const sources = byTypeOrder(await describeSource(file));
  const sourceOf = new Map(byTypeOrder(ref.streams).map((s, i) => [s.index, sources[i]!]));
  return ref.packets.map((p) => {
    const source = sourceOf.get(p.streamIndex);
    if (p.duration !== null || !source) return p;
    if (source.codec === 'aac' && source.profile === 'LC') return { ...p, duration: Math.floor((1024 * 1000) / source.sampleRate!) };
    if (source.type === 'video' && source.frameRate) return { ...p, duration: Math.floor((1000 * source.frameRate[1]) / source.frameRate[0]) };
    return p;
  });
}

interface Publish {
  session: IngestSession;
  packets: Packet[];
  end: SessionEndEvent;
}

// One publish per fixture, shared by the tests that look at it.
const publishes = new Map<string, Promise<Publish>>();
function receive(file: string): Promise<Publish> {
  let p = publishes.get(file);
  if (!p) {
    p = (async () => {
      const { ingest, url } = await startIngest({ keepAlive: false });
      const received = nextSession(ingest);
      const pub = publishWithFfmpeg9(mediaFixture(file), url);
      const rx = await received;
      const exit = await within(pub.exited, 15_000, `${file}: the publisher exiting`);
      if (exit.code !== 0) throw new Error(`${pub.command}\n exited with ${exit.code ?? exit.signal}:\n${pub.stderr()}`);
      return rx;
    })();
    publishes.set(file, p);
  }
  return p;
}

describe.skipIf(!haveFfmpeg9 || !haveFfprobe)('rtmp-ingest receives Enhanced RTMP from the ffmpeg 9 CLI', () => {
  describe.each(CASES)('$file', (c) => {
    it('every packet as sent: order, pts, dts, key flag, size, data; the session ends with eof', async () => {
      const { session, packets, end } = await receive(c.file);
      expect(end).toEqual({ reason: 'eof' });
      // Durations are not sent (FLV has none): the next test compares them.
      expectSamePackets(packets, (await reference(c.file)).packets, { label: c.file, interleaving: true, ignore: ['duration'] });
      expect(session.stats.packets).toBe(packets.length);
    });

    it('every stream described: codec, profile, size, frame rate, sample rate, channels, extradata', async () => {
      const { session } = await receive(c.file);
      const ref = await reference(c.file);
      // The FLV's streams: codec, time base, sequence header as extradata...
      expect(session.streams.map((s) => [s.index, s.type, s.codec, `${s.timeBase[0]}/${s.timeBase[1]}`,
        s.extradata.length, s.extradata.length ? packetHash(s.extradata) : null])).toEqual(
        ref.streams.map((s) => [s.index, s.type, s.codec, s.timeBase, s.extradataSize, s.extradataHash]),
      );
      // ...and what the source file says of each.
      expect(byTypeOrder(session.streams).map(described)).toEqual(byTypeOrder(await describeSource(c.file)));
    });

    it("durations: ffprobe 9's, and where it has none AAC's frame length and one frame of video", async () => {
      const { packets } = await receive(c.file);
      expectSamePackets(packets, await withDurations(c.file), { label: c.file, interleaving: true });
    });
  });

  it('multitrack.mkv at its own pace (-re): two video and two audio tracks, every packet', async () => {
    const { ingest, url } = await startIngest({ keepAlive: false });
    const received = nextSession(ingest);
    const pub = publishWithFfmpeg9(mediaFixture('multitrack.mkv'), url, { realtime: true, map: ['0:v:0', '0:v:1', '0:a:0', '0:a:1'] });
    const { session, packets, end } = await received;
    expect((await pub.exited).code, pub.stderr()).toBe(0);
    expect(end).toEqual({ reason: 'eof' });
    expect(session.streams.map((s) => s.type)).toEqual(['video', 'video', 'audio', 'audio']);
    expectSamePackets(packets, await withDurations('multitrack.mkv'), { label: 'multitrack -re', interleaving: true });
  });
});
