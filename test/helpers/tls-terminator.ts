// A TLS terminator in front of a plain RTMP receiver, for rtmps:// tests:
// stunnel (Debian's stunnel4) accepts TLS on a free 127.0.0.1 port and
// forwards the decrypted bytes to 127.0.0.1:targetPort, with a CA and a
// server certificate made for the test by the openssl CLI in a temporary
// folder. A client that trusts `caFile` (FFmpeg: `ca_file`) verifies the
// server as `localhost` or `127.0.0.1`; one that does not must fail.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { getFreePort, waitForListeningPort } from './net.js';
import { spawnTracked, type ChildHandle } from './process.js';
import { requireTool } from './publishers.js';

export interface TestCertificates {
  dir: string;
  /** The test CA's certificate (PEM): what a client must trust. */
  caFile: string;
  /** The server's certificate (PEM), signed by the CA, for `hostnames` and `ips`. */
  certFile: string;
  /** The server's private key (PEM, unencrypted). */
  keyFile: string;
}

export interface CertificateOptions {
  /** DNS names in the server certificate's subjectAltName (default ['localhost']). */
  hostnames?: string[];
  /** IP addresses in its subjectAltName (default ['127.0.0.1']). */
  ips?: string[];
  /** Days the certificates are valid from now (default 2). */
  days?: number;
}

/**
 * A CA (P-256, CA:TRUE) and a server certificate signed by it (serverAuth,
 * subjectAltName from `opts`), made by the openssl CLI in `dir`.
 */
export function makeTestCertificates(dir: string, opts: CertificateOptions = {}): TestCertificates {
  const { hostnames = ['localhost'], ips = ['127.0.0.1'], days = 2 } = opts;
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', String(days),
    '-subj', '/CN=rtmp-ingest test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${hostnames[0] ?? ips[0] ?? 'localhost'}`);
  const san = [...hostnames.map((h) => `DNS:${h}`), ...ips.map((ip) => `IP:${ip}`)].join(',');
  writeFileSync(join(dir, 'server.ext'),
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n${san ? `subjectAltName=${san}\n` : ''}`);
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '2',
    '-days', String(days), '-extfile', 'server.ext', '-out', 'server.pem');
  return { dir, caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') };
}

export interface TlsTerminatorOptions extends CertificateOptions {
  /** The port to accept TLS on (default: a free one). */
  port?: number;
}

export interface TlsTerminator extends TestCertificates {
  /** The 127.0.0.1 port that takes TLS connections. */
  port: number;
  /** The port the plain connections go to (127.0.0.1). */
  targetPort: number;
  /** `rtmps://127.0.0.1:<port>/<path>` (default path live/key). */
  url(path?: string): string;
  handle: ChildHandle;
  /** Stops stunnel and removes the certificates. Idempotent; also run when the test that started it ends. */
  stop(): Promise<void>;
}

/** Whether stunnel and openssl are there (Debian: stunnel4, openssl); throws under CI when not. */
export function requireTlsTerminator(): boolean {
  return requireTool('stunnel4') && requireTool('openssl');
}

/**
 * Starts stunnel on 127.0.0.1 (a free port unless `opts.port`), forwarding
 * each TLS connection, decrypted, to 127.0.0.1:targetPort, with a fresh CA
 * and server certificate (`makeTestCertificates`). Resolves once it listens.
 */
export async function startTlsTerminator(targetPort: number, opts: TlsTerminatorOptions = {}): Promise<TlsTerminator> {
  const dir = mkdtempSync(join(tmpdir(), 'rtmp-ingest-tls-'));
  const certs = makeTestCertificates(dir, opts);
  const port = opts.port ?? (await getFreePort());
  const config = join(dir, 'stunnel.conf');
  writeFileSync(config, [
    // In the foreground, logging to stderr (ChildHandle.stderr()), no pid file, no syslog.
    'foreground = yes',
    'pid =',
    'syslog = no',
    'debug = notice',
    '[rtmps]',
    `accept = 127.0.0.1:${port}`,
    `connect = 127.0.0.1:${targetPort}`,
    `cert = ${certs.certFile}`,
    `key = ${certs.keyFile}`,
    '',
  ].join('\n'));
  const handle = spawnTracked('stunnel4', [config]);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await handle.kill();
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    await waitForListeningPort(port, { process: handle });
  } catch (e) {
    await stop();
    throw e;
  }
  try {
    onTestFinished(stop);
  } catch {
    /* not inside a test: the caller stops it */
  }
  return {
    ...certs,
    port,
    targetPort,
    url: (path = 'live/key') => `rtmps://127.0.0.1:${port}/${path}`,
    handle,
    stop,
  };
}
