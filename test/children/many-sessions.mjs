// A child process for teardown with many live sessions: one RtmpIngest that
// takes any key (in the main thread, or in a worker thread), reports its
// port, and once `sessions` sessions are live ends in one of three ways:
//   close      ingest.close(), then the event loop empties and the process exits by itself
//   exit       process.exit(0) from the 'session' handler
//   terminate  worker.terminate() on the worker that runs the ingest
// It reports the open file descriptors before the ingest existed and after
// close()/terminate().
//
//   node test/children/many-sessions.mjs '{"mode":"close","sessions":50}'
import { readdirSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { RtmpIngest } from '../../dist/index.mjs';

const openFds = () => readdirSync('/proc/self/fd').length;

async function runIngest(config, post, onAllLive) {
  const ingest = new RtmpIngest({ url: 'rtmp://127.0.0.1:0', maxConnectionsPerAddress: 1000 });
  let live = 0;
  ingest.on('session', (session) => {
    session.resume();
    live++;
    post({ type: 'session', live });
    if (live === config.sessions) onAllLive(ingest);
  });
  const { port } = await ingest.listen();
  post({ type: 'listening', port });
}

if (isMainThread) {
  const config = JSON.parse(process.argv[2] ?? '{}');
  const say = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);
  say({ type: 'start' }); // stdout's pipe handle is made on first use: before the count
  const before = openFds();
  if (config.mode === 'terminate') {
    const worker = new Worker(new URL(import.meta.url), { workerData: config });
    worker.on('message', (msg) => {
      say(msg);
      if (msg.type === 'session' && msg.live === config.sessions) {
        worker.terminate().then((code) => say({ type: 'terminated', code, before, after: openFds() }));
      }
    });
    worker.on('error', (err) => say({ type: 'worker-error', message: String(err?.stack ?? err) }));
  } else {
    await runIngest(config, say, (ingest) => {
      if (config.mode === 'exit') process.exit(0);
      const t0 = performance.now();
      void ingest.close().then(() => say({ type: 'closed', ms: performance.now() - t0, before, after: openFds() }));
    });
  }
} else {
  await runIngest(workerData, (msg) => parentPort.postMessage(msg), () => {});
}
