// Node child processes that run the built package (dist/) and report JSON
// lines on stdout: test/children/*.mjs. The README's test command builds
// first (`npm run build:dev && npm test`); ensureBuiltPackage() rebuilds dist/
// with `npm run build:ts` when a lib/ source is newer, so a stale dist/ is
// never what a child tests.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnTracked, type ChildHandle } from './process.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let built = false;

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

/** Runs `npm run build:ts` if dist/ is missing or older than lib/. Once per test file. */
export function ensureBuiltPackage(): void {
  if (built) return;
  const dist = Math.min(mtime(`${root}dist/index.js`), mtime(`${root}dist/index.mjs`));
  const lib = Math.max(...readdirSync(`${root}lib`).map((f) => mtime(`${root}lib/${f}`)));
  if (dist < 0 || lib > dist) {
    try {
      execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'pipe', timeout: 120_000 });
    } catch (err) {
      const e = err as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`npm run build:ts failed:\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
    }
  }
  built = true;
}

export const childScript = (name: string): string => fileURLToPath(new URL(`../children/${name}`, import.meta.url));

export interface ChildMessage {
  type: string;
  [key: string]: unknown;
}

export interface NodeChild {
  handle: ChildHandle;
  /** Every JSON line the child wrote so far. */
  messages: ChildMessage[];
  /** The first message (already received or still to come) that matches; rejects after timeoutMs with the child's output. */
  waitFor(pred: (m: ChildMessage) => boolean, what: string, timeoutMs?: number): Promise<ChildMessage>;
}

/** Spawns `node [nodeArgs] test/children/<script> <args>` with stdout parsed as JSON lines. */
export function spawnNodeChild(script: string, args: readonly string[], nodeArgs: readonly string[] = []): NodeChild {
  ensureBuiltPackage();
  const handle = spawnTracked(process.execPath, [...nodeArgs, childScript(script), ...args], { stdout: 'pipe' });
  const messages: ChildMessage[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  handle.child.stdout!.setEncoding('utf8');
  handle.child.stdout!.on('data', (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (!line.trim()) continue;
      try {
        messages.push(JSON.parse(line) as ChildMessage);
      } catch {
        messages.push({ type: 'unparsed', line });
      }
    }
    for (const w of [...waiters]) w();
  });
  let exited = false;
  void handle.exited.then(() => {
    exited = true;
    for (const w of [...waiters]) w();
  });
  const describe = () =>
    `${handle.command}\nstdout (last 10 messages): ${JSON.stringify(messages.slice(-10))}\nstderr: ${handle.stderr()}`;
  const waitFor: NodeChild['waitFor'] = (pred, what, timeoutMs = 15_000) =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = messages.find(pred);
        if (m) {
          done();
          resolve(m);
          return true;
        }
        if (exited) {
          done();
          reject(new Error(`child exited without ${what}:\n${describe()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${what} from the child within ${timeoutMs} ms:\n${describe()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(onData);
      };
      const onData = () => void check();
      if (!check()) waiters.add(onData);
    });
  return { handle, messages, waitFor };
}
