// The publishers, each a child process of its own (its CPU is not counted):
//  - the ffmpeg CLI, `-c copy -f flv`: it mirrors the chunk size the server
//    announces (rtmp-ingest and nginx-rtmp 4096, the other libavformat listeners 128,
//    node-media-server 65535): Debian's 5.1 and the 9.0.2 build in deps/ffmpeg-cli;
//  - GStreamer's rtmp2sink with a fixed chunk-size (128, its default; 4096 as OBS).
// Several URLs from one ffmpeg go through its tee muxer (the scale test).
// They run as installed: nothing is preloaded into them, except in the one
// labelled extra row that preloads bench/linger.c (opts.linger).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR, ROOT, lingerShim, startMeasured, startProcess, synCaptureWorks, watchSyn } from './measure.mjs';

export const PUBLISHERS = {
  ffmpeg: { id: 'ffmpeg', label: 'ffmpeg CLI publisher (chunk size as the server announces: 4096 to rtmp-ingest and nginx-rtmp, 65535 to node-media-server, 128 to the others)', chunk: 'announced', bin: 'ffmpeg' },
  // Built by `npm run build:ffmpeg-cli` (test/helpers/ffmpeg9.ts).
  ffmpeg9: { id: 'ffmpeg9', label: 'ffmpeg 9.0.2 CLI publisher (chunk size as the server announces)', chunk: 'announced', bin: join(ROOT, 'deps', 'ffmpeg-cli', 'bin', 'ffmpeg') },
  gst128: { id: 'gst128', label: 'GStreamer rtmp2sink chunk-size 128', chunk: 128 },
  gst4096: { id: 'gst4096', label: 'GStreamer rtmp2sink chunk-size 4096', chunk: 4096 },
};

let seq = 0;

/** Why a publisher cannot run here, or undefined. */
export function publisherUnavailable(id) {
  if (id === 'ffmpeg9' && !existsSync(PUBLISHERS.ffmpeg9.bin)) return `no ${PUBLISHERS.ffmpeg9.bin} (npm run build:ffmpeg-cli)`;
  return undefined;
}

/** What the extra row's publishers are: every other row runs them unmodified. */
export const LINGER_LABEL = 'publishers with bench/linger.c preloaded (lingering close)';

/**
 * Starts a publisher. opts: { audioOnly (the input has no video), realtime, loop (ffmpeg only: -stream_loop -1),
 * seconds (stop after this much media), connectTime (capture its SYN to the
 * first URL's port: read it with connectAt()), linger (preload bench/linger.c:
 * a lingering close, and its own log of connect() calls, read with
 * shimConnectAt()), measured (under rusage-wrap) }.
 */
export async function startPublisher(id, file, urls, opts = {}) {
  urls = Array.isArray(urls) ? urls : [urls];
  let cmd;
  let args;
  if (id === 'ffmpeg' || id === 'ffmpeg9') {
    cmd = PUBLISHERS[id].bin;
    args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error'];
    if (opts.realtime) args.push('-re');
    if (opts.loop) args.push('-stream_loop', '-1');
    args.push('-i', file);
    if (opts.seconds) args.push('-t', String(opts.seconds));
    args.push('-map', '0', '-c', 'copy');
    if (urls.length === 1) args.push('-f', 'flv', urls[0]);
    else args.push('-f', 'tee', urls.map((u) => `[f=flv:onfail=ignore]${u}`).join('|'));
  } else {
    const chunk = PUBLISHERS[id].chunk;
    const sink = (url) => ['rtmp2sink', `location=${url}`, `chunk-size=${chunk}`, `sync=${opts.realtime ? 'true' : 'false'}`];
    cmd = 'gst-launch-1.0';
    args = [
      '-q',
      'filesrc', `location=${file}`, '!', 'flvdemux', 'name=d',
      // flvmux waits for data on every pad it has: no video pad for an audio-only input.
      ...(opts.audioOnly ? [] : ['d.video', '!', 'queue', '!', 'm.video']),
      'd.audio', '!', 'queue', '!', 'm.audio',
      'flvmux', 'name=m', 'streamable=true', '!',
    ];
    // Several URLs: one demux/mux, a tee, one rtmp2sink per URL.
    if (urls.length === 1) args.push(...sink(urls[0]));
    else {
      args.push('tee', 'name=t');
      for (const u of urls) args.push('t.', '!', 'queue', '!', ...sink(u));
    }
  }
  // The connect time is taken outside the publisher (its SYN on the loopback
  // interface): a publisher traced with strace sent in another rhythm, and
  // one with a preloaded shim is not the publisher as installed.
  const port = Number(new URL(urls[0]).port);
  const syn = opts.connectTime && synCaptureWorks() ? await watchSyn(port) : undefined;
  const connectLog = opts.linger ? join(CACHE_DIR, `connect-${process.pid}-${++seq}.txt`) : undefined;
  const env = opts.linger ? { ...process.env, LD_PRELOAD: lingerShim(), RTMP_BENCH_CONNECT_LOG: connectLog } : process.env;
  const h = opts.measured
    ? await startMeasured(`publisher ${id}`, cmd, args, { stdout: 'ignore', env })
    : startProcess(`publisher ${id}`, cmd, args, { stdout: 'ignore', env });
  /** Wall-clock µs of the first SYN to the port (undefined without connectTime, or when tcpdump is not usable here). */
  h.connectAt = async () => syn?.at();
  void h.exited.then(() => syn?.at()); // a publisher that never connected leaves no capture behind
  /** Wall-clock µs of the first connect() call to 127.0.0.1:port as bench/linger.c logged it (linger only). */
  h.shimConnectAt = () => {
    if (!connectLog) return undefined;
    let text = '';
    try {
      text = readFileSync(connectLog, 'utf8');
    } catch {
      return undefined;
    }
    for (const line of text.split('\n')) {
      const [us, p] = line.split(' ').map(Number);
      if (p === port && us > 0) return us;
    }
    return undefined;
  };
  return h;
}
