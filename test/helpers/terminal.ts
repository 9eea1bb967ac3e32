// A command run in a real terminal: a detached tmux session on a tmux server
// of its own (`tmux -S` with a socket in a temporary folder, so other tmux
// users are never touched and no socket is left behind), its screen
// read with capture-pane and keys sent with send-keys (C-c is a SIGINT from
// the terminal, as a user's Ctrl-C). The tmux server is killed when the test
// that started it ends.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { sleep } from './record.js';

export interface TerminalRun {
  /** What the screen shows now (capture-pane -p), trailing blank lines dropped. */
  screen(): Promise<string>;
  /** tmux send-keys: 'C-c', 'q', 'Enter', ... */
  sendKeys(...keys: string[]): Promise<void>;
  /** The first screen for which pred holds; rejects after timeoutMs with the screen. */
  waitForScreen(pred: (screen: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  /** The command's exit code (from the shell that ran it); rejects after timeoutMs with the screen. */
  exitCode(timeoutMs?: number): Promise<number>;
  close(): void;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function tmux(socket: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('tmux', ['-S', socket, ...args], (err, stdout, stderr) => (err ? reject(new Error(`tmux ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

/** Runs argv in a width x height terminal. The pane stays after the command exits, so its last screen can be read. */
export function runInTerminal(argv: readonly string[], opts: { width?: number; height?: number } = {}): TerminalRun {
  const dir = mkdtempSync(join(tmpdir(), 'rtmp-ingest-term-'));
  const socket = join(dir, 'tmux.sock');
  const exitFile = join(dir, 'exit');
  // A script file: tmux would otherwise read the command line itself (formats, quoting). bash, not
  // dash: on Ctrl-C dash dies with its child, bash goes on (the child handled the SIGINT) and records the exit code.
  const script = join(dir, 'run.sh');
  writeFileSync(script, `${argv.map(quote).join(' ')}\necho $? > ${quote(exitFile)}.tmp && mv ${quote(exitFile)}.tmp ${quote(exitFile)}\nexec sleep 3600\n`);
  execFileSync('tmux', ['-S', socket, '-f', '/dev/null', 'new-session', '-d', '-x', String(opts.width ?? 200), '-y', String(opts.height ?? 50), '-s', 'run', `bash ${quote(script)}`]);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    try {
      execFileSync('tmux', ['-S', socket, 'kill-server'], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    onTestFinished(close);
  } catch {
    /* not inside a test: the caller closes it */
  }
  const screen = async (): Promise<string> => (await tmux(socket, ['capture-pane', '-p', '-t', 'run'])).replace(/\n+$/, '');
  return {
    screen,
    sendKeys: async (...keys) => {
      await tmux(socket, ['send-keys', '-t', 'run', ...keys]);
    },
    async waitForScreen(pred, what, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await screen();
        if (pred(s)) return s;
        if (Date.now() > deadline) throw new Error(`the terminal did not show ${what} within ${timeoutMs} ms; it shows:\n${s}`);
        await sleep(100);
      }
    },
    async exitCode(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          return Number(readFileSync(exitFile, 'utf8').trim());
        } catch {
          /* still running */
        }
        if (Date.now() > deadline) throw new Error(`the command did not exit within ${timeoutMs} ms; the terminal shows:\n${await screen()}`);
        await sleep(100);
      }
    },
    close,
  };
}
