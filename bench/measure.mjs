// Measuring processes from the outside: CPU and memory from the kernel
// (/proc and wait4 through bench/rusage.c), syscall counts from strace,
// ports from /proc/net/tcp (never by connecting: a libavformat listener
// accepts exactly one connection), a publisher's connect from its SYN on the
// loopback interface (tcpdump), and the statistics the report uses.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = dirname(BENCH_DIR);
export const CACHE_DIR = join(BENCH_DIR, '.cache');

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** CLOCK_MONOTONIC in µs: the clock of process.hrtime, of rtmp-ingest's readAtUs and of rusage.c's exitedAtUs. */
export const monoUs = () => Number(process.hrtime.bigint() / 1000n);
/** Wall clock in µs with sub-ms precision (the clock of tcpdump's timestamps and of the receivers' milestones). */
export const wallUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

// ---------------------------------------------------------------- /proc

/** utime+stime of one process in µs (clock-tick resolution), or undefined when it is gone. */
export function procCpuUs(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // after the comm field: f[0] = state (field 3), utime = field 14, stime = 15
    const user = Number(f[11]);
    const sys = Number(f[12]);
    return { userUs: (user * 1e6) / CLK_TCK, sysUs: (sys * 1e6) / CLK_TCK };
  } catch {
    return undefined;
  }
}

/**
 * Page faults of a process tree so far: minor and major, each process's own
 * plus those of children it has waited for (the counts wait4 reports at exit).
 */
export function treeFaults(pid) {
  let minFlt = 0;
  let majFlt = 0;
  for (const p of processTree(pid)) {
    try {
      const text = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      // after the comm field: minflt = field 10, cminflt 11, majflt 12, cmajflt 13
      minFlt += Number(f[7]) + Number(f[8]);
      majFlt += Number(f[9]) + Number(f[10]);
    } catch {
      /* gone */
    }
  }
  return { minFlt, majFlt };
}

/** VmRSS / VmHWM of a process in KiB, or undefined when it is gone. */
export function procMem(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key) => Number(text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
    return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
  } catch {
    return undefined;
  }
}

/** pid and all its descendants (threads are not processes: /proc/<pid>/task/<tid>/children). */
export function processTree(pid) {
  const out = [];
  const walk = (p) => {
    out.push(p);
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let kids = '';
      try {
        kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.trim().split(/\s+/).filter(Boolean)) walk(Number(k));
    }
  };
  walk(pid);
  return out;
}

/** CPU time of a process's live threads in µs, from /proc/<pid>/task/<tid>/schedstat (ns precision). */
function schedstatUs(pid) {
  let ns = 0;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        /* thread gone */
      }
    }
  } catch {
    return 0;
  }
  return ns / 1000;
}

/**
 * CPU used so far by a process tree: user/sys from /proc/<pid>/stat (clock
 * ticks, truncated) scaled up to the schedstat total where that is more
 * precise. The bench subtracts this at "listening" from the final wait4 figure.
 */
export function treeCpuUs(pid) {
  let userUs = 0;
  let sysUs = 0;
  for (const p of processTree(pid)) {
    const c = procCpuUs(p);
    if (!c) continue;
    const ticks = c.userUs + c.sysUs;
    const precise = schedstatUs(p);
    const scale = precise > ticks && ticks > 0 ? precise / ticks : 1;
    if (ticks === 0 && precise > 0) {
      userUs += precise; // no split known: count it as user
      continue;
    }
    userUs += c.userUs * scale;
    sysUs += c.sysUs * scale;
  }
  return { userUs, sysUs };
}

export function listeningPorts() {
  const ports = new Set();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== '0A') continue;
      ports.add(Number.parseInt(cols[1].slice(cols[1].lastIndexOf(':') + 1), 16));
    }
  }
  return ports;
}

/** Resolves once something LISTENs on port (read from /proc/net/tcp; never connects). */
export async function waitForPort(port, { timeoutMs = 15_000, handle } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (listeningPorts().has(port)) return;
    if (handle?.exitInfo) throw new Error(`${handle.name} exited before listening on ${port}: ${handle.stderr().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`nothing listened on ${port} within ${timeoutMs} ms${handle ? `: ${handle.stderr().slice(-2000)}` : ''}`);
    await sleep(10);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- processes

const live = new Set();
function killAll() {
  for (const h of live) {
    try {
      process.kill(h.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

/**
 * spawn() with bookkeeping: stdout as JSON lines (onLine), the last 64 KiB of
 * stderr, an `exited` promise, and kill() with a SIGKILL fallback. Every
 * process started here is killed (by its pid) when the bench exits.
 */
export function startProcess(name, cmd, args, { onLine, onStderr, stdout = 'lines', env } = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', stdout === 'ignore' ? 'ignore' : 'pipe', 'pipe'], env: env ?? process.env });
  let err = '';
  let out = '';
  const h = {
    name,
    child,
    pid: child.pid,
    exitInfo: undefined,
    stderr: () => err,
    /** stdout as text (stdout: 'text' only). */
    stdout: () => out,
    lines: [],
  };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    err += d;
    if (err.length > 128 * 1024) err = err.slice(-64 * 1024);
    onStderr?.(d);
  });
  if (child.stdout && stdout === 'text') {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => (out += d));
  }
  if (child.stdout && stdout === 'lines') {
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        h.lines.push(msg);
        onLine?.(msg);
      }
    });
  }
  h.exited = new Promise((resolve) => {
    child.once('error', (error) => {
      h.exitInfo = { code: null, signal: null, error };
      resolve(h.exitInfo);
    });
    child.once('close', (code, signal) => {
      h.exitInfo = { code, signal };
      resolve(h.exitInfo);
    });
  });
  live.add(h);
  void h.exited.then(() => live.delete(h));
  h.kill = async (graceMs = 3000, sig = 'SIGTERM') => {
    if (!h.exitInfo) {
      try {
        child.kill(sig);
      } catch {
        /* gone */
      }
      const t = setTimeout(() => {
        try {
          child.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }, graceMs);
      await h.exited;
      clearTimeout(t);
    }
    return h.exitInfo;
  };
  /** Waits for the first stdout JSON line matching pred. */
  h.waitLine = (pred, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const found = h.lines.find(pred);
      if (found) return resolve(found);
      const t = setTimeout(() => {
        cleanup();
        reject(new Error(`${name}: timed out waiting for a line; stderr: ${err.slice(-2000)}`));
      }, timeoutMs);
      const onData = (msg) => {
        if (pred(msg)) {
          cleanup();
          resolve(msg);
        }
      };
      const onExit = () => {
        const late = h.lines.find(pred);
        cleanup();
        if (late) resolve(late);
        else reject(new Error(`${name} exited (${JSON.stringify(h.exitInfo)}) before the expected line; stderr: ${err.slice(-2000)}`));
      };
      const cleanup = () => {
        clearTimeout(t);
        h.lineListeners.delete(onData);
      };
      h.lineListeners.add(onData);
      void h.exited.then(() => setImmediate(onExit));
    });
  h.lineListeners = new Set();
  const userOnLine = onLine;
  onLine = (msg) => {
    userOnLine?.(msg);
    for (const l of h.lineListeners) l(msg);
  };
  return h;
}

/** Resolves with h.exitInfo, or kills h and rejects after timeoutMs. */
export async function waitExit(h, timeoutMs) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => {
      void h.kill(1000);
      reject(new Error(`${h.name} did not exit within ${timeoutMs} ms; stderr: ${h.stderr().slice(-2000)}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([h.exited, timeout]);
  } finally {
    clearTimeout(t);
  }
}

// ---------------------------------------------------------------- rusage wrapper

const built = new Map();
/** Compiles a helper in bench/ once into bench/.cache (cc is needed for the addon's build anyway). */
// The binary's name carries a hash of its source, so a cache shared between
// checkouts never runs a helper built from other source (mtimes cannot tell).
function buildHelper(src, bin, flags) {
  const key = bin;
  if (built.has(key)) return built.get(key);
  mkdirSync(CACHE_DIR, { recursive: true });
  const srcPath = join(BENCH_DIR, src);
  const hash = createHash('sha256').update(readFileSync(srcPath)).update(flags.join(' ')).digest('hex').slice(0, 12);
  const dot = bin.lastIndexOf('.');
  const binPath = join(CACHE_DIR, dot > 0 ? `${bin.slice(0, dot)}-${hash}${bin.slice(dot)}` : `${bin}-${hash}`);
  if (!existsSync(binPath)) {
    const tmp = `${binPath}.${process.pid}.tmp`;
    const r = spawnSync('cc', ['-O2', ...flags, '-o', tmp, srcPath, ...(flags.includes('-shared') ? ['-ldl'] : [])], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot compile ${srcPath}: ${r.stderr || r.error}`);
    renameSync(tmp, binPath);
  }
  built.set(key, binPath);
  return binPath;
}

/** bench/rusage.c: runs a command and reports the kernel's wait4 accounting of it. */
export const rusageWrap = () => buildHelper('rusage.c', 'rusage-wrap', []);
/** bench/linger.c: LD_PRELOAD for the publishers of the lingering-close row only (see the file). */
export const lingerShim = () => buildHelper('linger.c', 'linger.so', ['-shared', '-fPIC']);

let measuredSeq = 0;
/**
 * Starts cmd under rusage-wrap. `h.pid` becomes the measured process's pid
 * (not the wrapper's) once known; `h.rusage()` reads the kernel's final
 * figures after exit. A sampler records the process tree's RSS every 100 ms.
 */
export async function startMeasured(name, cmd, args, opts = {}) {
  const out = join(CACHE_DIR, `rusage-${process.pid}-${++measuredSeq}.json`);
  const h = startProcess(name, rusageWrap(), [out, '--', cmd, ...args], opts);
  const deadline = Date.now() + 5000;
  let pid;
  while (!pid) {
    try {
      pid = JSON.parse(readFileSync(out, 'utf8')).pid;
    } catch {
      if (Date.now() > deadline || h.exitInfo) throw new Error(`${name}: rusage-wrap did not start ${cmd}: ${h.stderr()}`);
      await sleep(2);
    }
  }
  h.wrapperPid = h.pid;
  h.pid = pid;
  h.hwmByPid = new Map();
  h.peakTreeRssKiB = 0;
  const sample = () => {
    let sum = 0;
    for (const p of processTree(pid)) {
      const m = procMem(p);
      if (!m) continue;
      sum += m.rssKiB;
      h.hwmByPid.set(p, Math.max(h.hwmByPid.get(p) ?? 0, m.hwmKiB));
    }
    h.peakTreeRssKiB = Math.max(h.peakTreeRssKiB, sum);
  };
  const timer = setInterval(sample, 100);
  void h.exited.then(() => clearInterval(timer));
  h.sample = sample;
  h.rusage = () => {
    try {
      const r = JSON.parse(readFileSync(out, 'utf8'));
      return r.userUs === undefined ? undefined : r;
    } catch {
      return undefined;
    }
  };
  /** Peak RSS: the kernel's maxrss for one process; for a tree, the sum of each member's VmHWM. */
  h.peakRssKiB = () => {
    const r = h.rusage();
    const hwmSum = [...h.hwmByPid.values()].reduce((a, b) => a + b, 0);
    return h.hwmByPid.size > 1 ? hwmSum : Math.max(r?.maxRssKiB ?? 0, hwmSum);
  };
  return h;
}

// ---------------------------------------------------------------- connect times

let tcpdumpOk;
/** Whether tcpdump can capture on the loopback interface here (it needs root or CAP_NET_RAW). */
export function synCaptureWorks() {
  if (tcpdumpOk === undefined) {
    // A capture that matches nothing, stopped after 3 s: it works if it got as far as listening.
    const r = process.env.BENCH_NO_TCPDUMP ? undefined : spawnSync('tcpdump', ['-i', 'lo', '-n', '-c', '1', 'icmp and icmp[0] == 254'], { encoding: 'utf8', timeout: 3000 });
    tcpdumpOk = /listening on lo/.test(r?.stderr ?? '');
  }
  return tcpdumpOk;
}

/**
 * A publisher's TCP connect, seen from outside the publisher: tcpdump on the
 * loopback interface, started before the publisher, prints the kernel's
 * timestamp of the first SYN to `port` and exits (-c 1), so its capture is
 * gone before the stream flows. Resolves once tcpdump is capturing;
 * `at()` resolves with that SYN's wall-clock µs, or undefined if none came.
 */
export async function watchSyn(port) {
  const filter = `ip and tcp dst port ${port} and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn`;
  const h = startProcess(`tcpdump port ${port}`, 'tcpdump', ['-i', 'lo', '-n', '-tt', '-l', '-c', '1', '--immediate-mode', '-s', '96', filter], { stdout: 'text' });
  // It prints "listening on lo" once its filter is set, i.e. once it captures.
  const deadline = Date.now() + 10_000;
  while (!/listening on/.test(h.stderr())) {
    if (h.exitInfo || Date.now() > deadline) {
      await h.kill(500);
      throw new Error(`tcpdump did not start capturing: ${h.stderr().slice(-500)}`);
    }
    await sleep(2);
  }
  return {
    at: async () => {
      await waitExit(h, 2000).catch(() => h.kill(500));
      const s = Number(h.stdout().split(' ')[0]);
      return s > 0 ? Math.round(s * 1e6) : undefined;
    },
  };
}

// ---------------------------------------------------------------- strace

/** Attaches `strace -c -f` to running pids (all their threads); resolves once attached. */
export async function attachStrace(pids, outFile) {
  if (!straceWorks()) throw new Error('strace is not installed');
  const args = ['-c', '-f', '-o', outFile];
  for (const p of pids) args.push('-p', String(p));
  const h = startProcess('strace', 'strace', args, { stdout: 'ignore' });
  // strace reports each attached thread on stderr ("Process N attached").
  const deadline = Date.now() + 5000;
  while (!/attached/.test(h.stderr()) && Date.now() < deadline && !h.exitInfo) await sleep(5);
  await sleep(50);
  return h;
}

let straceOk;
/** Whether strace runs here (CI images may lack it: then no syscall profile). */
export function straceWorks() {
  if (straceOk === undefined) straceOk = !process.env.BENCH_NO_STRACE && spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;
  return straceOk;
}

/** Whether `perf stat` can count syscall tracepoints here (needs tracefs and perf_event_paranoid permitting). */
export function perfWorks() {
  const r = spawnSync('perf', ['stat', '-x', ',', '-e', 'raw_syscalls:sys_enter', '--', 'true'], { encoding: 'utf8' });
  return r.status === 0 && /^\d+,/m.test(r.stderr);
}

/** Attaches `perf stat` (syscalls, context switches) to running pids; counts all their threads. */
export async function attachPerf(pids, outFile) {
  const h = startProcess('perf', 'perf', ['stat', '-x', ',', '-o', outFile, '-e', 'raw_syscalls:sys_enter,context-switches', '-p', pids.join(',')], { stdout: 'ignore' });
  await sleep(300);
  return h;
}

export function parsePerfStat(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const cols = line.split(',');
    if (cols.length > 3 && /^\d+$/.test(cols[0])) out[cols[2]] = Number(cols[0]);
  }
  return { syscalls: out['raw_syscalls:sys_enter'], contextSwitches: out['context-switches'] };
}

/** Parses `strace -c` output: { total, byName: { recvfrom: n, ... } }. */
export function parseStraceSummary(text) {
  const byName = {};
  let total = 0;
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    // % time, seconds, usecs/call, calls, [errors], syscall
    if (cols.length < 5 || !/^\d/.test(cols[0]) || cols[0].includes('-')) continue;
    const name = cols[cols.length - 1];
    const calls = Number(cols[3]);
    if (name === 'total') {
      total = calls;
      continue;
    }
    if (Number.isFinite(calls)) byName[name] = calls;
  }
  if (!total) total = Object.values(byName).reduce((a, b) => a + b, 0);
  return { total, byName };
}

// ---------------------------------------------------------------- statistics

export function quantile(values, q) {
  if (!values.length) return NaN;
  const s = Float64Array.from(values).sort();
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
export const median = (values) => quantile(values, 0.5);
