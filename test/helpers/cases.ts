// The publishers every frame-accuracy test draws from, and the fixture matrix
// shared by reference.test.ts (libavformat's own listener, the ground truth)
// and frame-accuracy.test.ts (rtmp-ingest): which publisher sends which
// fixture, and which reference it must match.
import {
  GST_PUBLISH_ELEMENTS,
  GST_RTMPSINK_ELEMENTS,
  publishWithFfmpeg,
  publishWithGstreamer,
  publishWithRtmpsink,
  requireGstElements,
  type Publisher,
} from './publishers.js';
import { publishWithFfmpeg9, requireFfmpeg9 } from './ffmpeg9.js';

export const FIXTURES = ['small', 'hd720', 'bframes'] as const;
export type FixtureName = (typeof FIXTURES)[number];

export interface PublisherCase {
  name: string;
  publish: (file: string, url: string) => Publisher;
  /** GStreamer re-muxes the FLV: its packets are compared with ffprobe of what its flvmux writes. */
  reference: 'file' | 'gstreamer';
  /** Paced by the media clock rather than as fast as it goes. */
  realtime: boolean;
  /** Whether the tools it needs are here (throws under CI when they are not). */
  available: () => boolean;
}

const ffmpegAvailable = (): boolean => true; // every suite using these requires ffmpeg itself
const rtmp2sinkAvailable = (): boolean => requireGstElements(...GST_PUBLISH_ELEMENTS);
const rtmpsinkAvailable = (): boolean => requireGstElements(...GST_RTMPSINK_ELEMENTS);

const rtmp2sink = (chunkSize: number, realtime: boolean): PublisherCase => ({
  name: `rtmp2sink chunk-size ${chunkSize}${realtime ? ' sync=true' : ''}`,
  publish: (file, url) => publishWithGstreamer(file, url, { chunkSize, realtime }),
  reference: 'gstreamer',
  realtime,
  available: rtmp2sinkAvailable,
});
const rtmpsink = (realtime: boolean): PublisherCase => ({
  name: `rtmpsink${realtime ? ' sync=true' : ''}`,
  publish: (file, url) => publishWithRtmpsink(file, url, { realtime }),
  reference: 'gstreamer',
  realtime,
  available: rtmpsinkAvailable,
});
const ffmpeg = (realtime: boolean): PublisherCase => ({
  name: realtime ? 'ffmpeg -re' : 'ffmpeg',
  publish: (file, url) => publishWithFfmpeg(file, url, { realtime }),
  reference: 'file',
  realtime,
  available: ffmpegAvailable,
});

const ffmpeg9 = (realtime: boolean): PublisherCase => ({
  name: realtime ? 'ffmpeg 9 -re' : 'ffmpeg 9',
  publish: (file, url) => publishWithFfmpeg9(file, url, { realtime }),
  reference: 'file',
  realtime,
  available: requireFfmpeg9,
});

/** Debian's ffmpeg 5.1, the ffmpeg 9 CLI, GStreamer rtmp2sink at chunk-size 128 and 4096, and rtmpsink (librtmp), as fast as they go. */
export const FAST_PUBLISHERS: readonly PublisherCase[] = [ffmpeg(false), ffmpeg9(false), rtmp2sink(128, false), rtmp2sink(4096, false), rtmpsink(false)];
/** The same publishers paced by the media clock (-re, sync=true). */
export const REALTIME_PUBLISHERS: readonly PublisherCase[] = [ffmpeg(true), ffmpeg9(true), rtmp2sink(128, true), rtmp2sink(4096, true), rtmpsink(true)];

export interface PublishCase extends PublisherCase {
  fixture: FixtureName;
}

/** Every fixture by every fast publisher, and by `ffmpeg -re` where `realtime(fixture)`. */
export function publishCases(realtime: (fixture: FixtureName) => boolean = () => true): PublishCase[] {
  return FIXTURES.flatMap((fixture) =>
    [...(realtime(fixture) ? [REALTIME_PUBLISHERS[0]!] : []), ...FAST_PUBLISHERS].map((p) => ({
      ...p,
      name: `${p.name} ${fixture}`,
      fixture,
    })),
  );
}
