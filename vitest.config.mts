import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/**/*.test.ts'],
    // Tests spawn real ffmpeg/GStreamer processes and a native RTMP listener:
    // slow, timing-sensitive, and the machine has 2 cores.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Separate processes, so a crashing native addon takes down only its own file.
    pool: 'forks',
    // One file at a time: parallel publishers/listeners would skew timing tests.
    fileParallelism: false,
    maxWorkers: 1,
  },
});
