// The frame-accuracy matrix shared by reference.test.ts (libavformat's own
// listener, the ground truth) and frame-accuracy.test.ts (rtmp-ingest):
// which publisher sends which fixture, and which reference it must match.
import { publishWithFfmpeg, publishWithGstreamer, type Publisher } from './publishers.js';

export const FIXTURES = ['small', 'hd720', 'bframes'] as const;
export type FixtureName = (typeof FIXTURES)[number];

export interface PublishCase {
  name: string;
  fixture: FixtureName;
  publish: (file: string, url: string) => Publisher;
  /** GStreamer re-muxes the FLV: its packets are compared with ffprobe of what it sends. */
  reference: 'file' | 'gstreamer';
  gst: boolean;
}

/** Every fixture by ffmpeg (fast, and -re where `realtime(fixture)`) and by rtmp2sink at chunk-size 128 and 4096. */
export function publishCases(realtime: (fixture: FixtureName) => boolean = () => true): PublishCase[] {
  return FIXTURES.flatMap((f): PublishCase[] => [
    ...(realtime(f)
      ? [{ name: `ffmpeg -re ${f}`, fixture: f, publish: (file: string, url: string) => publishWithFfmpeg(file, url, { realtime: true }), reference: 'file' as const, gst: false }]
      : []),
    { name: `ffmpeg ${f}`, fixture: f, publish: (file, url) => publishWithFfmpeg(file, url), reference: 'file', gst: false },
    { name: `gstreamer chunk-size 128 ${f}`, fixture: f, publish: (file, url) => publishWithGstreamer(file, url, { chunkSize: 128 }), reference: 'gstreamer', gst: true },
    { name: `gstreamer chunk-size 4096 ${f}`, fixture: f, publish: (file, url) => publishWithGstreamer(file, url, { chunkSize: 4096 }), reference: 'gstreamer', gst: true },
  ]);
}
