// Port helpers. The RTMP listeners under test (ffmpeg -listen 1, the addon)
// accept exactly one connection, so readiness must be observed without
// connecting: the kernel's socket table in /proc/net/tcp{,6} tells whether
// anything is LISTENing on a port.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { onTestFinished } from 'vitest';
import type { ChildHandle } from './process.js';

const TCP_LISTEN = '0A';

/** A port that was free a moment ago on 127.0.0.1 (the kernel picks it). */
export function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('could not get a free port'));
      });
    });
  });
}

/** Ports in LISTEN state in this network namespace (IPv4 and IPv6). */
export function listeningPorts(): Set<number> {
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // no IPv6 in this kernel
    }
    for (const line of text.split('\n').slice(1)) {
      // "  sl  local_address rem_address   st ..." -> local "0100007F:4B97", st "0A"
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== TCP_LISTEN) continue;
      const local = cols[1] ?? '';
      const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
      if (Number.isFinite(port)) ports.add(port);
    }
  }
  return ports;
}

export interface WaitForPortOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Fail fast, with its stderr, if this process exits before the port appears. */
  process?: ChildHandle;
}

/** Resolves once something listens on `port`; never connects to it. */
export async function waitForListeningPort(port: number, opts: WaitForPortOptions = {}): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 20, process: proc } = opts;
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc?.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (listeningPorts().has(port)) return;
    if (exited && proc) {
      throw new Error(`${proc.command}\n exited before listening on port ${port}; stderr:\n${proc.stderr()}`);
    }
    if (Date.now() > deadline) {
      const extra = proc ? `; stderr of ${proc.command}:\n${proc.stderr()}` : '';
      throw new Error(`nothing listened on port ${port} within ${timeoutMs} ms${extra}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface TcpStats {
  state: string;
  bytesSent: number;
  bytesReceived: number;
  /** Bytes written by the process and not yet acknowledged by the peer (ss's Send-Q). */
  sendQueue: number;
}

/**
 * Kernel counters (`ss -ti`) of the established connection whose peer port is
 * `peerPort` (i.e. the client side of a connection to a listener on it), or
 * undefined when there is none. Needs iproute2's `ss`.
 */
export async function clientTcpStats(peerPort: number): Promise<TcpStats | undefined> {
  const out = await new Promise<string>((resolve, reject) => {
    execFile('ss', ['-tinH', 'state', 'established', `( dport = :${peerPort} )`], (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
  if (!out.trim()) return undefined;
  const num = (re: RegExp): number => Number(out.match(re)?.[1] ?? 0);
  // First line: Recv-Q Send-Q local peer (no State column with a state filter).
  const sendQueue = Number(out.trim().split(/\s+/)[1]);
  return { state: 'ESTABLISHED', bytesSent: num(/bytes_sent:(\d+)/), bytesReceived: num(/bytes_received:(\d+)/), sendQueue };
}

/**
 * Polls clientTcpStats(peerPort) until `ok(stats, previous sample)` holds and
 * resolves with those stats; rejects with the last sample after timeoutMs.
 */
export async function waitForTcpStats(
  peerPort: number,
  ok: (stats: TcpStats, previous: TcpStats | undefined) => boolean,
  what: string,
  { timeoutMs = 10_000, intervalMs = 50 } = {},
): Promise<TcpStats> {
  const deadline = Date.now() + timeoutMs;
  let previous: TcpStats | undefined;
  for (;;) {
    const stats = await clientTcpStats(peerPort);
    if (stats && ok(stats, previous)) return stats;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(stats)}`);
    previous = stats;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface SlowLink {
  port: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy to 127.0.0.1:targetPort whose client -> server direction
 * carries at most `bytesPerSecond`, in slices every 50 ms: a publisher on a
 * slow uplink. Closed when the test that started it ends.
 */
export async function startSlowLink(targetPort: number, bytesPerSecond: number): Promise<SlowLink> {
  const sockets = new Set<Socket>();
  const slice = Math.max(1, Math.floor(bytesPerSecond / 20));
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    upstream.on('close', () => client.destroy());
    upstream.pipe(client);
    let sending = Promise.resolve();
    client.on('data', (data: Buffer) => {
      client.pause();
      sending = sending.then(async () => {
        for (let at = 0; at < data.length && !upstream.destroyed; at += slice) {
          upstream.write(data.subarray(at, at + slice));
          await sleep(50);
        }
        client.resume();
      });
    });
    // The publisher's close reaches the server after everything it sent.
    client.on('end', () => void sending.then(() => upstream.end()));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const close = (): Promise<void> =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  try {
    onTestFinished(close);
  } catch {
    /* not inside a test */
  }
  return { port: (server.address() as AddressInfo).port, close };
}
