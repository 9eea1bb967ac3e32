// Receiver 3: node-media-server (pure-JS RTMP server) as shipped, counting
// the packets it hands to its broadcast stage (where NMS's own per-packet
// work, FLV/RTMP message building for its GOP cache, happens as usual).
// node bench/recv-nms.mjs --port P [--record DIR]
// --record DIR: with its record option (auto, FLV files under DIR/live/bench/);
// exits once the publisher has gone and the file is closed (bench/record.mjs).
// stdout: JSON lines like recv-rtmp-ingest.mjs.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { values } = parseArgs({ options: { port: { type: 'string' }, record: { type: 'string' }, 'max-seconds': { type: 'string', default: '600' } } });
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const mono = () => Number(process.hrtime.bigint() / 1000n);
const wall = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

const NodeMediaServer = require('node-media-server');
const logger = require('node-media-server/src/core/logger.js');
const version = require('node-media-server/package.json').version;

const storeDir = mkdtempSync(join(tmpdir(), 'bench-nms-'));
const port = Number(values.port);
const recordDir = values.record;
const nms = new NodeMediaServer({ bind: '127.0.0.1', rtmp: { port }, store: { path: storeDir }, ...(recordDir ? { record: { path: recordDir } } : {}) });
logger.level = 'error'; // the constructor sets 'debug'; printing is not the work measured
const st = { packets: 0, bytes: 0, video: 0, audio: 0, end: undefined };
let finished = false;

nms.on('postPublish', (session) => {
  say({ t: 'session', monoUs: mono(), wallUs: wall() });
  const original = session.broadcast.broadcastMessage;
  let first = true;
  session.broadcast.broadcastMessage = (packet) => {
    // codec_type 8 = audio, 9 = video; flags 1 audio frame, 3 key frame, 4 inter frame
    // (0/2 are the codec headers, 5 onMetaData: libavformat does not return those as packets)
    if ((packet.codec_type === 8 || packet.codec_type === 9) && (packet.flags === 1 || packet.flags === 3 || packet.flags === 4)) {
      st.packets++;
      st.bytes += packet.size;
      if (packet.codec_type === 9) st.video++;
      else st.audio++;
      if (first) {
        first = false;
        say({ t: 'first', monoUs: mono(), wallUs: wall() });
      }
    }
    return original(packet);
  };
  session.socket.once('close', () => {
    st.end = 'close';
    if (recordDir) void finishRecording(session);
    else void finish();
  });
});

/**
 * NMS keeps a publish (and its recording) open for a grace period after the
 * publisher leaves, in case it comes back: the bench ends it at once (as the
 * grace timer would) and waits for the record file to be closed.
 */
async function finishRecording(session) {
  const recorder = [...nms.recordServer._activeRecords.values()][0];
  session.broadcast._finishPublish();
  if (recorder && !recorder.fileStream.closed) await new Promise((resolve) => recorder.fileStream.once('close', resolve));
  void finish(recorder ? { file: recorder.filePath, bytes: recorder.outBytes } : undefined);
}

async function finish(recorder) {
  if (finished) return;
  finished = true;
  say({ t: 'done', version, listeners: [st], packets: st.packets, bytes: st.bytes, recorder });
  try {
    await nms.stop();
  } catch {
    /* best effort */
  }
  rmSync(storeDir, { recursive: true, force: true });
  process.exit(0);
}

await nms.run();
say({ t: 'ready', ports: [port], monoUs: mono(), version });
setTimeout(() => {
  say({ t: 'timeout' });
  void finish();
}, Number(values['max-seconds']) * 1000).unref();
