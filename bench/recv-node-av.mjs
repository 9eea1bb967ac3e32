// Receiver 5: node-av (prebuilt FFmpeg bindings) with its Demuxer opened on
// the RTMP listen URL, counting packets in a for-await loop.
// node bench/recv-node-av.mjs --port P
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { values } = parseArgs({ options: { port: { type: 'string' }, 'max-seconds': { type: 'string', default: '600' } } });
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const mono = () => Number(process.hrtime.bigint() / 1000n);
const wall = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

// node-av 6's Demuxer.packets() uses Promise.withResolvers (Node >= 22); on
// older Node it is polyfilled here with the standard semantics.
const polyfilled = typeof Promise.withResolvers !== 'function';
if (polyfilled) {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((a, b) => {
      resolve = a;
      reject = b;
    });
    return { promise, resolve, reject };
  };
}
const { Demuxer, ffmpegVersion } = await import('node-av');
const version = JSON.parse(readFileSync(join(dirname(require.resolve('node-av')), '..', 'package.json'), 'utf8')).version;
const port = Number(values.port);
const st = { packets: 0, bytes: 0, video: 0, audio: 0, end: undefined };
const timer = setTimeout(() => {
  say({ t: 'timeout' });
  process.exit(3);
}, Number(values['max-seconds']) * 1000);
timer.unref();

say({ t: 'opening', ports: [port], monoUs: mono(), version, ffmpeg: typeof ffmpegVersion === 'function' ? ffmpegVersion() : undefined });
const input = await Demuxer.open(`rtmp://127.0.0.1:${port}/live/bench`, { options: { listen: '1' } });
say({ t: 'session', monoUs: mono(), wallUs: wall(), streams: input.streams.length });
const types = input.streams.map((s) => s.codecpar.codecType); // AVMEDIA_TYPE_VIDEO 0, AUDIO 1
let first = true;
try {
  for await (const packet of input.packets()) {
    if (!packet) break; // end of stream
    st.packets++;
    st.bytes += packet.size;
    const t = types[packet.streamIndex];
    if (t === 0) st.video++;
    else if (t === 1) st.audio++;
    if (first) {
      first = false;
      say({ t: 'first', monoUs: mono(), wallUs: wall() });
    }
    packet.free();
  }
  st.end = 'eof';
} catch (err) {
  st.end = `error: ${err?.message ?? err}`;
}
say({ t: 'done', version, polyfilled, listeners: [st], packets: st.packets, bytes: st.bytes });
try {
  await input.close();
} catch {
  /* best effort */
}
process.exit(0);
