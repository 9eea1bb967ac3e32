// Ingests dropped without listening (constructed, unref'd, closed, or
// whose listen() failed) or after listen() and close() must be garbage-
// collected: the wrapper makes the native server (and its thread-safe
// function, a GC root) only in listen(), and releases it on failure and on
// close(). Run with --expose-gc; reports {type:'result', made, alive,
// listeningAlive, fds}: fds counts the open file descriptors at the start,
// while 4 ingests listen (each: its listening socket and the eventfd that
// wakes its accept thread), and
// once they are closed.
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { RtmpIngest } from '../../dist/index.mjs';

const say = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);

// A port that is taken, for listen() to fail on.
const blocker = net.createServer();
await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
const takenPort = blocker.address().port;
const openFds = () => readdirSync('/proc/self/fd').length;
const fdsAtStart = openFds();

const refs = [];
async function make(i) {
  const kind = i % 5;
  const ingest = new RtmpIngest({ url: `rtmp://127.0.0.1:${kind === 3 ? takenPort : 0}/live/key` });
  ingest.on('session', () => {}); // a handler that closes over nothing but the ingest
  if (kind === 1) ingest.unref();
  if (kind === 2) await ingest.close();
  if (kind === 3) await ingest.listen().catch(() => {}); // EADDRINUSE
  if (kind === 4) await ingest.listen().then(() => ingest.close()); // listened, then closed
  refs.push(new WeakRef(ingest));
}
for (let i = 0; i < 40; i++) await make(i);
// The control: listening ingests, also unreferenced here, must stay alive
// (their thread-safe function is a GC root), or alive: 0 proves nothing.
const controls = [];
for (let i = 0; i < 4; i++) {
  const ingest = new RtmpIngest({ url: 'rtmp://127.0.0.1:0/live/key' });
  await ingest.listen();
  ingest.unref();
  controls.push(new WeakRef(ingest));
}

// No deref() until the end: a WeakRef's target is kept alive for the rest
// of the job in which deref() returned it.
const turn = () => new Promise((resolve) => setImmediate(resolve));
for (let round = 0; round < 10; round++) {
  await turn();
  globalThis.gc();
}
await turn();
const listening = controls.map((r) => r.deref()).filter(Boolean);
const fdsListening = openFds();
await Promise.all(listening.map((ingest) => ingest.close()));
say({
  type: 'result',
  made: refs.length,
  alive: refs.filter((r) => r.deref()).length,
  which: refs.flatMap((r, i) => (r.deref() ? [i] : [])),
  listeningAlive: listening.length,
  fds: { atStart: fdsAtStart, listening: fdsListening, closed: openFds() },
});
blocker.close();
