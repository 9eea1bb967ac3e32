// rtmp-ingest as the bench uses it: the public API from dist/ (`npm run
// build` makes it). `api` names it in the report.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './measure.mjs';

const require = createRequire(import.meta.url);
// RTMP_INGEST_BENCH_ROOT: another build's root (bench/ab.mjs compares two).
const entry = join(process.env.RTMP_INGEST_BENCH_ROOT || ROOT, 'dist', 'index.js');
if (!existsSync(entry)) throw new Error(`bench: ${entry} is missing; run \`npm run build\` first`);
const { RtmpIngest } = require(entry);

export const api = 'public API (dist/)';

export function createIngest(opts) {
  return new RtmpIngest({ logLevel: 'error', ...opts });
}
