#!/usr/bin/env node
// npm's install hook. A prebuilt binary that loads here is all a user
// needs; otherwise (or with --build-from-source) build FFmpeg and the addon.
// node-gyp-build's own fallback would run node-gyp, which cannot build this
// project (it is built with cmake-js), so this script replaces it.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const fromSource = /^(true|1|rtmp-ingest)$/.test(process.env.npm_config_build_from_source ?? '');

function prebuildLoads() {
  try {
    // Loads build/Release/*.node or the matching prebuilds/<platform>-<arch>/*.node.
    require('node-gyp-build')(root);
    return true;
  } catch (err) {
    console.error(`rtmp-ingest: no prebuilt binary loads on ${process.platform}-${process.arch}: ${err.message.split('\n')[0]}`);
    return false;
  }
}

if (!fromSource && prebuildLoads()) process.exit(0);

console.error('rtmp-ingest: building from source (FFmpeg, then the addon); this needs cmake, g++, make, patch and xz');
let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  require.resolve('node-addon-api', { paths: [root] });
} catch {
  console.error('rtmp-ingest: building from source needs the npm packages cmake-js and node-addon-api:\n' +
    '  npm install --save-dev cmake-js@8 node-addon-api@8 && npm rebuild rtmp-ingest --build-from-source');
  process.exit(1);
}
if (!fs.existsSync(path.join(root, 'native'))) {
  console.error('rtmp-ingest: this copy of the package has no native sources to build from');
  process.exit(1);
}
try {
  execFileSync('bash', [path.join(root, 'scripts', 'build-ffmpeg.sh')], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { cwd: root, stdio: 'inherit' });
} catch (err) {
  console.error(`rtmp-ingest: the build from source failed (${err.message.split('\n')[0]}); see the output above`);
  process.exit(1);
}
