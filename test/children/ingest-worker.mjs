// A worker thread running an RtmpIngest from dist/ (see workers.mjs): posts
// its port, then its packet count after every batch of packets.
import { parentPort } from 'node:worker_threads';
import { RtmpIngest } from '../../dist/index.mjs';

const ingest = new RtmpIngest({ url: 'rtmp://127.0.0.1:0/live/key' });
ingest.on('session', (session) => {
  let packets = 0;
  parentPort.postMessage({ type: 'session' });
  session.on('packet', () => {
    packets++;
    parentPort.postMessage({ type: 'packets', packets });
  });
  session.on('end', (end) => parentPort.postMessage({ type: 'end', reason: end.reason, packets }));
});
const { port } = await ingest.listen();
parentPort.postMessage({ type: 'listening', port });
