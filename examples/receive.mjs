// Receives publishers one after another and prints what arrives.
//   node examples/receive.mjs [rtmp://0.0.0.0:1935/live/secret]
// Publish with OBS (Server rtmp://<host>:1935/live, Stream Key secret) or:
//   ffmpeg -re -i input.mp4 -c copy -f flv rtmp://127.0.0.1:1935/live/secret
import { RtmpIngest } from '../dist/index.mjs';

const url = process.argv[2] ?? 'rtmp://0.0.0.0:1935/live/secret';
const ingest = new RtmpIngest({ url, logLevel: 'warning' });
ingest.on('rejected', (r) => console.log(`rejected ${r.remoteAddress}: ${r.reason}`));
ingest.on('log', (l) => console.log(`[ffmpeg ${l.level}] ${l.message}`));
process.once('SIGINT', () => ingest.close());

const { host, port } = await ingest.listen();
console.log(`listening on ${host}:${port}; Ctrl-C to stop`);

for await (const session of ingest) {
  console.log(`session ${session.id} from ${session.remoteAddress}:`);
  for (const s of session.streams) console.log('  ', s.index, s.type, s.codec, s.profile ?? '', s.width ? `${s.width}x${s.height}` : '', s.sampleRate ?? '');
  session.on('end', (e) => console.log(`session ${session.id} ended: ${e.reason}${e.error ? ` (${e.error.code})` : ''}`, session.stats));
  let last = 0;
  for await (const packet of session) {
    if (packet.keyframe && packet.type === 'video' && packet.dts - last >= 2000) {
      last = packet.dts;
      console.log(`  keyframe at ${packet.dts} ms, ${session.stats.packets} packets, ${(session.stats.bytes / 1e6).toFixed(1)} MB`);
    }
  }
}
console.log('closed');
