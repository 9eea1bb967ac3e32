// Recorded files, packet by packet: every publisher of the matrix, and the
// Enhanced RTMP codecs from the ffmpeg 9 CLI, recorded to mp4, mkv, mpegts
// and flv by the ingest's record option (from the first packet). ffprobe 9
// of each file must equal what the session received, by the rule per
// container written at the top of test/helpers/recorded.ts (timestamps after
// the container's time-base conversion, payloads byte for byte or through
// the container's framing, key flags).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IngestSession, Packet, RecordFormat, SegmentInfo } from '../lib/index.js';
import { FAST_PUBLISHERS, REALTIME_PUBLISHERS } from './helpers/cases.js';
import { mediaFixture, publishWithFfmpeg9, requireFfmpeg9 } from './helpers/ffmpeg9.js';
import { fixturePath, newIngest } from './helpers/ingest.js';
import { killAllChildren } from './helpers/process.js';
import type { Publisher } from './helpers/publishers.js';
import { requireTool } from './helpers/publishers.js';
import { compareRecording, compareSegments, type CompareRecordingOptions } from './helpers/recorded.js';

const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe') && requireFfmpeg9();

afterEach(async () => {
  await killAllChildren();
});

const FORMATS: readonly RecordFormat[] = ['mp4', 'mkv', 'mpegts', 'flv'];
const EXTENSION: Record<RecordFormat, string> = { mp4: 'mp4', mkv: 'mkv', mpegts: 'ts', flv: 'flv' };
// The recorder writes mp4 through libavformat's interleaving queue (DTS order, movenc sees each track's next
// packet), the other containers packet by packet as received.
const WRITE: Record<RecordFormat, CompareRecordingOptions> = {
  mp4: { writeOrder: 'dts', muxerQueue: true },
  mkv: {},
  mpegts: {},
  flv: {},
};

interface Recorded {
  session: IngestSession;
  packets: Packet[];
  segments: SegmentInfo[];
  timestampFixups: number;
}

/**
 * The packets as the recorder writes them (README, Record and relay: Timestamps): where the muxer would refuse
 * a DTS (mp4 and mpegts: not above the stream's previous one; flv: below the first packet's; others: below the
 * previous one) or a PTS (before its DTS), the nearest value it accepts. GStreamer's flvmux, for one, starts with
 * several packets at DTS 0. Also the number of packets moved, which the recorder must count.
 */
function asWritten(received: readonly Packet[], format: RecordFormat): { packets: Packet[]; fixups: number } {
  const strict = format === 'mp4' || format === 'mpegts';
  const last = new Map<number, number>();
  let first: number | undefined;
  let fixups = 0;
  const packets = received.map((p) => {
    let dts = p.dts;
    const previous = last.get(p.streamIndex);
    if (previous !== undefined && (dts < previous || (strict && dts === previous))) dts = strict ? previous + 1 : previous;
    if (format === 'flv') {
      first ??= dts;
      if (dts < first) dts = first;
    }
    const pts = p.pts < dts ? dts : p.pts;
    last.set(p.streamIndex, dts);
    if (dts === p.dts && pts === p.pts) return p;
    fixups++;
    return { ...p, dts, pts };
  });
  return { packets, fixups };
}

/** One publish into an ingest that records it (options.record) beside a 'packet' listener. */
async function recordPublish(format: RecordFormat, publish: (url: string) => Publisher, segmentSeconds?: number): Promise<Recorded> {
  const dir = mkdtempSync(join(tmpdir(), 'rtmp-ingest-files-'));
  const ingest = newIngest({
    url: 'rtmp://127.0.0.1:0/live/key',
    record: { path: join(dir, `%s.${EXTENSION[format]}`), ...(segmentSeconds ? { segmentSeconds } : {}) },
  });
  const { port } = await ingest.listen();
  const done = new Promise<Recorded>((resolve) =>
    ingest.once('session', (session) => {
      const packets: Packet[] = [];
      const segments: SegmentInfo[] = [];
      const recorder = session.recorders[0]!;
      recorder.on('segment', (s) => segments.push(s));
      session.on('packet', (p) => packets.push(p));
      session.once('end', () => void recorder.finished.then(() => resolve({ session, packets, segments, timestampFixups: recorder.stats.timestampFixups })));
    }),
  );
  publish(`rtmp://127.0.0.1:${port}/live/key`);
  const recorded = await done;
  expect(recorded.session.endReason).toBe('eof');
  return recorded;
}

describe.skipIf(!haveFfmpeg)('recorded files equal the packets received', () => {
  const publishers = [...FAST_PUBLISHERS, REALTIME_PUBLISHERS[3]!]; // rtmp2sink 4096 paced: OBS's chunk size, live
  for (const fixture of ['bframes', 'hd720'] as const) {
    for (const publisher of publishers) {
      for (const format of FORMATS) {
        it(`${publisher.name}, ${fixture}.flv -> ${format}`, async ({ skip }) => {
          if (!publisher.available()) skip();
          const r = await recordPublish(format, (url) => publisher.publish(fixturePath(fixture), url));
          expect(r.segments).toHaveLength(1);
          const written = asWritten(r.packets, format);
          expect(r.timestampFixups).toBe(written.fixups);
          const diffs = await compareRecording(r.segments[0]!.path, format, written.packets, r.session.streams, WRITE[format]);
          expect(diffs, diffs.join('\n')).toEqual([]);
        });
      }
    }
  }

  // ffmpeg 9's Enhanced RTMP codecs. mpegts cannot hold AV1 or VP9 (left out of the file, logged).
  // vp9-444-10bit (profile 3, video only) checks the pixel format the muxers' vpcC takes from the key frame's header.
  const ENHANCED = ['hevc-aac.mp4', 'hevc-opus.mp4', 'av1-opus.mkv', 'vp9-opus.webm', 'vp9-444-10bit.webm', 'h264-mp3.mp4', 'multitrack.mkv'];
  for (const file of ENHANCED) {
    for (const format of FORMATS.filter((f) => !(f === 'mpegts' && file === 'vp9-444-10bit.webm'))) {
      it(`ffmpeg 9, ${file} -> ${format}`, async () => {
        const r = await recordPublish(format, (url) => publishWithFfmpeg9(mediaFixture(file), url));
        const held = asWritten(format === 'mpegts' ? r.packets.filter((p) => !['av1', 'vp9'].includes(r.session.streams[p.streamIndex]!.codec)) : r.packets, format);
        expect(r.timestampFixups).toBe(held.fixups);
        const streams = r.session.streams.filter((s) => format !== 'mpegts' || !['av1', 'vp9'].includes(s.codec));
        const diffs = await compareRecording(r.segments[0]!.path, format, held.packets, streams, WRITE[format]);
        expect(diffs, diffs.join('\n')).toEqual([]);
      });
    }
  }

  for (const format of FORMATS) {
    it(`segments of 1 s, ${format}: keyframe starts, every packet once, each segment by the container's rule`, async () => {
      const r = await recordPublish(format, (url) => FAST_PUBLISHERS[0]!.publish(fixturePath('hd720'), url), 1);
      expect(r.segments.length).toBeGreaterThan(1);
      const diffs = await compareSegments(r.segments.map((s) => s.path), format, asWritten(r.packets, format).packets, r.session.streams, WRITE[format]);
      expect(diffs, diffs.join('\n')).toEqual([]);
    });
  }
});
