// The receivers, each started in a child process of its own under
// rusage-wrap so that its CPU and peak RSS are its own:
//   rtmp-ingest        this package, counting in a JS 'packet' handler
//   ffmpeg-cli         `ffmpeg -listen 1 -i rtmp://... -c copy -f null -` (native ceiling, no JS)
//   node-media-server  4.4.3, pure JS
//   ffmpeg-pipe        child ffmpeg -> FLV on a pipe -> FLV parsed in JS
//   node-av            node-av's Demuxer on the listen URL
//   nginx-rtmp         Debian's nginx with libnginx-mod-rtmp, one process, a
//                      `live on` application without subscribers (the C reference)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { BENCH_DIR, CACHE_DIR, ROOT, startMeasured, waitForPort } from './measure.mjs';

const require = createRequire(join(ROOT, 'package.json'));

const node = process.execPath;
const script = (name) => join(BENCH_DIR, name);

export const RECEIVERS = [
  { id: 'rtmp-ingest', label: 'rtmp-ingest', js: true },
  { id: 'ffmpeg-cli', label: 'ffmpeg CLI -f null (no JS)', js: false },
  { id: 'node-media-server', label: 'node-media-server 4.4.3', js: true },
  { id: 'ffmpeg-pipe', label: 'ffmpeg child + FLV pipe parsed in JS', js: true },
  { id: 'node-av', label: 'node-av Demuxer', js: true },
  { id: 'nginx-rtmp', label: 'nginx-rtmp (nginx + libnginx-mod-rtmp, no JS)', js: false },
];

export const NGINX_INSTALL = 'apt-get install nginx libnginx-mod-rtmp';
// The chunk size nginx-rtmp announces (set in its config): the ffmpeg publishers mirror it.
export const NGINX_CHUNK = 4096;

/** The rtmp module Debian installs, or undefined. */
export function nginxRtmpModule() {
  const known = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
  if (existsSync(known)) return known;
  // modules-available names it relative to nginx's prefix (/usr/share/nginx).
  try {
    const conf = readFileSync('/usr/share/nginx/modules-available/mod-rtmp.conf', 'utf8');
    const rel = conf.match(/load_module\s+([^;]+);/)?.[1];
    if (rel) {
      const path = rel.startsWith('/') ? rel : join('/usr/share/nginx', rel);
      if (existsSync(path)) return path;
    }
  } catch {
    /* not installed */
  }
  return undefined;
}

/**
 * nginx in the foreground, one process (master_process off), everything it
 * writes in a folder of its own. It keeps no packet count: its access log
 * line, written when the publisher disconnects, gives the bytes it read
 * after the handshake ($bytes_received), which the bench checks against the
 * fewest bytes that carry the input's media (inputs.mjs, wireMinBytes).
 */
export function nginxConfig(dir, port, module, connections = 64) {
  return `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile ${connections * 2 + 64};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
load_module ${module};
events { worker_connections ${connections}; }
rtmp {
  log_format bench '$command $bytes_received';
  access_log ${dir}/access.log bench;
  server {
    listen 127.0.0.1:${port};
    chunk_size ${NGINX_CHUNK};
    # Its default of 1M drops a publisher whose key frames are larger (the 2160p30 input's).
    max_message 16M;
    application live { live on; }
  }
}
`;
}

/** Why a receiver cannot run here, or undefined when it can. */
export function unavailableReason(id) {
  try {
    switch (id) {
      case 'rtmp-ingest':
        require.resolve(join(ROOT, 'build', 'Release', 'rtmp_ingest.node'));
        return undefined;
      case 'ffmpeg-cli':
      case 'ffmpeg-pipe':
        return spawnSync('ffmpeg', ['-version']).status === 0 ? undefined : 'no ffmpeg on PATH';
      case 'node-media-server':
        require.resolve('node-media-server');
        return undefined;
      case 'nginx-rtmp':
        if (spawnSync('nginx', ['-v']).status !== 0) return `nginx is not installed (${NGINX_INSTALL})`;
        return nginxRtmpModule() ? undefined : `the nginx rtmp module is not installed (${NGINX_INSTALL})`;
      case 'node-av': {
        const r = spawnSync(node, ['--input-type=module', '-e', "const m = await import('node-av'); if (!m.Demuxer) throw new Error('no Demuxer export');"], {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 30_000,
        });
        return r.status === 0 ? undefined : `node-av does not load: ${(r.stderr || String(r.error)).trim().split('\n').slice(-3).join(' ')}`;
      }
      default:
        return 'unknown receiver';
    }
  } catch (err) {
    return `not installed (${err.code ?? err.message})`;
  }
}

/**
 * What the ffmpeg CLI demuxed, from its closing statistics at -loglevel
 * verbose: "Input stream #0:0 (video): 3600 packets read (146484123 bytes);"
 * ... "Total: 6414 packets (151939768 bytes) demuxed".
 */
function parseFfmpegSummary(stderr) {
  const total = stderr.match(/Total: (\d+) packets \((\d+) bytes\) demuxed/);
  if (!total) return undefined;
  const count = (type) => Number(stderr.match(new RegExp(`Input stream #0:\\d+ \\(${type}\\): (\\d+) packets read`))?.[1] ?? 0);
  return { packets: Number(total[1]), bytes: Number(total[2]), video: count('video'), audio: count('audio') };
}

/**
 * Starts a receiver on `port` (listeners > 1: rtmp-ingest only, ports[]).
 * latency (rtmp-ingest only): take every packet's hop latency; the other
 * runs only count, like the other receivers. pinCpu (rtmp-ingest only): run
 * node, all its threads, on that one CPU (taskset -c).
 * Resolves once it listens, with { h (measured handle), ports, result() },
 * where result() resolves after exit with what it counted.
 */
export async function startReceiver(id, { port, ports, maxSeconds = 600, progressBytes = 0, latency = false, pinCpu, onStderr } = {}) {
  ports = ports ?? [port];
  let h;
  const args = ['--max-seconds', String(maxSeconds)];
  switch (id) {
    case 'rtmp-ingest':
      h = await startMeasured(id, pinCpu === undefined ? node : 'taskset', [...(pinCpu === undefined ? [] : ['-c', String(pinCpu), node]), script('recv-rtmp-ingest.mjs'), '--listeners', String(ports.length), '--ports', ports.join(','), '--progress', String(progressBytes), ...(latency ? ['--latency'] : []), ...args], { env: { ...process.env } });
      await h.waitLine((m) => m.t === 'ready', 30_000);
      break;
    case 'ffmpeg-cli':
      h = await startMeasured(
        id,
        'ffmpeg',
        // verbose: its closing statistics count the packets it demuxed (nothing per packet is logged).
        ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'verbose', '-listen', '1', '-i', `rtmp://127.0.0.1:${port}/live/bench`, '-map', '0', '-c', 'copy', '-f', 'null', '-'],
        { stdout: 'ignore', onStderr },
      );
      break;
    case 'node-media-server':
      h = await startMeasured(id, node, [script('recv-nms.mjs'), '--port', String(port), ...args], { onStderr });
      await h.waitLine((m) => m.t === 'ready', 30_000);
      break;
    case 'ffmpeg-pipe':
      h = await startMeasured(id, node, [script('recv-ffmpeg-pipe.mjs'), '--port', String(port), ...args], { onStderr });
      break;
    case 'node-av':
      h = await startMeasured(id, node, [script('recv-node-av.mjs'), '--port', String(port), ...args], { onStderr, env: { ...process.env } });
      break;
    case 'nginx-rtmp': {
      const dir = mkdtempSync(join(CACHE_DIR, `nginx-${process.pid}-`));
      const conf = join(dir, 'nginx.conf');
      writeFileSync(conf, nginxConfig(dir, port, nginxRtmpModule()));
      // -e: the error log before the config is read is in the folder too.
      h = await startMeasured(id, 'nginx', ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', conf], { stdout: 'ignore', onStderr });
      // It serves on after the publisher leaves: stop it once the access log
      // has the session's line (written at the disconnect).
      const accessLog = join(dir, 'access.log');
      const readLog = () => {
        try {
          return readFileSync(accessLog, 'utf8');
        } catch {
          return '';
        }
      };
      const timer = setInterval(() => {
        if (/PUBLISH/.test(readLog())) {
          clearInterval(timer);
          // Its end, for the throughput: when it wrote the line, not when it was stopped.
          h.doneWallUs = Math.round(statSync(accessLog).mtimeMs * 1000);
          void h.kill(3000, 'SIGTERM');
        }
      }, 20);
      void h.exited.then(() => clearInterval(timer));
      h.nginx = { dir, readLog };
      break;
    }
    default:
      throw new Error(`unknown receiver ${id}`);
  }
  for (const p of ports) await waitForPort(p, { handle: h, timeoutMs: 30_000 });
  const result = async () => {
    await h.exited;
    if (id === 'nginx-rtmp') {
      const line = h.nginx.readLog().split('\n').find((l) => l.includes('PUBLISH'));
      const errors = (() => {
        try {
          return readFileSync(join(h.nginx.dir, 'error.log'), 'utf8');
        } catch {
          return '';
        }
      })();
      rmSync(h.nginx.dir, { recursive: true, force: true });
      if (!line) throw new Error(`nginx-rtmp logged no publish session (${JSON.stringify(h.exitInfo)}): ${errors.slice(-2000)}`);
      return { wireBytes: Number(line.split(' ')[1]), listeners: [{ end: 'disconnect' }] };
    }
    if (id === 'ffmpeg-cli') {
      const s = parseFfmpegSummary(h.stderr());
      if (!s) throw new Error(`ffmpeg-cli ended without its statistics (${JSON.stringify(h.exitInfo)}): ${h.stderr().slice(-2000)}`);
      return { packets: s.packets, bytes: s.bytes, listeners: [{ ...s, end: `exit ${h.exitInfo.code}` }] };
    }
    const done = h.lines.find((m) => m.t === 'done');
    if (!done) throw new Error(`${id} ended without results (${JSON.stringify(h.exitInfo)}): ${h.stderr().slice(-2000)}`);
    return done;
  };
  return { h, ports, result };
}
