// Loads the native addon (build/Release/*.node, build/Debug/*.node or a
// matching prebuilds/<platform>-<arch>/ file) with node-gyp-build, once, on
// first use; importing this package never touches the addon. On failure the
// error says what was looked for on which system and how to fix it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import nodeGypBuild from 'node-gyp-build';
import { ErrorCode, IngestError } from './errors';
import type { NativeBinding } from './native';

const PACKAGE_NAME = 'rtmp-ingest';
/** The newest glibc symbol version the linux-x64 and linux-arm64 glibc prebuilds reference (checked by test/package.test.ts). */
export const PREBUILD_GLIBC = '2.28';

let cached: NativeBinding | undefined;

/** The package root: the nearest directory above this file whose package.json is ours (dist/.. or lib/..). */
export function packageRoot(): string {
  const start = typeof __dirname === 'string' ? __dirname : process.cwd();
  for (let dir = start; ; ) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === PACKAGE_NAME) return dir;
    } catch {
      // no (readable) package.json here: keep going up
    }
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(start, '..');
    dir = parent;
  }
}

function glibcVersion(): string | undefined {
  try {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    return report?.header?.glibcVersionRuntime;
  } catch {
    return undefined;
  }
}

function describeSystem(): string {
  const libc = process.platform === 'linux' ? (glibcVersion() ? `glibc ${glibcVersion()}` : 'no glibc found (musl?)') : undefined;
  return [
    `${process.platform}-${process.arch}`,
    `Node.js ${process.version} (ABI ${process.versions.modules}, Node-API ${process.versions.napi ?? '?'})`,
    libc,
  ]
    .filter(Boolean)
    .join(', ');
}

function loadFailure(root: string, cause: unknown): IngestError {
  const reason = cause instanceof Error ? cause.message.trim() : String(cause);
  // node-gyp-build looks there instead when it is set.
  const override = process.env.RTMP_INGEST_PREBUILD || undefined;
  const message = [
    `Could not load the rtmp-ingest native addon.`,
    `  System:      ${describeSystem()}`,
    override === undefined
      ? `  Looked in:   ${path.join(root, 'build', 'Release')}, ${path.join(root, 'build', 'Debug')} and ${path.join(root, 'prebuilds', `${process.platform}-${process.arch}`)}`
      : `  Looked in:   ${override} (from RTMP_INGEST_PREBUILD)`,
    `  Cause:       ${reason.split('\n').join('\n               ')}`,
    `Possible solutions:`,
    `  - Build it from source: npm install --build-from-source`,
    `    (needs CMake, a C++17 compiler and the FFmpeg build: npm run build:ffmpeg && npm run build:native)`,
    `  - If you installed with --ignore-scripts, or copied node_modules from another machine,`,
    `    reinstall on this platform so the matching prebuild or build is used.`,
    `  - The prebuilds are for linux-x64 and linux-arm64 with glibc ${PREBUILD_GLIBC} or newer (Debian 10, Ubuntu 20.04, RHEL 8`,
    `    and later) or musl (Alpine; on another musl system set LIBC=musl); elsewhere, build from source.`,
    `  - npm 11 skips dependencies' install scripts unless allowed: \`npm install-scripts approve rtmp-ingest\`,`,
    `    then \`npm rebuild rtmp-ingest --build-from-source\`.`,
  ].join('\n');
  return new IngestError(ErrorCode.ADDON_LOAD_FAILED, message, { cause });
}

/** The addon, loaded on first call. Throws IngestError ERR_ADDON_LOAD_FAILED with instructions. */
export function loadBinding(): NativeBinding {
  if (cached !== undefined) return cached;
  const root = packageRoot();
  let binding: unknown;
  try {
    binding = nodeGypBuild(root);
  } catch (err) {
    const e = loadFailure(root, err);
    Error.captureStackTrace(e, loadBinding);
    throw e;
  }
  const b = binding as Partial<NativeBinding> | null;
  if (b === null || typeof b !== 'object' || typeof b.Server !== 'function' || typeof b.buildInfo !== 'function') {
    const e = loadFailure(root, new Error('the addon loaded but does not export Server and buildInfo (a stale or foreign build?)'));
    Error.captureStackTrace(e, loadBinding);
    throw e;
  }
  cached = b as NativeBinding;
  return cached;
}
