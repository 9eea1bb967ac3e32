// A child process running one RtmpIngest from the built package (dist/),
// configured by a JSON argument, reporting what happens as JSON lines on
// stdout. Used by test/teardown.test.ts for what only a separate process can
// show: whether the process exits by itself, exit codes, crashes at exit,
// uncaught exceptions.
//
//   node test/children/ingest.mjs '{"options":{...},"unref":true,...}'
//
// config:
//   options           RtmpIngest options (url defaults to rtmp://127.0.0.1:0/live/key)
//   unref             'after-listen' | 'before-listen' | 'toggle' (unref then ref again)
//   exitAfterPackets  process.exit(0) from the 'packet' handler of packet #n (1-based)
//   throwEvery        the 'packet' handler throws Error(`boom #n`) on every n-th packet
//   uncaughtHandler   install process.on('uncaughtException') that counts and reports
//   dropReference     keep no reference to the ingest (only its own handlers and a WeakRef)
//   gc                call global.gc() (needs --expose-gc) after listen and on every session event
//   exitWhenEnded     process.exit(0) once a session has ended (after reporting it)
//   aliveProbeMs      after listen() and after each session's end, start an unref'd timer of this many ms
//                     that reports {type:'alive', after:'listen'|'end'}: it fires only if something else
//                     (the listening ingest) keeps the process alive that long
//   packets           report every packet (helpers/packet-record.mjs: its fields and the sha256 of its data)
import { RtmpIngest } from '../../dist/index.mjs';
import { packetRecord } from '../helpers/packet-record.mjs';

const config = JSON.parse(process.argv[2] ?? '{}');
const say = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);
const collect = () => {
  if (config.gc) for (let i = 0; i < 3; i++) globalThis.gc();
};

let uncaught = 0;
if (config.uncaughtHandler) {
  process.on('uncaughtException', (err) => {
    uncaught++;
    say({ type: 'uncaught', message: String(err?.message ?? err), count: uncaught });
  });
}

let weak;

const probeAlive = (after) => {
  if (config.aliveProbeMs !== undefined) setTimeout(() => say({ type: 'alive', after }), config.aliveProbeMs).unref();
};

async function start() {
  const ingest = new RtmpIngest({ url: 'rtmp://127.0.0.1:0/live/key', ...(config.options ?? {}) });
  if (config.unref === 'before-listen') ingest.unref();
  ingest.on('error', (err) => say({ type: 'error', code: err.code, message: err.message }));
  ingest.on('rejected', (r) => say({ type: 'rejected', reason: r.reason }));
  ingest.on('close', () => say({ type: 'close' }));
  let packets = 0;
  ingest.on('session', (session) => {
    say({ type: 'session', id: session.id });
    collect();
    session.on('packet', (p) => {
      packets++;
      if (config.packets) say({ type: 'packet', n: packets, packet: packetRecord(p) });
      if (config.exitAfterPackets !== undefined && packets === config.exitAfterPackets) {
        say({ type: 'exiting', packets });
        process.exit(0);
      }
      if (config.throwEvery !== undefined && packets % config.throwEvery === 0) {
        throw new Error(`boom #${packets}`);
      }
    });
    session.on('end', (end) => {
      say({ type: 'end', reason: end.reason, code: end.error?.code, packets, uncaught });
      collect();
      probeAlive('end');
      if (config.exitWhenEnded) process.exit(0);
    });
  });
  const { port } = await ingest.listen();
  if (config.unref === 'after-listen') ingest.unref();
  if (config.unref === 'toggle') ingest.unref().ref();
  if (config.dropReference) weak = new WeakRef(ingest);
  say({ type: 'listening', port });
  probeAlive('listen');
  return config.dropReference ? undefined : ingest;
}

// Kept only when dropReference is not set.
const kept = await start();
collect();
if (config.dropReference) say({ type: 'collected', collected: weak.deref() === undefined });
void kept;
