#!/usr/bin/env node
// prebuildify builds by spawning `node-gyp rebuild --target=.. --devdir=..
// --arch=.. --release` and then takes the first *.node in build/Release.
// This project builds with cmake-js, so `npm run build:prebuild` points
// prebuildify's --node-gyp here: the same build, into the same folder.
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
if (args[0] !== 'rebuild') {
  console.error(`prebuild-node-gyp: only 'rebuild' is supported, got: ${args.join(' ')}`);
  process.exit(2);
}
const arch = args.find((a) => a.startsWith('--arch='))?.slice('--arch='.length);
if (arch && arch !== process.arch) {
  console.error(`prebuild-node-gyp: cross-compiling to ${arch} is not supported (this is ${process.arch})`);
  process.exit(2);
}
const run = (cmd, argv) => execFileSync(cmd, argv, { cwd: root, stdio: 'inherit' });
run('bash', ['scripts/build-ffmpeg.sh']);
// N-API builds do not depend on --target: the headers come from node-api-headers.
run(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--out', 'build']);
