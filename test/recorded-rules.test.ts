// The recording rule of test/helpers/recorded.ts, checked against remuxes
// made by the ffmpeg 9 CLI (deps/ffmpeg-cli) of every fixture to mp4
// (fragmented as the recorder writes it), mkv, mpegts and flv, and shown to
// fail when a received packet is altered, missing or shifted by one tick.
//
// "Received" packets are what a session gets from the ffmpeg 9 publisher:
// ffprobe 9 of the FLV it sends (the fixture itself for the .flv fixtures,
// else `ffmpeg9 -i fixture -map 0 -c copy -f flv`), with the payload bytes
// and the streams' extradata. The CLI stands in for the recorder:
//   - `-copyts`: fftools would otherwise subtract the input's start time;
//     with it the timestamps reach the muxer as demuxed, and
//     avoid_negative_ts stays at the muxer's default, as in the recorder;
//   - mpegts: `-muxdelay 0`: fftools sets max_delay to 0.7 s, which
//     mpegtsenc adds twice to every timestamp; the recorder leaves it unset;
//   - mp4: `-movflags frag_keyframe+empty_moov+default_base_moof
//     -frag_duration 1000000`, as the recorder;
//   - order: the CLI writes with av_interleaved_write_frame, so packets reach
//     the muxer in dts order (writeOrder 'dts'), and movenc peeks at the
//     queue for each track's next packet when it cuts a fragment (its
//     fragment starts are exact, where the recorder's av_write_frame makes
//     movenc rely on the packets' durations);
//   - durations: fftools fills some in before muxing (video from the frame
//     rate) where the FLV demuxer has none; mp4 writes them (the last sample
//     of each fragment), so the received durations here are the ones the
//     CLI muxed (its framehash of the same input), as the recorder's are
//     the ones the session received.
// Not covered by the CLI, and why:
//   - mpegts with AV1 or VP9 (av1-opus, vp9-opus, vp9-444-10bit): the
//     mpegts muxer writes them as private data that no demuxer reads back;
//   - h264-mp3 to mp4 and mpegts: fftools re-times stream-copied audio whose
//     frame duration it knows (MP3: 1152 samples) with av_rescale_delta
//     (sample-accurate ticks), where the recorder rescales each timestamp on
//     its own (av_packet_rescale_ts); AAC and Opus have no known frame
//     duration in this CLI, so plain rescaling there too.
//   (A throwaway C program doing exactly what the recorder does, against the
//   lib build, recorded every fixture to the four formats: the rule held for
//   all of them, MP3 included, mp4 with allowFragmentShift; AV1/VP9 to
//   mpegts and VP9 to flv, without a pixel format, were reported.)
//   - multitrack: the CLI's flv demuxer gives the Enhanced RTMP AAC track
//     no sample rate (no AAC decoder, no patch 0004), so no muxer takes it;
//     the recording is remuxed from the fixture itself (multitrack.mkv),
//     whose packets the CLI sends unchanged (the same remux the FLV came from);
//     to mkv with -avoid_negative_ts make_non_negative (see recording()).
// Segments: the CLI's segment muxer, see 'segments' below.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FFMPEG9, FFPROBE9, mediaFixture, requireFfmpeg9 } from './helpers/ffmpeg9.js';
import { packetHash, toPacketType } from './helpers/reference.js';
import {
  adtsHeader,
  compareRecording,
  compareSegments,
  mp4Fragments,
  parseHexDump,
  rescaleRnd,
  splitAnnexB,
  type ReceivedPacket,
  type ReceivedStream,
  type RecordFormat,
} from './helpers/recorded.js';

const execFileAsync = promisify(execFile);

// The CLI muxes with av_interleaved_write_frame: packets reach the muxer in dts order.
const CLI = { writeOrder: 'dts' } as const;

const FIXTURES = [
  'small.flv',
  'hd720.flv',
  'bframes.flv',
  'hevc-aac.mp4',
  'hevc-opus.mp4',
  'av1-opus.mkv',
  'vp9-opus.webm',
  'vp9-444-10bit.webm',
  'h264-mp3.mp4',
  'multitrack.mkv',
] as const;
type Fixture = (typeof FIXTURES)[number];
const FORMATS: readonly RecordFormat[] = ['mp4', 'mkv', 'mpegts', 'flv'];
const EXT: Record<RecordFormat, string> = { mp4: 'mp4', mkv: 'mkv', mpegts: 'ts', flv: 'flv' };

/** Why the CLI cannot stand in for the recorder on this combination, or null. */
function skipReason(fixture: Fixture, format: RecordFormat): string | null {
  if (format === 'mpegts' && /^(av1|vp9)/.test(fixture)) return 'mpegts cannot carry AV1 / VP9';
  if (fixture === 'h264-mp3.mp4' && (format === 'mp4' || format === 'mpegts')) {
    return "the CLI re-times stream-copied MP3 sample-accurately (av_rescale_delta), the recorder does not";
  }
  return null;
}

async function run(bin: string, args: string[]): Promise<string> {
  const common = bin === FFMPEG9 ? ['-hide_banner', '-nostdin', '-loglevel', 'error'] : ['-v', 'error'];
  const { stdout } = await execFileAsync(bin, [...common, ...args], { maxBuffer: 1024 * 1024 * 1024 });
  return stdout;
}

function muxArgs(format: RecordFormat): string[] {
  switch (format) {
    case 'mp4':
      return ['-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-frag_duration', '1000000', '-f', 'mp4'];
    case 'mkv':
      return ['-f', 'matroska'];
    case 'mpegts':
      return ['-muxdelay', '0', '-f', 'mpegts'];
    case 'flv':
      return ['-f', 'flv'];
  }
}

/** The recorder, played by the CLI: every stream, copied, timestamps as demuxed. */
async function cliRecord(input: string, out: string, format: RecordFormat, extra: string[] = []): Promise<void> {
  await run(FFMPEG9, ['-copyts', '-i', input, '-map', '0', '-c', 'copy', ...extra, ...muxArgs(format), '-y', out]);
}

interface Source {
  /** What the publisher sends (an FLV file). */
  flv: string;
  /** What the CLI records from: the FLV, or for multitrack the fixture itself. */
  recordFrom: string;
  packets: ReceivedPacket[];
  streams: ReceivedStream[];
}

interface ProbeJson {
  streams: Array<{ index: number; codec_type?: string; codec_name?: string; sample_rate?: string; extradata?: string }>;
  packets: Array<{ stream_index: number; codec_type?: string; pts?: number; dts?: number; duration?: number; size: string; flags?: string; data?: string; data_hash?: string }>;
}

/** Durations as the CLI hands them to the muxer (framehash of the same input, in 1/1000). */
async function cliDurations(input: string): Promise<Map<number, number[]>> {
  const out = await run(FFMPEG9, ['-copyts', '-i', input, '-map', '0', '-c', 'copy', '-f', 'framehash', '-']);
  const d = new Map<number, number[]>();
  for (const line of out.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const [stream, , , duration] = line.split(',').map((x) => x.trim());
    const list = d.get(Number(stream)) ?? [];
    list.push(Number(duration));
    d.set(Number(stream), list);
  }
  return d;
}

let dir: string;
const sources = new Map<Fixture, Promise<Source>>();

function source(fixture: Fixture): Promise<Source> {
  let s = sources.get(fixture);
  if (!s) {
    s = (async () => {
      const file = mediaFixture(fixture);
      let flv = file;
      if (!fixture.endsWith('.flv')) {
        flv = join(dir, `${fixture}.flv`);
        await run(FFMPEG9, ['-i', file, '-map', '0', '-c', 'copy', '-f', 'flv', '-y', flv]);
      }
      const recordFrom = fixture === 'multitrack.mkv' ? file : flv;
      const j = JSON.parse(
        await run(FFPROBE9, ['-probesize', '100M', '-analyzeduration', '30M', '-show_streams', '-show_packets', '-show_data', '-show_data_hash', 'sha256', '-of', 'json', '-i', flv]),
      ) as ProbeJson;
      const durations = await cliDurations(recordFrom);
      const seen = new Map<number, number>();
      const packets = j.packets.map((p): ReceivedPacket => {
        const k = seen.get(p.stream_index) ?? 0;
        seen.set(p.stream_index, k + 1);
        return {
          streamIndex: p.stream_index,
          type: toPacketType(p.codec_type),
          pts: p.pts ?? null,
          dts: p.dts ?? null,
          duration: durations.get(p.stream_index)?.[k] ?? p.duration ?? null,
          keyframe: (p.flags ?? '').includes('K'),
          size: Number(p.size),
          data: parseHexDump(p.data ?? ''),
          hash: p.data_hash!,
        };
      });
      const streams = j.streams.map((s): ReceivedStream => ({
        index: s.index,
        type: toPacketType(s.codec_type),
        codec: s.codec_name ?? 'unknown',
        ...(Number(s.sample_rate) > 0 ? { sampleRate: Number(s.sample_rate) } : {}),
        extradata: s.extradata ? parseHexDump(s.extradata) : null,
      }));
      return { flv, recordFrom, packets, streams };
    })();
    sources.set(fixture, s);
  }
  return s;
}

const recordings = new Map<string, Promise<string>>();
function recording(fixture: Fixture, format: RecordFormat): Promise<string> {
  const key = `${fixture}.${format}`;
  let r = recordings.get(key);
  if (!r) {
    r = (async () => {
      const src = await source(fixture);
      const out = join(dir, `${fixture}.rec.${EXT[format]}`);
      // multitrack.mkv: the CLI guesses dts -10 ms for its first B-frame, and the publisher's flv
      // muxer shifted everything by +10 ms (avoid_negative_ts on dts). Matroska decides on pts by
      // default (23 ms, no shift): make it decide on dts, as the FLV did.
      const extra = fixture === 'multitrack.mkv' && format === 'mkv' ? ['-avoid_negative_ts', 'make_non_negative'] : [];
      await cliRecord(src.recordFrom, out, format, extra);
      return out;
    })();
    recordings.set(key, r);
  }
  return r;
}

describe.skipIf(!requireFfmpeg9())('recording rule (test/helpers/recorded.ts) against ffmpeg 9 CLI remuxes', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rtmp-ingest-recorded-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('helpers', () => {
    it('rescales as av_rescale_rnd does, negative values included', () => {
      expect(rescaleRnd(23, 44100, 1000, 'near_inf')).toBe(1014);
      expect(rescaleRnd(-23, 44100, 1000, 'near_inf')).toBe(-1014);
      expect(rescaleRnd(1, 1, 2, 'near_inf')).toBe(1); // half away from zero
      expect(rescaleRnd(-1, 1, 2, 'near_inf')).toBe(-1);
      expect(rescaleRnd(5, 1, 2, 'up')).toBe(3);
      expect(rescaleRnd(-5, 1, 2, 'up')).toBe(-2); // towards +infinity
      expect(rescaleRnd(-5, 1, 2, 'down')).toBe(-3);
    });

    it('parses ffprobe hex dumps, splits Annex B, builds ADTS headers', () => {
      const dump = '00000000: 0000 0001 09f0 0000 0165 8888 0102 0304  .........e......\n00000010: 05                                       .\n';
      expect([...parseHexDump(dump)]).toEqual([0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x65, 0x88, 0x88, 1, 2, 3, 4, 5]);
      expect(splitAnnexB(parseHexDump(dump)).map((n) => n.length)).toEqual([2, 8]);
      // AAC-LC 44.1 kHz stereo (AudioSpecificConfig 12 10), 256 bytes of raw frame.
      expect(Buffer.from(adtsHeader(Uint8Array.from([0x12, 0x10]), 256)).toString('hex')).toBe('fff1508020fffc');
    });
  });

  for (const fixture of FIXTURES) {
    for (const format of FORMATS) {
      const reason = skipReason(fixture, format);
      if (reason) {
        it.skip(`${fixture} -> ${format}: not covered (${reason})`, () => {});
        continue;
      }
      it(`${fixture} -> ${format}: the file holds what the rule predicts`, async () => {
        const src = await source(fixture);
        const out = await recording(fixture, format);
        expect(await compareRecording(out, format, src.packets, src.streams, CLI)).toEqual([]);
      });
    }
  }

  // One tick = 1 ms, the received time base's.
  type Alteration = (packets: ReceivedPacket[]) => ReceivedPacket[];
  const videoAt = (packets: ReceivedPacket[], n: number): number => packets.findIndex((p, i) => p.type === 'video' && packets.slice(0, i).filter((q) => q.type === 'video').length === n);
  const audioAt = (packets: ReceivedPacket[], n: number): number => packets.findIndex((p, i) => p.type === 'audio' && packets.slice(0, i).filter((q) => q.type === 'audio').length === n);
  const alter = (i: number, change: Partial<ReceivedPacket>): Alteration => (packets) => packets.map((p, k) => (k === i ? { ...p, ...change } : p));
  const NEGATIVE: Array<[string, (packets: ReceivedPacket[]) => ReceivedPacket[], RegExp]> = [
    ['a video packet 1 tick later (pts and dts)', (ps) => { const i = videoAt(ps, 40); return alter(i, { pts: ps[i]!.pts! + 1, dts: ps[i]!.dts! + 1 })(ps); }, /pts \d+ != \d+/],
    ['an audio packet 1 tick later (pts)', (ps) => { const i = audioAt(ps, 50); return alter(i, { pts: ps[i]!.pts! + 1, dts: ps[i]!.dts! + 1 })(ps); }, /pts \d+ != \d+/],
    ['a video packet missing', (ps) => ps.filter((_, k) => k !== videoAt(ps, 70)), /missing|packets, expected has/],
    ['a video payload byte changed', (ps) => { const i = videoAt(ps, 10); const data = Uint8Array.from(ps[i]!.data!); data[data.length - 1] = data[data.length - 1]! ^ 1; return alter(i, { data, hash: packetHash(data) })(ps); }, /data differs|data not in/],
    ['an audio payload byte changed', (ps) => { const i = audioAt(ps, 10); const data = Uint8Array.from(ps[i]!.data!); data[data.length - 1] = data[data.length - 1]! ^ 1; return alter(i, { data, hash: packetHash(data) })(ps); }, /data differs|data not in/],
    ['a key flag lost', (ps) => alter(videoAt(ps, 0), { keyframe: false })(ps), /keyframe true != false/],
  ];
  for (const format of FORMATS) {
    describe(`${format}: the comparison fails`, () => {
      for (const [what, change, message] of NEGATIVE) {
        it(`when ${what} (bframes.flv)`, async () => {
          const src = await source('bframes.flv');
          const out = await recording('bframes.flv', format);
          const problems = await compareRecording(out, format, change(src.packets), src.streams, CLI);
          expect(problems.join('\n')).toMatch(message);
        });
      }
    });
  }

  // Segments: the CLI's segment muxer (-segment_time 1, cut at video key frames) stands in for
  // the recorder's segmentSeconds. It hands packets to a new inner muxer per segment with
  // av_write_frame, in the dts order its own (interleaving) caller wrote them: so
  // writeOrder 'dts', and no queue for movenc to peek at. Its inner mp4 gets no AAC
  // durations from this CLI (no decoder), so movenc's guesses move fragment starts:
  // allowFragmentShift (the placement is still checked).
  const SEGMENTED = { writeOrder: 'dts', muxerQueue: false, allowFragmentShift: true } as const;
  async function cliSegments(fixture: Fixture, format: RecordFormat, extra: string[] = []): Promise<string[]> {
    const src = await source(fixture);
    const sub = await mkdtemp(join(dir, `seg-${format}-`));
    const opts = format === 'mp4' ? ['-segment_format_options', 'movflags=frag_keyframe+empty_moov+default_base_moof:frag_duration=1000000'] : [];
    const segFormat = format === 'mkv' ? 'matroska' : format;
    await run(FFMPEG9, ['-copyts', '-i', src.recordFrom, '-map', '0', '-c', 'copy', ...(format === 'mpegts' ? ['-muxdelay', '0'] : []),
      '-f', 'segment', '-segment_time', '1', '-segment_format', segFormat, ...opts, ...extra, join(sub, `seg%03d.${EXT[format]}`)]);
    return (await readdir(sub)).sort().map((f) => join(sub, f));
  }
  describe('segments', () => {
    for (const fixture of ['small.flv', 'bframes.flv', 'hevc-opus.mp4'] as const) {
      for (const format of FORMATS) {
        it(`${fixture} -> ${format} segments of 1 s: together exactly the received packets`, async () => {
          const src = await source(fixture);
          const files = await cliSegments(fixture, format);
          expect(files.length).toBeGreaterThan(2);
          expect(await compareSegments(files, format, src.packets, src.streams, SEGMENTED)).toEqual([]);
        });
      }
    }
    it('mp4: reports fragment starts movenc moved (durations that do not end at the next packet)', async () => {
      // The CLI's inner mp4 muxers get AAC packets without durations and nothing to peek at:
      // movenc guesses, and the first audio sample of some fragments moves by a tick or more.
      const src = await source('small.flv');
      const files = await cliSegments('small.flv', 'mp4');
      const strict = { ...SEGMENTED, allowFragmentShift: false };
      expect((await compareSegments(files, 'mp4', src.packets, src.streams, strict)).join('\n')).toMatch(/movenc moved \d+ fragment-first sample/);
    });
    for (const format of FORMATS) {
      it(`${format}: fails when a packet is missing, duplicated, or a segment starts without a key frame`, async () => {
        const src = await source('small.flv');
        const files = await cliSegments('small.flv', format);
        const lost = src.packets.filter((_, i) => i !== 200);
        expect((await compareSegments(files, format, lost, src.streams, SEGMENTED)).join('\n')).toMatch(/left|differ|missing/);
        const twice = [...src.packets.slice(0, 201), src.packets[200]!, ...src.packets.slice(201)];
        expect((await compareSegments(files, format, twice, src.streams, SEGMENTED)).join('\n')).toMatch(/differ|missing|duplicated/);
        expect((await compareSegments(files.slice(1), format, src.packets, src.streams, SEGMENTED)).join('\n')).toMatch(/differ|missing/);
        const broken = await cliSegments('small.flv', format, ['-break_non_keyframes', '1', '-segment_time', '0.5']);
        expect((await compareSegments(broken, format, src.packets, src.streams, SEGMENTED)).join('\n')).toMatch(/does not start with a key frame/);
      });
    }
  });

  it('mp4: reads the fragments movenc wrote (frag_keyframe + frag_duration 1 s)', async () => {
    const out = await recording('small.flv', 'mp4');
    const frags = mp4Fragments(new Uint8Array(await readFile(out)));
    // Video: a fragment per second (30 frames), audio alongside it.
    expect(frags.get(0)).toEqual([30, 30, 30, 30, 30]);
    expect(frags.get(1)!.reduce((a, b) => a + b, 0)).toBe(217);
  });

  it('compareSegments: a single segment is the whole recording', async () => {
    const src = await source('small.flv');
    const out = await recording('small.flv', 'mkv');
    expect(await compareSegments([out], 'mkv', src.packets, src.streams, CLI)).toEqual([]);
  });
});
