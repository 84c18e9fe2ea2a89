// One benchmark job, run in a fresh Node process by run.mjs:
//   node bench/scenario.mjs <job>        e.g. s1:piscina, s2:tandem-process, s4:raw-thread, s5:tandem-thread:4
// Prints one line `RESULT {json}` on stdout. Pools are started and warmed
// before anything is timed, and closed before the process exits.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { fib as fibKernel } from './fib.mjs';

const here = (rel) => new URL(rel, import.meta.url);
const hereFile = (rel) => fileURLToPath(here(rel));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

export const N_TASKS = Number(process.env.BENCH_TASKS ?? 100_000); // scenarios 1 and 4
export const N_MAP = Number(process.env.BENCH_MAP ?? 1_000_000); // scenario 2
export const N_WARM = Math.min(20_000, N_TASKS);
export const FIB_N = 32;
export const FIB_COUNT = 16;
export const FIB_VALUE = 2178309; // fib(32)

/**
 * A pool of one library behind the same three calls. `call(i)` is each
 * library's per-task API with the trivial (identity) task; `fib(n)` runs the
 * shared fib kernel.
 */
async function openPool(lib, size) {
  switch (lib) {
    case 'tandem-thread':
    case 'tandem-process': {
      const { Pool } = await import('tandem');
      const tasks = await import('./tasks.mjs');
      const pool = new Pool({ backend: lib.slice('tandem-'.length), size });
      await pool.ready();
      return {
        pool,
        tasks,
        call: (i) => pool.submit(tasks.noop, [i]),
        fib: (n) => pool.submit(tasks.fib, [n]),
        close: () => pool.close(),
      };
    }
    case 'piscina': {
      const { Piscina } = await import('piscina');
      const pool = new Piscina({ filename: here('./peers/plain.mjs').href, minThreads: size, maxThreads: size });
      return {
        call: (i) => pool.run(i),
        fib: (n) => pool.run(n, { name: 'fib' }),
        close: () => pool.destroy(),
      };
    }
    case 'tinypool': {
      const { Tinypool } = await import('tinypool');
      const pool = new Tinypool({ filename: here('./peers/plain.mjs').href, minThreads: size, maxThreads: size });
      return {
        call: (i) => pool.run(i),
        fib: (n) => pool.run(n, { name: 'fib' }),
        close: () => pool.destroy(),
      };
    }
    case 'workerpool': {
      const { default: workerpool } = await import('workerpool');
      const pool = workerpool.pool(hereFile('./peers/workerpool-worker.mjs'), {
        minWorkers: size,
        maxWorkers: size,
        workerType: 'thread',
      });
      return {
        call: (i) => pool.exec('noop', [i]),
        fib: (n) => pool.exec('fib', [n]),
        close: () => pool.terminate(),
      };
    }
    case 'poolifier': {
      const { FixedThreadPool } = await import('poolifier');
      const pool = new FixedThreadPool(size, hereFile('./peers/poolifier-worker.mjs'), {
        errorHandler: (e) => console.error(e),
      });
      return {
        call: (i) => pool.execute(i, 'noop'),
        fib: (n) => pool.execute(n, 'fib'),
        // poolifier 5.3.2's destroy() sometimes never settles (seen here about
        // one run in five); it is never timed, so give it 3 s and move on.
        close: () => Promise.race([pool.destroy(), sleep(3000)]),
      };
    }
    default:
      throw new Error(`unknown library ${lib}`);
  }
}

/** Submits n trivial tasks one by one, awaits them all; returns the elapsed ms. */
async function burst(pool, n) {
  const t0 = now();
  const pending = new Array(n);
  for (let i = 0; i < n; i++) pending[i] = pool.call(i);
  const results = await Promise.all(pending);
  const ms = now() - t0;
  if (results[n - 1] !== n - 1) throw new Error(`wrong result ${results[n - 1]}`);
  return ms;
}

// ---- scenario 1: 100k individual submits
async function s1(lib) {
  const pool = await openPool(lib, 2);
  await burst(pool, N_WARM);
  await burst(pool, N_WARM);
  await sleep(50);
  const alloc = process.env.BENCH_ALLOC ? await allocationMeter() : null;
  const cpu0 = process.cpuUsage();
  const ms = await burst(pool, N_TASKS);
  const cpu = process.cpuUsage(cpu0);
  const allocation = alloc ? alloc.stop(N_TASKS) : undefined;
  await pool.close();
  // CPU time of this process (main thread plus any worker threads) per task:
  // less sensitive than wall time to other load on the machine.
  const cpuUsPerTask = (cpu.user + cpu.system) / N_TASKS;
  return { tasks: N_TASKS, ms, perSec: (N_TASKS / ms) * 1000, cpuUsPerTask, allocation };
}

/**
 * BENCH_ALLOC=1: bytes the main thread allocated (and GC time) during the
 * timed section, from v8.GCProfiler (sum of what each GC freed plus the heap's
 * growth), per task. Off by default: it is a diagnosis, not a benchmark figure.
 */
async function allocationMeter() {
  const v8 = await import('node:v8');
  globalThis.gc?.();
  const heapUsed = () => v8.getHeapStatistics().used_heap_size;
  const profiler = new v8.GCProfiler();
  profiler.start();
  const start = heapUsed();
  return {
    stop(n) {
      const end = heapUsed();
      const { statistics } = profiler.stop();
      let freed = 0;
      let gcMs = 0;
      const byType = {};
      for (const gc of statistics) {
        const t = (byType[gc.gcType] ??= { count: 0, ms: 0 });
        t.count++;
        t.ms += gc.cost / 1000;
        freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
        gcMs += gc.cost / 1000;
      }
      return { bytesPerTask: (freed + end - start) / n, gcs: statistics.length, gcMs, byType, retainedMb: (end - start) / 2 ** 20 };
    },
  };
}

// ---- scenario 2: pool.map over 1M ints
async function s2(lib) {
  const pool = await openPool(lib, 2);
  const items = Array.from({ length: N_MAP }, (_, i) => i);
  const warm = items.slice(0, 100_000);
  await pool.pool.map(pool.tasks.noop, warm);
  await pool.pool.map(pool.tasks.noop, warm);
  await sleep(50);
  const t0 = now();
  const out = await pool.pool.map(pool.tasks.noop, items);
  const ms = now() - t0;
  if (out.length !== N_MAP || out[N_MAP - 1] !== N_MAP - 1) throw new Error('wrong map result');
  await pool.close();
  return { items: N_MAP, ms, perSec: (N_MAP / ms) * 1000 };
}

// ---- scenario 3: 16 x fib(32), sequential vs pool (size = availableParallelism)
async function s3(lib) {
  const cores = os.availableParallelism();
  const sequential = () => {
    const t0 = now();
    for (let i = 0; i < FIB_COUNT; i++) if (fibKernel(FIB_N) !== FIB_VALUE) throw new Error('wrong fib');
    return now() - t0;
  };
  for (let i = 0; i < 3; i++) fibKernel(27);
  if (lib === 'sequential') return { cores, ms: sequential() };
  const pool = await openPool(lib, cores);
  await Promise.all(Array.from({ length: cores * 2 }, () => pool.fib(27)));
  // The sequential baseline runs in this same process, just before and after
  // the pool run (the idle workers use no CPU), so machine noise hits both alike.
  const seqBefore = sequential();
  await sleep(50);
  const t0 = now();
  const out = await Promise.all(Array.from({ length: FIB_COUNT }, () => pool.fib(FIB_N)));
  const ms = now() - t0;
  if (out.some((v) => v !== FIB_VALUE)) throw new Error('wrong fib');
  const seqAfter = sequential();
  await pool.close();
  const seqMs = (seqBefore + seqAfter) / 2;
  return { cores, ms, seqMs, seqBefore, seqAfter, speedup: seqMs / ms };
}

// ---- scenario 4: raw echo over the pool's own transport (the floor), then tandem in the same process
/** Items per message in the batched raw echo: the floor `map` is held to (issue 8). */
const ECHO_BATCH = 1000;

function forkEcho() {
  const child = fork(hereFile('./peers/echo-child.mjs'), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('message', () => resolve(child));
    child.send('hello');
  });
}

function threadEcho() {
  const worker = new Worker(hereFile('./peers/echo-thread.mjs'));
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', () => resolve(worker));
    worker.postMessage('hello');
  });
}

/**
 * One echo peer of either transport behind the same calls: `send(m)`, and
 * `target`, the ChildProcess or Worker that emits each reply as 'message'.
 */
async function openEcho(transport) {
  if (transport === 'process') {
    const child = await forkEcho();
    return { send: (m) => child.send(m), target: child, close: () => child.disconnect() };
  }
  const worker = await threadEcho();
  return { send: (m) => worker.postMessage(m), target: worker, close: () => worker.terminate() };
}

/**
 * Sends n messages (the integer i) spread round-robin over the peers,
 * keeping at most `window` messages in flight per peer (window 1 = ping-pong,
 * Infinity = send everything at once); resolves with elapsed ms when every echo is back.
 */
function echoRun(peers, n, window) {
  return new Promise((resolve) => {
    const t0 = now();
    let received = 0;
    let sent = 0;
    const handlers = [];
    const finish = () => {
      for (const [k, p] of peers.entries()) p.target.off('message', handlers[k]);
      resolve(now() - t0);
    };
    const perPeer = Math.ceil(n / peers.length);
    peers.forEach((peer, k) => {
      let mine = 0; // sent to this peer
      const sendOne = () => {
        peer.send(sent++);
        mine++;
      };
      handlers[k] = () => {
        received++;
        if (received === n) return finish();
        if (mine < perPeer && sent < n) sendOne();
      };
      peer.target.on('message', handlers[k]);
      const first = Math.min(window, perPeer);
      for (let j = 0; j < first && sent < n; j++) sendOne();
    });
  });
}

/**
 * Echoes n ints in arrays of `size`, batches dealt round-robin over the peers,
 * at most `window` batches in flight per peer; resolves with elapsed ms.
 */
function echoBatched(peers, n, size, window) {
  return new Promise((resolve) => {
    const t0 = now();
    let next = 0;
    let received = 0;
    const handlers = [];
    const sendOne = (peer) => {
      const end = Math.min(n, next + size);
      const arr = new Array(end - next);
      for (let i = 0; i < arr.length; i++) arr[i] = next + i;
      next = end;
      peer.send(arr);
    };
    peers.forEach((peer, k) => {
      handlers[k] = (arr) => {
        received += arr.length;
        if (received >= n) {
          for (const [j, p] of peers.entries()) p.target.off('message', handlers[j]);
          resolve(now() - t0);
        } else if (next < n) sendOne(peer);
      };
      peer.target.on('message', handlers[k]);
    });
    for (let j = 0; j < window && next < n; j++) for (const peer of peers) if (next < n) sendOne(peer);
  });
}

/**
 * Raw echo over `transport` ('thread': worker_threads postMessage; 'process':
 * child_process.fork with serialization 'advanced'), then, with `withTandem`,
 * tandem's pool of the same backend in the same process. Two configurations
 * are the floors issue 8 holds tandem to: every item sent at once, one
 * message each, over 2 peers (for `submit`), and the same with ECHO_BATCH
 * items per message (for `map`).
 */
async function s4(transport, withTandem) {
  const tandem = withTandem ? await openPool(`tandem-${transport}`, 2) : null;
  if (tandem) {
    await burst(tandem, N_WARM);
    await burst(tandem, N_WARM);
  }
  const peers = [await openEcho(transport), await openEcho(transport)];
  const noun = (k) => (transport === 'process' ? (k > 1 ? 'children' : 'child') : k > 1 ? 'threads' : 'thread');
  const configs = [
    ...[1, 2].map((kids) => ({ name: `ping-pong, ${kids} ${noun(kids)}`, kids, window: 1, n: Math.min(N_TASKS, 20_000) })),
    ...[64, 1024, Infinity].flatMap((window) =>
      [1, 2].map((kids) => ({
        name: `${window === Infinity ? 'all at once' : `window ${window}`}, ${kids} ${noun(kids)}`,
        kids,
        window,
        n: N_TASKS,
      })),
    ),
  ];
  const floorName = `all at once, 2 ${noun(2)}`;
  for (const c of configs) await echoRun(peers.slice(0, c.kids), 5_000, c.window); // warm-up
  const out = {};
  for (const c of configs) {
    await sleep(20);
    const ms = await echoRun(peers.slice(0, c.kids), c.n, c.window);
    out[c.name] = { messages: c.n, ms, perSec: (c.n / ms) * 1000 };
  }
  // The same channel when the sender coalesces items into arrays, as pool.map does (items/s).
  await echoBatched(peers, Math.min(N_MAP, 100_000), ECHO_BATCH, Infinity);
  await sleep(20);
  const batchedMs = await echoBatched(peers, N_MAP, ECHO_BATCH, Infinity);
  const batched = {
    name: `${ECHO_BATCH} ints per message, all at once, 2 ${noun(2)}`,
    items: N_MAP,
    perMessage: ECHO_BATCH,
    ms: batchedMs,
    perSec: (N_MAP / batchedMs) * 1000,
  };
  await Promise.all(peers.map((p) => p.close()));
  const pipelined = Object.entries(out).filter(([k]) => !k.startsWith('ping-pong'));
  const best = pipelined.reduce((a, b) => (b[1].perSec > a[1].perSec ? b : a));
  const result = {
    transport,
    configs: out,
    batched,
    floor: { name: floorName, perSec: out[floorName].perSec },
    best: { name: best[0], perSec: best[1].perSec },
    pingPong: out[`ping-pong, 1 ${noun(1)}`].perSec,
  };
  if (tandem) {
    await sleep(50);
    const submitMs = await burst(tandem, N_TASKS);
    // tandem ping-pong: one awaited call at a time
    const nPing = Math.min(N_TASKS, 20_000);
    let t0 = now();
    for (let i = 0; i < nPing; i++) if ((await tandem.call(i)) !== i) throw new Error('wrong result');
    const pingMs = now() - t0;
    const items = Array.from({ length: N_MAP }, (_, i) => i);
    await tandem.pool.map(tandem.tasks.noop, items.slice(0, 100_000));
    t0 = now();
    const mapped = await tandem.pool.map(tandem.tasks.noop, items);
    const mapMs = now() - t0;
    if (mapped.length !== N_MAP || mapped[N_MAP - 1] !== N_MAP - 1) throw new Error('wrong map result');
    await tandem.close();
    const t = {
      submitPerSec: (N_TASKS / submitMs) * 1000,
      pingPongPerSec: (nPing / pingMs) * 1000,
      mapPerSec: (N_MAP / mapMs) * 1000,
    };
    t.submitVsFloor = t.submitPerSec / result.floor.perSec;
    t.submitVsRawBest = t.submitPerSec / result.best.perSec;
    t.mapVsBatched = t.mapPerSec / batched.perSec;
    t.pingPongVsRaw = t.pingPongPerSec / result.pingPong;
    result.tandem = t;
  }
  return result;
}

// ---- scenario 5: resident memory per idle worker
function procStatus(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  let pssKb = NaN;
  try {
    pssKb = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
  } catch {}
  return { rssMb: kb('VmRSS') / 1024, pssMb: pssKb / 1024, threads: kb('Threads') };
}

async function settledRss() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await sleep(100);
  }
  return process.memoryUsage().rss / 2 ** 20;
}

async function s5(kind, n) {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
  // Load the code first so the baseline holds the library, not the workers.
  if (kind.startsWith('tandem')) {
    await import('tandem');
    await import('./tasks.mjs');
  } else if (!kind.startsWith('raw')) await import(kind);
  const before = await settledRss();
  let close;
  let pids = [];
  if (kind === 'raw-thread') {
    const workers = await Promise.all(
      Array.from({ length: n }, () => {
        const w = new Worker(
          `require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m));`,
          { eval: true },
        );
        return new Promise((resolve) => {
          w.once('message', () => resolve(w));
          w.postMessage('hello');
        });
      }),
    );
    close = () => Promise.all(workers.map((w) => w.terminate()));
  } else if (kind === 'raw-fork') {
    const children = await Promise.all(Array.from({ length: n }, forkEcho));
    pids = children.map((c) => c.pid);
    close = async () => {
      for (const c of children) c.disconnect();
    };
  } else {
    const lib = kind === 'tandem-thread' || kind === 'tandem-process' ? kind : kind;
    const pool = await openPool(lib, n);
    await Promise.all(Array.from({ length: 1000 }, (_, i) => pool.call(i)));
    if (kind === 'tandem-process') {
      const seen = new Set();
      for (let tries = 0; tries < 10 && seen.size < n; tries++) {
        const got = await Promise.all(Array.from({ length: n }, () => pool.pool.submit(pool.tasks.pidAfter, [100])));
        for (const p of got) seen.add(p);
      }
      pids = [...seen];
      if (pids.length !== n) throw new Error(`found ${pids.length} worker pids, expected ${n}`);
    }
    close = () => pool.close();
  }
  await sleep(300);
  const after = await settledRss();
  const out = { workers: n, parentRssBeforeMb: before, parentRssAfterMb: after, parentDeltaPerWorkerMb: (after - before) / n };
  if (pids.length) {
    const children = pids.map(procStatus);
    out.children = children;
    out.childRssPerWorkerMb = children.reduce((s, c) => s + c.rssMb, 0) / n;
    out.childPssPerWorkerMb = children.reduce((s, c) => s + c.pssMb, 0) / n;
    out.childThreads = children[0].threads;
  }
  await close();
  return out;
}

async function main() {
  const job = process.argv[2] ?? '';
  const [scenario, lib, arg] = job.split(':');
  let result;
  if (scenario === 's1') result = await s1(lib);
  else if (scenario === 's2') result = await s2(lib);
  else if (scenario === 's3') result = await s3(lib);
  else if (scenario === 's4' && /^(tandem-(thread|process)-vs-raw|raw-(thread|process))$/.test(lib))
    result = await s4(lib.includes('thread') ? 'thread' : 'process', lib.startsWith('tandem-'));
  else if (scenario === 's5') result = await s5(lib, Number(arg));
  else throw new Error(`unknown job '${job}'`);
  // Which build ran ('tandem' is the self-reference: this tree's dist/), so a comparison of two trees can be checked.
  result.tandemEntry = fileURLToPath(import.meta.resolve('tandem'));
  // Exit at once: a library that leaves a handle open must not hang the run.
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`, () => process.exit(0));
}

await main();
