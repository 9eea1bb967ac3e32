// The benchmark (bench/, issue 4) must keep working: run its quick mode and
// check that every receiver that is installed here produced results. No
// timing is asserted: the numbers belong in BENCHMARKS.md, not in a test.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { GST_PUBLISH_ELEMENTS, requireGstElements, requireTool } from './helpers/publishers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = mkdtempSync(join(tmpdir(), 'rtmp-ingest-bench-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

interface ReceiverSummary {
  runs: number;
  cpuSecPerGB?: number;
  complete?: boolean;
  fromIncomplete?: boolean;
  error?: string;
}
interface Trial {
  receiver: string;
  ok: boolean;
  wallUs?: number;
  synAfterConnectCallUs?: number;
}
interface Throughput {
  publishers: string[];
  trials: Trial[];
  summary: Record<string, Record<string, ReceiverSummary>>;
}
interface BenchResults {
  mode: string;
  receivers: string[];
  availability: Record<string, string | null>;
  throughput?: Throughput;
  throughputLinger?: Throughput;
  latency?: { hop?: { all?: { count: number } }[]; startup?: { summary: Record<string, { runs: number }> } };
  scale?: { listeners: number; lost?: number; error?: string }[];
  memory?: { idle?: { rssMiB: number }; soak?: { bytes?: number; error?: string } };
  targets: { target: string; met: boolean }[];
}

function runQuickBench(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bench', 'run.mjs'), '--quick', '--out', outDir], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 280_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

// tcpdump: the publishers' connect times are their SYNs captured on the loopback interface.
const tools = requireTool('ffmpeg') && requireTool('ffprobe') && requireTool('cc') && requireTool('tcpdump') && requireGstElements(...GST_PUBLISH_ELEMENTS);

describe.skipIf(!tools)('npm run bench -- --quick', () => {
  it('completes and reports every installed receiver', { timeout: 300_000 }, async () => {
    const { code, output } = await runQuickBench();
    expect(code, output.slice(-4000)).toBe(0);
    const res = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')) as BenchResults;
    expect(res.mode).toBe('quick');
    // The package itself must always be measured; peers only where they installed,
    // and a peer that did not gets its reason recorded.
    expect(res.receivers).toContain('rtmp-ingest');
    expect(res.receivers).toContain('ffmpeg-cli');
    for (const [id, reason] of Object.entries(res.availability)) {
      if (!res.receivers.includes(id)) expect(typeof reason, id).toBe('string');
    }
    const md = readFileSync(join(outDir, 'BENCHMARKS.md'), 'utf8');
    // Publishers as installed: rtmp-ingest gets every packet; a peer that
    // lost some is flagged in the report, not hidden.
    const tp = res.throughput!;
    for (const pub of tp.publishers) {
      for (const rec of res.receivers) {
        const s = tp.summary[pub]![rec]!;
        expect(s.runs, `${pub} -> ${rec}: ${s.error ?? ''}\n${output.slice(-3000)}`).toBeGreaterThan(0);
        expect(s.cpuSecPerGB, `${pub} -> ${rec}`).toBeGreaterThan(0);
        if (rec === 'rtmp-ingest') expect(s.complete, `${pub} -> rtmp-ingest received every packet`).toBe(true);
        else if (!s.complete) expect(md, `${pub} -> ${rec} lost packets: flagged`).toContain('**lost packets**');
      }
    }
    for (const t of tp.trials.filter((x) => x.ok)) expect(t.wallUs, `${t.receiver}: the publisher's SYN was captured`).toBeGreaterThan(0);
    // Quick mode runs no shimmed publisher (publishers in tests run unmodified).
    expect(res.throughputLinger?.trials ?? []).toHaveLength(0);
    expect(res.latency?.hop?.[0]?.all?.count).toBeGreaterThan(0);
    expect(res.latency?.startup?.summary['rtmp-ingest']?.runs).toBeGreaterThan(0);
    for (const s of res.scale ?? []) {
      expect(s.error, `scale ${s.listeners}`).toBeUndefined();
      expect(s.lost, `scale ${s.listeners}: packets lost`).toBe(0);
    }
    expect(res.memory?.idle?.rssMiB).toBeGreaterThan(0);
    expect(res.memory?.soak?.error).toBeUndefined();
    expect(res.targets.length).toBeGreaterThan(0);
    expect(md).toContain('## Targets');
    expect(readFileSync(join(outDir, 'cpu-per-gb.svg'), 'utf8')).toContain('<svg');
  });
});
