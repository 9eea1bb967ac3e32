// nginx-rtmp (Debian's nginx with libnginx-mod-rtmp) as a relay target: it
// records what it is published to an FLV file, which ffprobe then reads.
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nginxRtmpModule } from '../../bench/receivers.mjs';
import { getFreePort, waitForListeningPort } from './net.js';
import { spawnTracked, type ChildHandle } from './process.js';
import { missing } from './publishers.js';

export interface NginxRtmp {
  port: number;
  /** The files it recorded so far (application 'out', one per publish). */
  recordings(): string[];
  handle: ChildHandle;
}

/** Whether nginx and its rtmp module are here (throws under CI when not, like requireTool). */
export function requireNginxRtmp(): boolean {
  return nginxRtmpModule() !== undefined || missing('nginx with libnginx-mod-rtmp');
}

/** nginx-rtmp on a free 127.0.0.1 port: application 'out' records every publish whole (record all). */
export async function startNginxRtmp(): Promise<NginxRtmp> {
  const dir = mkdtempSync(join(tmpdir(), 'rtmp-ingest-nginx-'));
  const port = await getFreePort();
  const conf = join(dir, 'nginx.conf');
  mkdirSync(join(dir, 'rec'));
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
load_module ${nginxRtmpModule()};
events { worker_connections 64; }
rtmp {
  server {
    listen 127.0.0.1:${port};
    max_message 16M;
    application out {
      live on;
      record all;
      record_path ${dir}/rec;
      record_unique on;
    }
  }
}
`,
  );
  const handle = spawnTracked('nginx', ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', conf]);
  await waitForListeningPort(port);
  return {
    port,
    handle,
    recordings: () => {
      try {
        return readdirSync(join(dir, 'rec')).filter((f) => f.endsWith('.flv')).map((f) => join(dir, 'rec', f));
      } catch {
        return [];
      }
    },
  };
}
