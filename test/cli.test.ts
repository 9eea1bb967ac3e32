// The `rtmp-ingest` command line (lib/cli.ts, built to dist/cli.js), run as
// a user runs it: in a terminal (tmux) for the live status lines and Ctrl-C,
// on a pipe for the plain and --json outputs. Publishers are Debian's ffmpeg
// CLI over 127.0.0.1.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { formatBitrate, formatDuration, keyAuthorizer, parseCliArgs, printable, RateMeter, redactUrl, signalHandler, UsageError, type RunControl } from '../lib/cli.js';
import { ensureBuiltPackage } from './helpers/child.js';
import { fixturePath } from './helpers/fixtures.js';
import { getFreePort, waitForListeningPort } from './helpers/net.js';
import { killAllChildren, spawnTracked, waitForExit, type ChildHandle } from './helpers/process.js';
import { publishWithFfmpeg, requireTool } from './helpers/publishers.js';
import { sleep, waitUntil, within } from './helpers/record.js';
import { runInTerminal } from './helpers/terminal.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const haveFfmpeg = requireTool('ffmpeg') && requireTool('ffprobe');
const haveTmux = requireTool('tmux');

afterEach(killAllChildren);

/** `node dist/cli.js args` on pipes (not a terminal). */
function runCli(args: readonly string[]): ChildHandle {
  ensureBuiltPackage();
  return spawnTracked(process.execPath, [CLI, ...args], { stdout: 'pipe' });
}

/** The JSON lines a --json run wrote so far; throws on a line that is not JSON. */
function jsonLines(text: string): Array<Record<string, unknown> & { event: string; time: string }> {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown> & { event: string; time: string };
      } catch {
        throw new Error(`not a JSON line: ${JSON.stringify(l)}`);
      }
    });
}

/** A live -re publish of a 5 s fixture (GOP 2 s, 30 fps), looped until killed. */
function livePublish(url: string, fixture = 'hd720') {
  return publishWithFfmpeg(fixturePath(fixture), url, { realtime: true, loop: true });
}

function ffprobe(file: string): Promise<{ format: { format_name: string; duration: string }; streams: Array<{ codec_type: string; codec_name: string }> }> {
  return new Promise((resolve, reject) => {
    execFile('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], (err, stdout, stderr) =>
      err ? reject(new Error(`ffprobe ${file}: ${stderr}`)) : resolve(JSON.parse(stdout)),
    );
  });
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rtmp-ingest-cli-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out.sort();
}

// One status line: label, remote, uptime, bitrate, fps, GOP, dropped.
const STATUS = /^live\/(\w+) {2}127\.0\.0\.1:\d+ {2}(\d+:\d\d:\d\d) +([\d.]+) (k|M)b\/s +([\d.]+) fps {2}GOP ([\d.]+) s {2}dropped (\d+)/;

function statusLines(screen: string) {
  return screen
    .split('\n')
    .map((l) => STATUS.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({
      key: m[1]!,
      uptime: m[2]!,
      bps: Number(m[3]) * (m[4] === 'M' ? 1e6 : 1e3),
      fps: Number(m[5]),
      gop: Number(m[6]),
      dropped: Number(m[7]),
    }));
}

describe('arguments', () => {
  it('parses the options, with defaults', () => {
    expect(parseCliArgs([])).toEqual({
      kind: 'run',
      options: { listen: 'rtmp://0.0.0.0:1935', keys: [], record: undefined, segmentSeconds: undefined, relays: [], json: false, logLevel: 'error' },
    });
    expect(
      parseCliArgs(['--listen', 'rtmp://127.0.0.1:1936/live', '-k', 'a', '--key', 'b', '--record', 'r/{streamKey}.mp4', '--segment', '10', '--relay', 'rtmp://x/app/k', '--relay', 'rtmps://y/app/k', '--json']),
    ).toEqual({
      kind: 'run',
      options: {
        listen: 'rtmp://127.0.0.1:1936/live',
        keys: ['a', 'b'],
        record: 'r/{streamKey}.mp4',
        segmentSeconds: 10,
        relays: ['rtmp://x/app/k', 'rtmps://y/app/k'],
        json: true,
        logLevel: 'error',
      },
    });
    expect(parseCliArgs(['--help']).kind).toBe('help');
    expect(parseCliArgs(['-v']).kind).toBe('version');
  });

  it.each([
    [['--nope'], /Unknown option '--nope'/],
    [['--listen'], /argument missing/],
    [['stray'], /positional/],
    [['--listen', 'http://0.0.0.0:1935'], /--listen: .*scheme must be rtmp/],
    [['--listen', 'rtmp://0.0.0.0:1935/live/k', '--key', 'x'], /names a stream key already/],
    [['--key', ''], /must not be empty/],
    [['--segment', '5'], /--segment needs --record/],
    [['--record', 'a.mp4', '--segment', '0'], /--segment: expected a number of seconds > 0/],
    [['--record', 'a.mp4', '--segment', 'ten'], /--segment: expected/],
    [['--relay', 'http://x/y'], /--relay: expected rtmp:\/\/host\[:port\]\/app\/key/],
    [['--relay', 'rtmp://x'], /--relay: expected rtmp:/],
    [['--record', 'recordings/{streamKey}.avi'], /--record: .*names no format/],
    [['--log-level', 'loud'], /--log-level: expected one of/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(UsageError);
    expect(() => parseCliArgs(argv)).toThrow(message);
  });

  it('--key: any of the keys, nothing else', () => {
    const authorize = keyAuthorizer(['one', 'two']);
    expect(authorize({ streamKey: 'one' })).toBe(true);
    expect(authorize({ streamKey: 'two' })).toBe(true);
    expect(authorize({ streamKey: 'three' })).toBe(false);
    expect(authorize({ streamKey: 'on' })).toBe(false);
    expect(authorize({ streamKey: '' })).toBe(false);
  });
});

describe('the numbers', () => {
  it('bitrate and fps over the window, keyframe interval between keyframe counts', () => {
    const m = new RateMeter(2000);
    expect(m.bitrate).toBeUndefined();
    // 30 fps video, a keyframe every 2 s, 500 kB/s; sampled every 250 ms for 10 s.
    for (let t = 0; t <= 10_000; t += 250) {
      const frames = Math.floor((t / 1000) * 30);
      m.sample(t, { bytes: t * 500, streams: [{ index: 0, type: 'video', packets: frames, bytes: 0, keyframes: Math.floor(t / 2000) + 1 }] });
    }
    expect(m.bitrate).toBeCloseTo(4e6, -3);
    expect(m.fps).toBeCloseTo(30, 0);
    expect(m.gopSeconds).toBeCloseTo(2, 5);
  });

  it('no fps and no keyframe interval without video', () => {
    const m = new RateMeter(2000);
    m.sample(0, { bytes: 0, streams: [{ index: 0, type: 'audio', packets: 0, bytes: 0, keyframes: 0 }] });
    m.sample(500, { bytes: 8_000, streams: [{ index: 0, type: 'audio', packets: 21, bytes: 8_000, keyframes: 21 }] });
    expect(m.bitrate, 'not before half a window').toBeUndefined();
    m.sample(1000, { bytes: 16_000, streams: [{ index: 0, type: 'audio', packets: 43, bytes: 16_000, keyframes: 43 }] });
    expect(m.bitrate).toBe(128_000);
    expect(m.fps).toBeUndefined();
    expect(m.gopSeconds).toBeUndefined();
  });

  it("a publisher's app and key reach the terminal without control characters", () => {
    // ESC [2J clears the screen, OSC 0 retitles the terminal, U+009B is an 8-bit CSI.
    expect(printable('live/\u001b[2Jkey\u001b]0;owned\u0007 \u009b1A\r\ttab\nnext line')).toBe('live/?[2Jkey?]0;owned? ?1A??tab\nnext line');
    expect(printable('caméra-1 ✓')).toBe('caméra-1 ✓');
  });

  it("a relay target's key, query and credentials are not printed", () => {
    expect(redactUrl('rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl')).toBe('rtmp://a.rtmp.youtube.com/live2/*****');
    expect(redactUrl('rtmps://user:pw@host:444/app/sub/key?token=t')).toBe('rtmps://*****@host:444/app/sub/*****?*****');
    expect(redactUrl('rtmp://host/app')).toBe('rtmp://host/app');
  });

  it('formats', () => {
    expect(formatBitrate(4_230_000)).toBe('4.2 Mb/s');
    expect(formatBitrate(96_000)).toBe('96 kb/s');
    expect(formatBitrate(undefined)).toBe('- b/s');
    expect(formatDuration(3_723_000)).toBe('1:02:03');
  });
});

describe('startup errors', () => {
  it('a bad argument: one message on stderr, exit code 1', async () => {
    const h = runCli(['--listen', 'rtmp://0.0.0.0:1935', '--bogus']);
    const exit = await waitForExit(h, 15_000);
    expect(exit.code).toBe(1);
    expect(h.stderr()).toMatch(/^rtmp-ingest: Unknown option '--bogus'/);
    expect(h.stdout()).toBe('');
  });

  it('a port in use: one message on stderr, exit code 1 (--json: a JSON line on stderr)', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;

    const h = runCli(['--listen', `rtmp://127.0.0.1:${port}`]);
    const exit = await waitForExit(h, 15_000);
    expect(exit.code).toBe(1);
    expect(h.stderr()).toBe(`rtmp-ingest: cannot listen on rtmp://127.0.0.1:${port}: the port is in use (EADDRINUSE)\n`);
    expect(h.stdout()).toBe('');

    const j = runCli(['--listen', `rtmp://127.0.0.1:${port}`, '--json']);
    expect((await waitForExit(j, 15_000)).code).toBe(1);
    expect(j.stdout()).toBe('');
    const [line, ...rest] = jsonLines(j.stderr());
    expect(rest).toEqual([]);
    expect(line).toMatchObject({ event: 'error', error: { code: 'EADDRINUSE' } });
    expect(line!.message).toMatch(/port is in use/);
  });
});

describe.skipIf(!haveFfmpeg || !haveTmux)('in a terminal', () => {
  it('one status line per live session, redrawn in place; Ctrl-C closes, summarizes and exits 0', async () => {
    ensureBuiltPackage();
    const port = await getFreePort();
    const term = runInTerminal([process.execPath, CLI, '--listen', `rtmp://127.0.0.1:${port}`, '--key', 'secret', '--key', 'other']);
    await waitForListeningPort(port);
    await term.waitForScreen((s) => s.includes('waiting for publishers'), 'the waiting line');
    expect(await term.screen()).toMatch(new RegExp(`^listening on rtmp://127\\.0\\.0\\.1:${port} \\(any app, keys: 2\\)`));

    // A wrong key is turned away; the right ones get a session and a status line each.
    const wrong = publishWithFfmpeg(fixturePath('small'), `rtmp://127.0.0.1:${port}/live/wrong`);
    await within(wrong.exited, 15_000, 'the rejected publisher exiting');
    livePublish(`rtmp://127.0.0.1:${port}/live/secret`, 'hd720');
    livePublish(`rtmp://127.0.0.1:${port}/live/other`, 'small');
    await term.waitForScreen((s) => s.includes('session live/secret from 127.0.0.1:') && s.includes('session live/other from 127.0.0.1:'), 'the session lines');

    // Numbers settle after two keyframes (about 2 s); then the lines keep being redrawn, never repeated.
    const settled = (s: string) => {
      const lines = statusLines(s);
      return lines.length === 2 && lines.every((l) => l.gop > 0) ? lines : undefined;
    };
    const first = settled(await term.waitForScreen((s) => settled(s) !== undefined, 'two status lines with a keyframe interval', 15_000))!;
    const later = await term.waitForScreen(
      (s) => {
        const lines = settled(s);
        return lines !== undefined && lines.every((l) => first.find((f) => f.key === l.key)!.uptime !== l.uptime);
      },
      'the status lines updated',
      5_000,
    );
    const screen = later.split('\n');
    expect(screen.filter((l) => l.startsWith('live/secret  ')).length, later).toBe(1);
    expect(screen.filter((l) => l.startsWith('live/other  ')).length, later).toBe(1);
    expect(screen.filter((l) => l.includes('waiting for publishers')), later).toEqual([]);
    expect(later).toMatch(/^rejected 127\.0\.0\.1:\d+ live\/wrong: unauthorized$/m);
    const [secret, other] = ['secret', 'other'].map((k) => statusLines(later).find((l) => l.key === k)!);
    // hd720: 1.4 Mb/s video + 96 kb/s audio, small: 300 + 96 kb/s; both 30 fps; looped, their keyframes come 2, 2, then 1 s apart.
    expect(secret!.bps, later).toBeGreaterThan(0.8e6);
    expect(secret!.bps, later).toBeLessThan(3e6);
    expect(other!.bps, later).toBeGreaterThan(0.15e6);
    expect(other!.bps, later).toBeLessThan(0.8e6);
    for (const status of [secret!, other!]) {
      expect(status.fps, later).toBeGreaterThan(25);
      expect(status.fps, later).toBeLessThan(35);
      expect(status.gop, later).toBeGreaterThanOrEqual(1);
      expect(status.gop, later).toBeLessThanOrEqual(2.5);
      expect(status.dropped).toBe(0);
    }

    await term.sendKeys('C-c');
    expect(await term.exitCode()).toBe(0);
    const last = await term.screen();
    expect(last).toMatch(/^stopping \(SIGINT\): closing 2 sessions; Ctrl-C again to quit at once$/m);
    expect(last).toMatch(/^end live\/secret \(closed\) after 0:00:\d\d, [\d.]+ [kM]B, \d+ packets$/m);
    expect(last).toMatch(/^end live\/other \(closed\) after 0:00:\d\d, [\d.]+ [kM]B, \d+ packets$/m);
    expect(last).toMatch(/^stopped after 0:00:\d\d: 2 sessions, [\d.]+ [kM]B received, 1 rejected$/m);
    expect(statusLines(last), 'the status lines are gone').toEqual([]);
  });

});

describe('signals', () => {
  // Closing takes milliseconds, so a second Ctrl-C from a terminal cannot be
  // timed to land while it runs: the handler is tested on its own.
  it('the first SIGINT or SIGTERM stops cleanly, a second one exits at once with 128 + its number', () => {
    const stops: string[] = [];
    const exits: number[] = [];
    const control: RunControl = { stop: (s) => stops.push(s) };
    const onSignal = signalHandler(control, (code) => exits.push(code));
    onSignal('SIGINT');
    expect(stops).toEqual(['SIGINT']);
    expect(exits).toEqual([]);
    onSignal('SIGINT');
    onSignal('SIGTERM');
    expect(stops).toEqual(['SIGINT']);
    expect(exits).toEqual([130, 143]);
  });

  it('before it listens there is nothing to finish: a signal exits at once', () => {
    const exits: number[] = [];
    signalHandler({}, (code) => exits.push(code))('SIGTERM');
    expect(exits).toEqual([143]);
  });

  it('after a stop begun otherwise (stdout closed), the first signal exits at once', () => {
    const exits: number[] = [];
    signalHandler({ stop: () => undefined, stopping: true }, (code) => exits.push(code))('SIGINT');
    expect(exits).toEqual([130]);
  });
});

describe.skipIf(!haveFfmpeg)('on a pipe', () => {
  it('plain lines for the events, no status lines; SIGTERM closes and exits 0', async () => {
    const port = await getFreePort();
    const h = runCli(['--listen', `rtmp://127.0.0.1:${port}/live`]);
    await waitForListeningPort(port, { process: h });
    const pub = publishWithFfmpeg(fixturePath('small'), `rtmp://127.0.0.1:${port}/live/secret`); // as fast as it goes
    expect((await within(pub.exited, 15_000, 'the publisher exiting')).code).toBe(0);
    await waitUntil(() => h.stdout().includes(' end live/secret'), 'the end line');
    h.child.kill('SIGTERM');
    expect((await waitForExit(h, 15_000)).code).toBe(0);
    const lines = h.stdout().trimEnd().split('\n');
    const stamp = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
    expect(lines, h.stdout()).toEqual([
      expect.stringMatching(new RegExp(`^${stamp} listening on rtmp://127\\.0\\.0\\.1:${port}/live \\(app live, any key\\)$`)),
      expect.stringMatching(new RegExp(`^${stamp} session live/secret from 127\\.0\\.0\\.1:\\d+: h264 320x240 30 fps, aac 44100 Hz 2 ch$`)),
      expect.stringMatching(new RegExp(`^${stamp} end live/secret \\(eof\\) after 0:00:0\\d, 265 kB, 367 packets$`)),
      expect.stringMatching(new RegExp(`^${stamp} stopping \\(SIGTERM\\): closing 0 sessions; a second signal again to quit at once$`)),
      expect.stringMatching(new RegExp(`^${stamp} stopped after 0:00:\\d\\d: 1 session, 265 kB received, 0 rejected$`)),
    ]);
    expect(h.stderr()).toBe('');
  });

  it('--json: every line on stdout is a JSON event; a status a second per session with the numbers', async () => {
    const port = await getFreePort();
    const h = runCli(['--listen', `rtmp://127.0.0.1:${port}`, '--key', 'secret', '--key', 'other', '--json']);
    await waitForListeningPort(port, { process: h });
    const wrong = publishWithFfmpeg(fixturePath('small'), `rtmp://127.0.0.1:${port}/live/wrong`);
    await within(wrong.exited, 15_000, 'the rejected publisher exiting');
    const pub = livePublish(`rtmp://127.0.0.1:${port}/live/secret`);
    // Enough status events for settled numbers (two keyframes seen apart).
    await waitUntil(() => jsonLines(h.stdout()).filter((e) => e.event === 'status' && e.keyframeInterval !== null).length >= 2, 'status events with a keyframe interval', 20_000);
    await pub.kill(); // the publisher goes: its session ends (eof or a reset)
    await waitUntil(() => jsonLines(h.stdout()).some((e) => e.event === 'end'), 'the end event');
    h.child.kill('SIGINT');
    expect((await waitForExit(h, 15_000)).code).toBe(0);
    expect(h.stderr()).toBe('');

    const events = jsonLines(h.stdout());
    for (const e of events) expect(Number.isNaN(Date.parse(e.time)), JSON.stringify(e)).toBe(false);
    const names = events.map((e) => e.event);
    expect(names[0]).toBe('listening');
    expect(names.slice(-2)).toEqual(['stopping', 'summary']);
    expect(events[0]).toMatchObject({ host: '127.0.0.1', port, app: null, keys: 2, record: null, relays: [] });
    expect(events.find((e) => e.event === 'rejected')).toMatchObject({ reason: 'unauthorized', app: 'live', streamKey: 'wrong', remoteAddress: '127.0.0.1' });
    const session = events.find((e) => e.event === 'session')!;
    expect(session).toMatchObject({
      app: 'live',
      streamKey: 'secret',
      remoteAddress: '127.0.0.1',
      streams: [
        { index: 0, type: 'video', codec: 'h264', width: 1280, height: 720 },
        { index: 1, type: 'audio', codec: 'aac', sampleRate: 44100, channels: 2 },
      ],
    });
    expect(typeof session.id).toBe('string');
    const statuses = events.filter((e) => e.event === 'status');
    for (const s of statuses) expect(s).toMatchObject({ id: session.id, app: 'live', streamKey: 'secret', dropped: 0 });
    const settled = statuses.filter((s) => s.keyframeInterval !== null).at(-1)!;
    expect(settled.bitrate as number).toBeGreaterThan(0.8e6);
    expect(settled.bitrate as number).toBeLessThan(3e6);
    expect(settled.fps as number).toBeGreaterThan(25);
    expect(settled.fps as number).toBeLessThan(35);
    expect(settled.keyframeInterval as number).toBeGreaterThanOrEqual(1);
    expect(settled.keyframeInterval as number).toBeLessThanOrEqual(2.5);
    // Status events a second apart (give or take a loaded machine).
    const times = statuses.map((s) => Date.parse(s.time));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThan(2500);
    const end = events.find((e) => e.event === 'end')!;
    expect(end).toMatchObject({ id: session.id, app: 'live', streamKey: 'secret' });
    expect(['eof', 'error']).toContain(end.reason);
    expect(events.at(-1)).toMatchObject({ event: 'summary', sessions: 1, rejected: 1, bytes: end.bytes, packets: end.packets });
  });
});

describe.skipIf(!haveFfmpeg || !haveTmux)('recording and relaying', () => {
  it('Ctrl-C finishes the file: ffprobe reads it whole', async () => {
    ensureBuiltPackage();
    const dir = tempDir();
    const port = await getFreePort();
    const term = runInTerminal([process.execPath, CLI, '--listen', `rtmp://127.0.0.1:${port}`, '--record', join(dir, '{app}/{streamKey}/%Y-%m-%d_%H-%M-%S.mp4')]);
    await waitForListeningPort(port);
    livePublish(`rtmp://127.0.0.1:${port}/live/secret`);
    // The numbers count on with a recorder attached (the CLI keeps the packets coming through JS).
    const screen = await term.waitForScreen((s) => /rec: /.test(s) && statusLines(s).some((l) => l.gop > 0), 'a recording status line');
    const status = statusLines(screen)[0]!;
    expect(status.fps, screen).toBeGreaterThan(25);
    expect(status.bps, screen).toBeGreaterThan(0.8e6);
    expect(screen).toMatch(new RegExp(`rec: ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/live/secret/%Y-%m-%d_%H-%M-%S\\.mp4 \\(0 files done, [\\d.]+ [kM]?B\\)`));
    await sleep(1000);
    await term.sendKeys('C-c');
    expect(await term.exitCode(30_000)).toBe(0);
    const files = filesUnder(dir);
    expect(files).toEqual([expect.stringMatching(/\/live\/secret\/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.mp4$/)]);
    const probe = await ffprobe(files[0]!);
    expect(probe.format.format_name).toMatch(/mp4/);
    expect(Number(probe.format.duration)).toBeGreaterThan(2);
    expect(probe.streams.map((s) => [s.codec_type, s.codec_name])).toEqual([
      ['video', 'h264'],
      ['audio', 'aac'],
    ]);
    expect(await term.screen()).toMatch(/finished .*\.mp4/);
  });

  it('--segment with --json: a segment event per finished file, each readable', async () => {
    const dir = tempDir();
    const port = await getFreePort();
    const h = runCli(['--listen', `rtmp://127.0.0.1:${port}`, '--record', join(dir, '{streamKey}-%H-%M-%S.mkv'), '--segment', '2', '--json']);
    await waitForListeningPort(port, { process: h });
    livePublish(`rtmp://127.0.0.1:${port}/live/secret`);
    await waitUntil(() => jsonLines(h.stdout()).filter((e) => e.event === 'segment').length >= 2, 'two segment events', 20_000);
    h.child.kill('SIGINT');
    expect((await waitForExit(h, 30_000)).code).toBe(0);
    const events = jsonLines(h.stdout());
    const segments = events.filter((e) => e.event === 'segment');
    expect(segments.length).toBeGreaterThanOrEqual(3); // two while live, the last one at Ctrl-C
    for (const s of segments) {
      expect(existsSync(s.path as string)).toBe(true);
      expect(s.bytes).toBe(statSync(s.path as string).size);
      const probe = await ffprobe(s.path as string);
      expect(probe.format.format_name).toMatch(/matroska/);
    }
    expect(events.at(-1)).toMatchObject({ event: 'summary' });
  });

  it('--relay: every session goes on to another server (here a second rtmp-ingest)', async () => {
    const port2 = await getFreePort();
    const receiver = runCli(['--listen', `rtmp://127.0.0.1:${port2}`, '--json']);
    await waitForListeningPort(port2, { process: receiver });
    const port = await getFreePort();
    const h = runCli(['--listen', `rtmp://127.0.0.1:${port}`, '--relay', `rtmp://127.0.0.1:${port2}/copy/secret`, '--json']);
    await waitForListeningPort(port, { process: h });
    livePublish(`rtmp://127.0.0.1:${port}/live/secret`);
    await waitUntil(() => jsonLines(h.stdout()).some((e) => e.event === 'relay-connected'), 'relay-connected', 15_000);
    const relayed = await waitUntil(() => jsonLines(receiver.stdout()).find((e) => e.event === 'session'), 'the relayed session', 15_000);
    expect(relayed).toMatchObject({ app: 'copy', streamKey: 'secret', streams: [{ type: 'video', codec: 'h264', width: 1280, height: 720 }, { type: 'audio', codec: 'aac' }] });
    await waitUntil(
      () => jsonLines(h.stdout()).some((e) => e.event === 'status' && e.keyframeInterval !== null && (e.relays as Array<{ sentPackets: number }> | undefined)?.[0]?.sentPackets),
      'a settled status with relayed packets',
      10_000,
    );
    h.child.kill('SIGINT');
    expect((await waitForExit(h, 30_000)).code).toBe(0);
    const status = jsonLines(h.stdout()).filter((e) => e.event === 'status').at(-1)!;
    // The target's key is not printed.
    expect(status.relays).toEqual([expect.objectContaining({ url: `rtmp://127.0.0.1:${port2}/copy/*****`, connected: true, droppedPackets: 0 })]);
    expect(h.stdout()).not.toContain('copy/secret');
    expect(status.fps as number).toBeGreaterThan(25);
    // The relay went when the first one stopped: the second sees its session end.
    await waitUntil(() => jsonLines(receiver.stdout()).some((e) => e.event === 'end'), "the relayed session's end", 15_000);
  });

  it('a recording that cannot be written: a record-error event, the session and its status go on', async () => {
    const port = await getFreePort();
    const h = runCli(['--listen', `rtmp://127.0.0.1:${port}`, '--record', '/dev/null/{streamKey}.mp4', '--json']);
    await waitForListeningPort(port, { process: h });
    const pub = publishWithFfmpeg(fixturePath('small'), `rtmp://127.0.0.1:${port}/live/secret`);
    expect((await within(pub.exited, 15_000, 'the publisher exiting')).code).toBe(0);
    await waitUntil(() => jsonLines(h.stdout()).some((e) => e.event === 'end'), 'the end event');
    h.child.kill('SIGINT');
    expect((await waitForExit(h, 15_000)).code).toBe(0);
    const events = jsonLines(h.stdout());
    expect(events.find((e) => e.event === 'record-error')).toMatchObject({ app: 'live', streamKey: 'secret', error: { code: 'ENOTDIR', message: expect.stringContaining('/dev/null/secret.mp4') } });
    // Every packet still counted: the session went on without its recorder.
    expect(events.find((e) => e.event === 'end')).toMatchObject({ reason: 'eof', packets: 367 });
  });

  it('a relay target that is down: relay-error events, and its key in none of them', async () => {
    const down = await getFreePort(); // nothing listens there
    const port = await getFreePort();
    const h = runCli(['--listen', `rtmp://127.0.0.1:${port}`, '--relay', `rtmp://127.0.0.1:${down}/live/topsecret`, '--json', '--log-level', 'warning']);
    await waitForListeningPort(port, { process: h });
    livePublish(`rtmp://127.0.0.1:${port}/live/secret`, 'small');
    const error = await waitUntil(() => jsonLines(h.stdout()).find((e) => e.event === 'relay-error'), 'a relay-error event', 15_000);
    expect(error).toMatchObject({ app: 'live', streamKey: 'secret', url: `rtmp://127.0.0.1:${down}/live/*****`, error: { code: 'ECONNREFUSED' } });
    h.child.kill('SIGINT');
    expect((await waitForExit(h, 15_000)).code).toBe(0);
    expect(h.stdout() + h.stderr()).not.toContain('topsecret');
  });
});
