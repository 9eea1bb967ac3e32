// The published package: `npm pack`, installed into an empty project on a
// machine with no compiler, no cmake and no make on PATH, must load its
// prebuilt addon (FFmpeg linked in, no libav* from the system) and receive
// a stream frame-accurately, also after node_modules is moved elsewhere.
// The prebuild is built and the package packed in a copy of the checkout in
// a temporary folder: the checkout's build/, prebuilds/, dist/ and deps/ are
// left as they were (the last test checks).
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSamePackets } from './helpers/compare.js';
import { fixturePath } from './helpers/ingest.js';
import { requireTool } from './helpers/publishers.js';
import { probePackets } from './helpers/reference.js';
import { PREBUILD_GLIBC } from '../lib/binding.js';

const execFileAsync = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');
// What a user without a toolchain does not have.
const TOOLCHAIN = /^(cc|c\+\+|g\+\+|gcc|cpp|cmake|make|gmake|ld|ld\.bfd|ld\.gold|clang|clang\+\+|[\w-]*-linux-gnu-(gcc|g\+\+|c\+\+|cc|ld)|(gcc|g\+\+|c\+\+|cpp)-\d+)$/;

let work: string;
/** The copy of the checkout that is built and packed. */
let stage: string;
let tarball: string;

/** What the build writes in a checkout: watched for changes, and not copied into the stage. */
const BUILD_OUTPUTS = ['build', 'prebuilds', 'dist', 'deps'];

/** Every file under the checkout's build outputs: size, mtime and, for the addon itself, its SHA-256. */
function buildOutputsSnapshot(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        const st = statSync(path);
        const hash = entry.name.endsWith('.node') ? ` ${createHash('sha256').update(readFileSync(path)).digest('hex')}` : '';
        out[relative(root, path)] = `${st.size} bytes, mtime ${st.mtimeMs}${hash}`;
      }
    }
  };
  for (const dir of BUILD_OUTPUTS) {
    if (existsSync(join(root, dir))) walk(join(root, dir));
    else out[dir] = 'absent';
  }
  return out;
}
let checkoutBefore: Record<string, string>;

/**
 * The checkout as a release is packed from it, in `dir`: its sources (what
 * git tracks and anything else lying there, as in a real checkout) and a copy
 * of the FFmpeg build and its source tarball in deps/ (so nothing is fetched
 * or rebuilt), without build outputs; node_modules is a link to the checkout's.
 */
function stageCheckout(dir: string): void {
  const skip = new Set(['.git', 'node_modules', ...BUILD_OUTPUTS]);
  cpSync(root, dir, {
    recursive: true,
    filter: (src) => {
      const rel = relative(root, src);
      const top = rel.split('/')[0]!;
      return rel === '' || !(skip.has(top) || /^build-/.test(top));
    },
  });
  // What the addon's build takes from deps/: the FFmpeg libraries and their source tarball (not the
  // tests' ffmpeg CLI, nor build-ffmpeg.sh's temporary folders).
  for (const part of ['ffmpeg', 'src']) cpSync(join(root, 'deps', part), join(dir, 'deps', part), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
}

/** A PATH that has everything this machine's PATH has except compilers and build tools. */
function strippedPath(dir: string): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const seen = new Set<string>();
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    let entries: string[] = [];
    try {
      entries = readdirSync(d);
    } catch {
      continue;
    }
    for (const name of entries) {
      if (seen.has(name) || TOOLCHAIN.test(name)) continue;
      seen.add(name);
      try {
        symlinkSync(join(d, name), join(bin, name));
      } catch {
        /* a name seen in two PATH folders */
      }
    }
  }
  return bin;
}

// The test helper that turns a packet into what expectSamePackets compares (plain JS, imported by absolute URL).
const packetRecordUrl = new URL('./helpers/packet-record.mjs', import.meta.url).href;

const SMOKE = `
const { RtmpIngest, buildInfo } = require('rtmp-ingest');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
(async () => {
  const { packetRecord } = await import(${JSON.stringify(packetRecordUrl)});
  const ingest = new RtmpIngest({ url: 'rtmp://127.0.0.1:0/live/key', keepAlive: false });
  const { port } = await ingest.listen();
  const packets = [];
  ingest.on('session', (s) => s.on('packet', (p) => packets.push(packetRecord(p))));
  const pub = spawn('ffmpeg', ['-v', 'error', '-i', process.argv[2], '-c', 'copy', '-f', 'flv', 'rtmp://127.0.0.1:' + port + '/live/key'], { stdio: 'inherit' });
  await new Promise((resolve) => ingest.once('close', resolve));
  await new Promise((resolve) => pub.exitCode !== null ? resolve() : pub.once('exit', resolve));
  const maps = fs.readFileSync('/proc/self/maps', 'utf8');
  const addon = [...new Set(maps.split('\\n').map((l) => l.split(/\\s+/)[5]).filter((f) => f && f.endsWith('.node')))];
  const libav = maps.split('\\n').filter((l) => /libav(format|codec|util)/.test(l));
  process.stdout.write(JSON.stringify({ packets, addon, libav, info: buildInfo(), publisherExit: pub.exitCode }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

const ESM_SMOKE = `
import { RtmpIngest, buildInfo } from 'rtmp-ingest';
import { createRequire } from 'node:module';
const cjs = createRequire(import.meta.url)('rtmp-ingest');
if (cjs.RtmpIngest !== RtmpIngest) throw new Error('ESM and CJS entries differ');
const ingest = new RtmpIngest({ url: 'rtmp://127.0.0.1:0/live/key' });
const { port } = await ingest.listen();
await ingest.close();
console.log(JSON.stringify({ port, ffmpeg: buildInfo().ffmpegVersion }));
`;

const CONSUMER_TYPES = `
import { RtmpIngest, type Packet, type IngestSession } from 'rtmp-ingest';
const ingest = new RtmpIngest({ url: 'rtmp://127.0.0.1:1935/live/key', idleTimeoutMs: 1000 });
ingest.on('session', (s: IngestSession) => s.on('packet', (p: Packet) => { const n: number = p.pts + p.size; void n; }));
// @ts-expect-error: the URL is required
new RtmpIngest({});
`;

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(cmd, args, { cwd: opts.cwd, env: opts.env, maxBuffer: 64 * 1024 * 1024, timeout: 180_000 });
}

describe.skipIf(!haveFfmpeg)('the npm package', () => {
  beforeAll(async () => {
    checkoutBefore = buildOutputsSnapshot();
    work = realpathSync(mkdtempSync(join(tmpdir(), 'rtmp-ingest-pack-')));
    stage = join(work, 'checkout');
    stageCheckout(stage);
    // The prebuild the tarball carries, stripped, built the way a release is.
    const prebuild = await run('npm', ['run', 'build:prebuild'], { cwd: stage });
    expect(prebuild.stderr, 'FFmpeg is built once, in the checkout, not again here').toContain('is up to date');
    await run('npm', ['run', 'build:ts'], { cwd: stage });
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: stage });
    const [info] = JSON.parse(stdout) as Array<{ filename: string }>;
    tarball = join(work, info!.filename);
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the prebuild, both entries with types and the licenses, and nothing else of the repo', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: stage });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    for (const must of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'LICENSE', 'LICENSE.FFmpeg', 'README.md', 'package.json'])
      expect(files).toContain(must);
    expect(files.filter((f) => /^prebuilds\/linux-x64\/[^/]+\.node$/.test(f))).toHaveLength(1);
    const unwanted = files.filter((f) => /^(test|bench|build|build-\w+|deps|node_modules|\.ci)\//.test(f) || /\.(flv|tar\.xz|tgz|o|a)$/.test(f));
    expect(unwanted).toEqual([]);
    await run('npx', ['publint', '--strict'], { cwd: stage });
  });

  it('has a small, stripped, self-contained prebuild: only the C runtime is linked', () => {
    const dir = join(stage, 'prebuilds', 'linux-x64');
    const [name] = readdirSync(dir).filter((f) => f.endsWith('.node'));
    const file = join(dir, name!);
    expect(statSync(file).size).toBeLessThan(10 * 1024 * 1024);
    const needed = execFileSync('readelf', ['-d', file], { encoding: 'utf8' })
      .split('\n')
      .flatMap((l) => /\(NEEDED\).*\[(.+)\]/.exec(l)?.[1] ?? []);
    expect(needed.filter((lib) => !/^(libc|libm|libpthread|libdl|librt|ld-linux[\w-]*)\.so(\.\d+)*$/.test(lib))).toEqual([]);
    expect(execFileSync('readelf', ['-S', file], { encoding: 'utf8' })).not.toContain('.symtab');
    // The glibc the loader's error message and the README promise.
    const versions = execFileSync('objdump', ['-T', file], { encoding: 'utf8' }).match(/GLIBC_[\d.]+/g) ?? [];
    const newest = versions.map((v) => v.slice(6)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).pop();
    expect(newest).toBe(PREBUILD_GLIBC);
  });

  it('installs with no compiler on PATH, and receives every packet frame-accurately, also from a moved node_modules', async () => {
    const project = join(work, 'consumer');
    mkdirSync(project);
    // Let rtmp-ingest's own install script run (npm 11 blocks dependency
    // install scripts by default): it must find the prebuild and build nothing.
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, allowScripts: { 'rtmp-ingest': true } }));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: strippedPath(work), LD_LIBRARY_PATH: '' };
    delete env.npm_config_build_from_source;
    for (const tool of ['g++', 'cc', 'cmake', 'make']) {
      const found = await run('sh', ['-c', `command -v ${tool} || true`], { cwd: project, env });
      expect(found.stdout.trim(), `${tool} must not be on the stripped PATH`).toBe('');
    }
    const install = await run('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', tarball], { cwd: project, env });
    expect(install.stderr + install.stdout).not.toMatch(/building from source/);
    expect(existsSync(join(project, 'node_modules', 'rtmp-ingest', 'build'))).toBe(false);
    writeFileSync(join(project, 'smoke.cjs'), SMOKE);
    writeFileSync(join(project, 'smoke.mjs'), ESM_SMOKE);

    const reference = await probePackets(fixturePath('small'));
    const check = async (dir: string): Promise<void> => {
      const { stdout } = await run(process.execPath, ['smoke.cjs', fixturePath('small')], { cwd: dir, env });
      const result = JSON.parse(stdout) as { packets: never[]; addon: string[]; libav: string[]; info: { ffmpegVersion: string }; publisherExit: number };
      expect(result.publisherExit).toBe(0);
      expect(result.addon).toHaveLength(1);
      expect(result.addon[0]).toContain(join(dir, 'node_modules', 'rtmp-ingest', 'prebuilds', 'linux-x64'));
      expect(result.libav).toEqual([]); // FFmpeg is inside the .node, not loaded from the system
      expect(result.info.ffmpegVersion).toBe('9.0.2');
      expectSamePackets(result.packets, reference, { label: `installed package in ${dir}`, interleaving: true });
      const esm = JSON.parse((await run(process.execPath, ['smoke.mjs'], { cwd: dir, env })).stdout) as { port: number };
      expect(esm.port).toBeGreaterThan(0);
    };
    await check(project);

    // No absolute path baked in: move the whole project, the original is gone.
    const moved = join(work, 'moved-consumer');
    cpSync(project, moved, { recursive: true, verbatimSymlinks: true });
    renameSync(project, join(work, 'gone'));
    await check(moved);
  }, 300_000);

  it('builds from source when asked to (npm_config_build_from_source), FFmpeg included', async () => {
    const project = join(work, 'from-source');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'from-source', version: '1.0.0', private: true, allowScripts: { 'rtmp-ingest': true } }));
    // The build's own npm tools, from the registry, as the README says.
    await run('npm', ['install', '--no-audit', '--no-fund', 'cmake-js@8', 'node-addon-api@8'], { cwd: project });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      npm_config_build_from_source: 'true',
      // The tarball build-ffmpeg.sh fetched for this checkout: no second download.
      RTMP_INGEST_FFMPEG_TARBALL: join(root, 'deps', 'src', 'ffmpeg_9.0.2.orig.tar.xz'),
    };
    const install = await run('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', tarball], { cwd: project, env });
    expect(install.stderr + install.stdout).toMatch(/building from source/);
    const pkg = join(project, 'node_modules', 'rtmp-ingest');
    expect(existsSync(join(pkg, 'build', 'Release', 'rtmp_ingest.node'))).toBe(true);
    expect(existsSync(join(pkg, 'deps', 'ffmpeg', 'lib', 'libavformat.a'))).toBe(true);
    writeFileSync(join(project, 'smoke.cjs'), SMOKE);
    const { stdout } = await run(process.execPath, ['smoke.cjs', fixturePath('small')], { cwd: project, env: process.env });
    const result = JSON.parse(stdout) as { packets: never[]; addon: string[] };
    // node-gyp-build prefers the fresh build over the shipped prebuild.
    expect(result.addon).toEqual([join(pkg, 'build', 'Release', 'rtmp_ingest.node')]);
    expectSamePackets(result.packets, await probePackets(fixturePath('small')), { label: 'built from source', interleaving: true });
  }, 600_000);

  it('type-checks for ESM and CommonJS consumers', async () => {
    const project = join(work, 'moved-consumer');
    writeFileSync(join(project, 'consumer.mts'), CONSUMER_TYPES);
    writeFileSync(join(project, 'consumer.cts'), CONSUMER_TYPES.replace("import { RtmpIngest, type Packet, type IngestSession } from 'rtmp-ingest';", "import { RtmpIngest, type Packet, type IngestSession } from 'rtmp-ingest';\nexport {};"));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    await run(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', 'false',
      '--typeRoots', join(root, 'node_modules', '@types'), '--types', 'node', 'consumer.mts', 'consumer.cts'], { cwd: project });
  }, 120_000);

  // Last: everything above ran in the stage and in temporary projects.
  it("leaves the checkout's build/, prebuilds/, dist/ and deps/ as they were", () => {
    expect(buildOutputsSnapshot()).toEqual(checkoutBefore);
  });
});
