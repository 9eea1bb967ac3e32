// The rtmp-ingest receivers of bench/record.mjs: one ingest on --port that
//   --format none     receives with a JS 'packet' listener counting (no recording: the baseline)
//   --format mp4|mpegts|mkv|flv   records with the ingest's record option to --dir
//   --js              and counts in a JS 'packet' listener beside the recorder
//   --max-buffer-ms N the recorder's maxBufferMs (default: the ingest's)
// and exits once the publisher has gone and the recorder has finished its file.
// node bench/recv-record.mjs --port P --format mp4 --dir D [--js]
// stdout: JSON lines {t:'ready'|'session'|'done', ...}.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { api, createIngest } from './rtmp-ingest-api.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    format: { type: 'string', default: 'none' },
    dir: { type: 'string' },
    js: { type: 'boolean', default: false },
    'max-buffer-ms': { type: 'string' },
    'max-seconds': { type: 'string', default: '600' },
  },
});
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const EXT = { mp4: 'mp4', mpegts: 'ts', mkv: 'mkv', flv: 'flv' };
const recording = values.format !== 'none';
const listen = !recording || values.js;
const path = recording ? join(values.dir, `{streamKey}.${EXT[values.format]}`) : undefined;

const ingest = createIngest({
  url: `rtmp://127.0.0.1:${values.port}/live/bench`,
  keepAlive: false,
  ...(recording ? { record: { path, format: values.format, ...(values['max-buffer-ms'] ? { maxBufferMs: Number(values['max-buffer-ms']) } : {}) } } : {}),
});
const st = { packets: 0, bytes: 0, video: 0, audio: 0, end: undefined };
let finishing = false;

ingest.on('session', (s) => {
  const recorder = s.recorders[0];
  say({ t: 'session', recording: !!recorder });
  if (listen) {
    s.on('packet', (p) => {
      st.packets++;
      st.bytes += p.size;
      if (p.type === 'video') st.video++;
      else if (p.type === 'audio') st.audio++;
    });
  }
  let lastSegment;
  recorder?.on('segment', (seg) => (lastSegment = seg));
  s.on('end', async (e) => {
    st.end = e.reason + (e.error ? `: ${e.error.code ?? ''} ${e.error.message ?? ''}` : '');
    if (recorder) await recorder.finished;
    void finish(recorder ? { ...recorder.stats, error: recorder.error?.message, file: lastSegment?.path } : undefined);
  });
});

async function finish(recorder) {
  if (finishing) return;
  finishing = true;
  say({ t: 'done', api, listeners: [st], packets: listen ? st.packets : undefined, bytes: listen ? st.bytes : undefined, recorder });
  await ingest.close();
  process.exit(0);
}

const bound = await ingest.listen();
say({ t: 'ready', api, ports: [bound.port] });
setTimeout(() => {
  say({ t: 'timeout' });
  void finish();
}, Number(values['max-seconds']) * 1000).unref();
