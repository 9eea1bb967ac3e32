// A child process whose worker threads each run an RtmpIngest (see
// ingest-worker.mjs). The main thread reports each worker's port, forwards
// their packet counts, and terminates a worker with worker.terminate() once
// it has received `terminateAfter` packets, mid-stream. It then leaves the
// event loop empty: the process must exit by itself with code 0.
//
//   node test/children/workers.mjs '{"workers":2,"terminateAfter":30}'
import { Worker } from 'node:worker_threads';

const config = JSON.parse(process.argv[2] ?? '{}');
const say = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);
const count = config.workers ?? 1;

for (let id = 0; id < count; id++) {
  const worker = new Worker(new URL('./ingest-worker.mjs', import.meta.url));
  let terminating = false;
  worker.on('message', (msg) => {
    say({ ...msg, worker: id });
    if (msg.type === 'packets' && msg.packets >= config.terminateAfter && !terminating) {
      terminating = true;
      say({ type: 'terminating', worker: id });
      worker.terminate().then((code) => say({ type: 'terminated', worker: id, code }));
    }
  });
  worker.on('error', (err) => say({ type: 'worker-error', worker: id, message: String(err?.stack ?? err) }));
  worker.on('exit', (code) => say({ type: 'exit', worker: id, code }));
}
