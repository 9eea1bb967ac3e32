// Receiver 4: the usual fluent-ffmpeg-style approach. A child
// `ffmpeg -listen 1 -i rtmp://... -c copy -f flv pipe:1` receives, and this
// process parses the FLV from its stdout into one Buffer per tag and counts
// them in a JS handler. Its CPU is this process plus the ffmpeg child.
// node bench/recv-ffmpeg-pipe.mjs --port P
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, 'max-seconds': { type: 'string', default: '600' } } });
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const mono = () => Number(process.hrtime.bigint() / 1000n);
const wall = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

/** Incremental FLV parser: emits 'tag' {type, timestamp, data} for every complete tag. */
class FlvParser extends EventEmitter {
  constructor() {
    super();
    this.pending = [];
    this.pendingBytes = 0;
    this.headerDone = false;
  }
  push(chunk) {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    for (;;) {
      const need = this.headerDone ? 15 : 13; // previous-tag-size (4) + tag header (11); file header 9 + 4
      if (this.pendingBytes < need) return;
      const head = this.peek(need);
      if (!this.headerDone) {
        if (head[0] !== 0x46 || head[1] !== 0x4c || head[2] !== 0x56) throw new Error('not FLV');
        this.consume(9 + 4 - 4); // header; the first PreviousTagSize is read with the first tag
        this.headerDone = true;
        this.first = true;
        continue;
      }
      // [prevTagSize 4][type 1][size 3][ts 3][tsExt 1][streamId 3]
      const type = head[4] & 0x1f;
      const size = (head[5] << 16) | (head[6] << 8) | head[7];
      if (this.pendingBytes < 15 + size) return;
      const timestamp = ((head[11] << 24) | (head[8] << 16) | (head[9] << 8) | head[10]) >>> 0;
      this.consume(15);
      const data = this.take(size);
      this.emit('tag', { type, timestamp, data });
    }
  }
  peek(n) {
    if (this.pending[0].length >= n) return this.pending[0];
    const b = Buffer.concat(this.pending);
    this.pending = [b];
    return b;
  }
  consume(n) {
    this.take(n);
  }
  /** The next n bytes: a subarray when they lie in one chunk, else a copy. */
  take(n) {
    const head = this.pending[0];
    let out;
    if (head.length >= n) {
      out = head.subarray(0, n);
      if (head.length === n) this.pending.shift();
      else this.pending[0] = head.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.pending[0];
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) this.pending.shift();
        else this.pending[0] = c.subarray(k);
      }
    }
    this.pendingBytes -= n;
    return out;
  }
}

const port = Number(values.port);
const ff = spawn(
  'ffmpeg',
  ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error', '-listen', '1', '-i', `rtmp://127.0.0.1:${port}/live/bench`, '-map', '0', '-c', 'copy', '-f', 'flv', 'pipe:1'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const st = { packets: 0, bytes: 0, video: 0, audio: 0, end: undefined };
const parser = new FlvParser();
let first = true;
parser.on('tag', (tag) => {
  if (tag.type !== 8 && tag.type !== 9) return; // script data
  // Codec configuration and end-of-sequence tags are not media packets (libavformat
  // does not return them as packets either): AVC packet type / AAC packet type 0, AVC 2.
  const d = tag.data;
  if (tag.type === 9 && (d[0] & 0x0f) === 7 && d[1] !== 1) return;
  if (tag.type === 8 && d[0] >> 4 === 10 && d[1] !== 1) return;
  st.packets++;
  st.bytes += tag.data.length;
  if (tag.type === 9) st.video++;
  else st.audio++;
  if (first) {
    first = false;
    say({ t: 'first', monoUs: mono(), wallUs: wall() });
  }
});
ff.stdout.on('data', (chunk) => parser.push(chunk));
ff.on('close', (code, signal) => {
  st.end = `ffmpeg exit ${code ?? signal}`;
  say({ t: 'done', listeners: [st], packets: st.packets, bytes: st.bytes });
  process.exit(0);
});
say({ t: 'spawned', ffmpegPid: ff.pid, ports: [port], monoUs: mono() });
setTimeout(() => {
  say({ t: 'timeout' });
  ff.kill('SIGKILL');
}, Number(values['max-seconds']) * 1000).unref();
process.on('SIGTERM', () => {
  ff.kill('SIGTERM');
});
