// Child processes for tests: every process spawned here is tracked and killed
// at the end of the test that started it (or by killAllChildren() in a hook,
// or at the latest when the test worker exits), so no ffmpeg/gst-launch is
// ever left behind holding a port.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { onTestFinished } from 'vitest';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  error?: Error;
}

export interface ChildHandle {
  readonly child: ChildProcess;
  /** The command line, for failure messages. */
  readonly command: string;
  readonly exited: Promise<ExitInfo>;
  /** The last STDERR_LIMIT bytes the process wrote to stderr. */
  stderr(): string;
  /** Everything written to stdout (only when spawned with stdout: 'pipe'). */
  stdout(): string;
  /** Closes stdin, SIGTERM (after SIGCONT, in case it was stopped), SIGKILL after a grace period. */
  kill(graceMs?: number): Promise<ExitInfo>;
}

export interface SpawnTrackedOptions {
  stdin?: 'ignore' | 'pipe';
  stdout?: 'ignore' | 'pipe';
}

const STDERR_LIMIT = 64 * 1024;
const live = new Set<ChildHandle>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if a test file dies without running its hooks: 'exit' handlers
  // must be synchronous, so only SIGKILL is possible here.
  process.on('exit', () => {
    for (const h of live) h.child.kill('SIGKILL');
  });
}

// Publishers and tools run as installed: the sanitizer runtime that
// `npm run test:asan` preloads into node is for the addon (node children
// keep it), not for them; under it GStreamer published too slowly to test.
function envFor(cmd: string): NodeJS.ProcessEnv {
  if (cmd === process.execPath) return process.env;
  const { LD_PRELOAD: _preload, ASAN_OPTIONS: _asan, ...env } = process.env;
  return env;
}

export function spawnTracked(cmd: string, args: readonly string[], opts: SpawnTrackedOptions = {}): ChildHandle {
  installExitHook();
  const child = spawn(cmd, args, { stdio: [opts.stdin ?? 'ignore', opts.stdout ?? 'ignore', 'pipe'], env: envFor(cmd) });
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    err += chunk;
    if (err.length > STDERR_LIMIT * 2) err = err.slice(-STDERR_LIMIT);
  });
  const out: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));

  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    // 'close' (not 'exit') so stdout/stderr are fully read when this resolves.
    child.once('close', (code, signal) => resolve({ code, signal }));
  });

  let killing: Promise<ExitInfo> | undefined;
  const handle: ChildHandle = {
    child,
    command: [cmd, ...args].join(' '),
    exited,
    stderr: () => err.slice(-STDERR_LIMIT),
    stdout: () => Buffer.concat(out).toString('utf8'),
    kill(graceMs = 2000) {
      if (killing) return killing;
      killing = (async () => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          // ffmpeg blocked reading a stdin pipe ignores SIGTERM (the read restarts); EOF ends it.
          child.stdin?.destroy();
          child.kill('SIGCONT'); // a SIGSTOPped process would not act on SIGTERM
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          const info = await exited;
          clearTimeout(timer);
          return info;
        }
        return exited;
      })();
      return killing;
    },
  };
  live.add(handle);
  void exited.then(() => live.delete(handle));

  // Inside a running test, clean up when it finishes; outside one (beforeAll,
  // module scope) onTestFinished throws and the caller's hooks must do it.
  try {
    onTestFinished(async () => {
      await handle.kill();
    });
  } catch {
    /* not inside a test */
  }
  return handle;
}

/** Kills every process started through spawnTracked that is still running. Use in afterEach/afterAll. */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...live].map((h) => h.kill()));
}

/** Rejects with the process's stderr if it does not exit within timeoutMs (and kills it). */
export async function waitForExit(handle: ChildHandle, timeoutMs: number): Promise<ExitInfo> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void handle.kill();
      reject(new Error(`${handle.command}\n did not exit within ${timeoutMs} ms; stderr:\n${handle.stderr()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([handle.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Throws with diagnostics unless the process exited with code 0. */
export function assertExitedCleanly(handle: ChildHandle, info: ExitInfo): void {
  if (info.code === 0) return;
  const how = info.error ? `failed to start (${info.error.message})` : `exited with code ${info.code} signal ${info.signal}`;
  throw new Error(`${handle.command}\n ${how}; stderr:\n${handle.stderr()}`);
}

/** The kernel's state letter for a process (/proc/<pid>/stat: 'R', 'S', 'T' for stopped, 'Z', ...); undefined once it is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": comm may hold spaces and parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}
