// test/helpers/tls-terminator.ts, checked with node's own TLS client (the
// relay-over-rtmps tests build on it): a client that trusts the test CA gets
// through to the plain server, byte for byte, as localhost and as
// 127.0.0.1; one that does not is refused; stop() closes the port.
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { listeningPorts } from './helpers/net.js';
import { requireTlsTerminator, startTlsTerminator } from './helpers/tls-terminator.js';

let echo: Server | undefined;
afterEach(async () => {
  if (echo) await new Promise<void>((r) => echo!.close(() => r()));
  echo = undefined;
});

/** A plain TCP server on 127.0.0.1 that sends back what it gets, upper-cased. */
async function startEcho(): Promise<number> {
  echo = createServer((s) => s.on('data', (d: Buffer) => s.write(d.toString('latin1').toUpperCase())).on('error', () => {}));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  return (echo.address() as AddressInfo).port;
}

/** Connects with TLS, sends `text`, resolves with the reply (or rejects with the TLS error). */
function roundTrip(opts: ConnectionOptions, text: string): Promise<{ reply: string; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect(opts, () => s.write(text));
    s.once('error', reject);
    s.once('data', (d: Buffer) => {
      resolve({ reply: d.toString('latin1'), protocol: s.getProtocol() });
      s.destroy();
    });
  });
}

describe.skipIf(!requireTlsTerminator())('tls-terminator helper (stunnel)', () => {
  it('forwards a client that trusts the test CA, as localhost and as 127.0.0.1; refuses one that does not', async () => {
    const target = await startEcho();
    const t = await startTlsTerminator(target);
    expect(t.url()).toBe(`rtmps://127.0.0.1:${t.port}/live/key`);
    for (const servername of ['localhost', '127.0.0.1']) {
      const ok = await roundTrip({ host: '127.0.0.1', port: t.port, ca: readFileSync(t.caFile), servername }, 'hello');
      expect(ok.reply).toBe('HELLO');
    }
    await expect(roundTrip({ host: '127.0.0.1', port: t.port }, 'x')).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    await t.stop();
    expect(listeningPorts().has(t.port)).toBe(false);
    expect(existsSync(t.caFile)).toBe(false);
  });
});
