// Fault soak (issue 8): minutes of random calls and faults against one pool at
// a time, checking from outside the promises of the README's failure section:
//   - every accepted call settles exactly once, with an outcome its kind allows
//     (a call is blamed only for its own fault: with one call per worker at a
//     time, nothing but the faulty call itself may fail of a crash or timeout);
//   - a call runs no more often than its retries allow, a cancelled pending
//     call never runs (counted from logs the tasks write, not from the pool);
//   - stats() adds up, live and once the pool is quiet;
//   - the pool keeps serving; close() returns and leaves no worker behind.
// Faults: tasks that throw, call process.exit, throw outside any call, run
// past their timeout, are SIGKILLed from outside (process backend), arguments
// that cannot be sent, cancels (future.cancel, AbortSignal, before and while
// running), retries, map/imap with failing items, early breaks, throwing input.
// The pool's options change between phases (retries, idleTimeout, recycling).
//
//   npm run soak                                    build, then both backends, 120 s each
//   node bench/soak.mjs --duration=30 --backend=process --seed=7
//   SOAK_DURATION=600 SOAK_BACKEND=thread SOAK_SEED=7 node bench/soak.mjs
//   node bench/soak.mjs --help
//
// Exit status: 0 no violation; 1 violations; 2 bad usage; 3 a hang (a call
// that never settled, a close() that never returned, or the watchdog).
// Not a test and not a benchmark: it runs only when asked.
import { existsSync, mkdtempSync, promises as fsp, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// ---------------------------------------------------------------- options
/** Set once the soak has reported; an exit before that is a hang of its own kind. */
let finished = false;
const OPTIONS = {
  duration: ['SOAK_DURATION', 120, 'seconds of load per backend'],
  backend: ['SOAK_BACKEND', 'both', "'thread', 'process' or 'both'"],
  seed: ['SOAK_SEED', null, 'seed of the random choices (default: random, printed)'],
  size: ['SOAK_SIZE', 3, 'pool size'],
  inflight: ['SOAK_INFLIGHT', 48, 'calls kept outstanding'],
  phase: ['SOAK_PHASE', 15, 'seconds per phase (pool options change between phases)'],
  'fault-rate': ['SOAK_FAULT_RATE', 2, 'faulty calls per second (each crash runs 1 + retries times)'],
  'map-rate': ['SOAK_MAP_RATE', 2, 'map/imap calls per second (in phases with maps)'],
  keep: ['SOAK_KEEP', false, 'keep the run logs (their directory is printed)'],
};

function usage(problem) {
  const say = problem ? console.error : console.log;
  if (problem) say(`soak: ${problem}`);
  say('usage: node bench/soak.mjs [--name=value ...]   (or the environment variable)');
  for (const [name, [env, def, what]] of Object.entries(OPTIONS))
    say(`  --${name.padEnd(11)} ${env.padEnd(16)} ${what}${def === null ? '' : ` (default ${def})`}`);
  finished = true;
  process.exit(problem ? 2 : 0);
}

const given = {};
for (const arg of process.argv.slice(2)) {
  if (arg === '--help' || arg === '-h') usage();
  const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
  if (!m || !(m[1] in OPTIONS)) usage(`unknown argument '${arg}'`);
  given[m[1]] = m[2] ?? 'true';
}
function option(name) {
  const [env, def] = OPTIONS[name];
  return given[name] ?? process.env[env] ?? def;
}
function positive(name) {
  const v = Number(option(name));
  if (!Number.isFinite(v) || v <= 0) usage(`--${name} must be a positive number, got '${option(name)}'`);
  return v;
}
const backendOption = option('backend');
if (!['thread', 'process', 'both'].includes(backendOption)) usage(`--backend must be thread, process or both, got '${backendOption}'`);
const config = {
  durationS: positive('duration'),
  backends: backendOption === 'both' ? ['thread', 'process'] : [backendOption],
  seed: option('seed') === null ? (Date.now() ^ (process.pid << 16)) >>> 0 : Number(option('seed')) >>> 0,
  size: Math.round(positive('size')),
  inflight: Math.round(positive('inflight')),
  phaseS: positive('phase'),
  faultRate: positive('fault-rate'),
  mapRate: positive('map-rate'),
  keep: String(option('keep')) === 'true' || option('keep') === '1',
};

// How long the faulty tasks take, and how long the soak waits before it calls something a hang.
const VICTIM_MS = 1500; // a victim sleeps this long: the soak kills its worker meanwhile
const HANG_MS = 30_000; // a 'hang' call spins this long; its timeout (≤ 400 ms) must stop it
const PROBE_EVERY_MS = 2000;
const PROBE_LIMIT_MS = 30_000; // a probe call must be answered within this, whatever else happens
const DRAIN_MS = 60_000; // once no more calls are made, every call must settle within this
const QUIET_MS = 15_000; // ... and the pool must be idle (queued = running = busy = 0) within this
const CLOSE_MS = 30_000;
const GONE_MS = 5_000; // after close(), workers must be gone within this

// ---------------------------------------------------------------- random choices
/** xorshift32: small, seedable, good enough to pick faults. */
function generator(seed) {
  let s = seed || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}
const random = generator(config.seed);
const chance = (p) => random() < p;
const between = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));
const pick = (list) => list[Math.floor(random() * list.length)];
const weighted = (table) => {
  const total = table.reduce((s, [, w]) => s + w, 0);
  let r = random() * total;
  for (const [value, w] of table) if ((r -= w) < 0) return value;
  return table[table.length - 1][0];
};
const exponential = (ratePerS) => (-Math.log(1 - random()) / ratePerS) * 1000;

// ---------------------------------------------------------------- small helpers
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();
/** True if `promise` settles within `ms` (its timer cleared either way: no handle is left behind). */
async function within(promise, ms) {
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
async function waitFor(condition, ms, every = 20) {
  const end = now() + ms;
  while (!condition()) {
    if (now() > end) return false;
    await sleep(every);
  }
  return true;
}
const codeOf = (error) => error?.code ?? `${error?.name ?? typeof error} (no code)`;
function describe(outcome) {
  if (outcome.ok) return `fulfilled with ${JSON.stringify(outcome.value)?.slice(0, 60)}`;
  const e = outcome.error;
  return `rejected with ${codeOf(e)}: ${String(e?.message ?? e)
    .split('\n')[0]
    .slice(0, 160)}`;
}

/** Children of this process (the process backend's workers), from /proc. */
function childPids() {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) out.push(Number(entry));
    } catch {}
  }
  return out;
}
const isOurChild = (pid) => childPids().includes(pid);
const threadCount = () => readdirSync('/proc/self/task').length;

// ---------------------------------------------------------------- violations
const violations = [];
const shown = new Map(); // kind -> violations of that kind printed so far
let where = 'start';
let stopping = false; // after a hang: what terminate() does to the calls left is not judged
/**
 * Something the docs do not quite promise against, printed and counted but
 * not failing the soak: a question for the docs rather than a broken promise.
 */
const notes = [];
function note(kind, detail) {
  notes.push({ where, kind, detail });
  if (notes.filter((n) => n.kind === kind).length === 1) console.error(`NOTE [${where}] ${kind}: ${detail}`);
}
function violation(kind, detail) {
  if (stopping) return;
  violations.push({ where, kind, detail });
  const n = (shown.get(kind) ?? 0) + 1;
  shown.set(kind, n);
  if (n <= 3) console.error(`VIOLATION [${where}] ${kind}: ${detail}`);
  else if (n === 4) console.error(`(more '${kind}' violations are only counted; see the summary)`);
}
process.on('unhandledRejection', (reason) => violation('unhandled rejection', describe({ ok: false, error: reason })));
process.on('uncaughtException', (error) => violation('uncaught exception in the soak', describe({ ok: false, error })));
// Reported here, each kind once or a few times, instead of Node's line per warning.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name !== 'ExperimentalWarning') violation(`warning ${w.name}`, w.message.split('\n')[0]);
});
process.on('exit', (code) => {
  if (finished) return;
  // Node exits when nothing is left to wait on, even with a promise pending:
  // the pool had dropped every handle while a call was still unsettled.
  console.error(
    `HANG: the soak exited (code ${code}) before it finished, in ${where}: the event loop ran out of work while a call was pending`,
  );
  process.exitCode = 3;
});

let tandem;
let tasks;
/** Phases done, and the one under way (its tallies so far), for the summary. */
const results = [];
let current = null;

// ---------------------------------------------------------------- one phase
const SINGLE_FAULTS = {
  thread: [
    ['fail', 3],
    ['exit', 2],
    ['uncaught', 2],
    ['hang', 1],
    ['detached', 1],
    ['badarg', 1],
  ],
  process: [
    ['fail', 3],
    ['exit', 2],
    ['uncaught', 2],
    ['hang', 1],
    ['detached', 1],
    ['badarg', 1],
    ['victim', 2],
  ],
};
const PHASES = [
  { retries: 0, maps: false },
  { retries: 2, maps: true },
  { retries: 1, maps: false },
  { retries: 0, maps: true },
];

/**
 * Runs one pool under load for `ms`, then drains, checks and closes it.
 * Returns the phase's tallies; a hang throws (the soak cannot go on).
 */
async function runPhase(backend, number, shape, ms) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-soak-'));
  process.env.TANDEM_SOAK_DIR = dir; // inherited by threads and child processes started from now on
  const options = {
    backend,
    size: config.size,
    retries: shape.retries,
    minSize: pick([0, 1]),
    idleTimeout: pick([100, 30_000]),
    maxTasksPerWorker: pick([Infinity, between(20, 60)]),
  };
  const label =
    `${backend} phase ${number}: retries ${options.retries}, maps ${shape.maps ? 'on' : 'off'}, minSize ${options.minSize}, ` +
    `idleTimeout ${options.idleTimeout}, maxTasksPerWorker ${options.maxTasksPerWorker}`;
  where = `${backend} phase ${number}`;
  console.error(`-- ${label}`);
  const threadsBefore = threadCount();
  const pool = new tandem.Pool(options);
  const tag = `${backend[0]}${number}`;
  let seq = 0;

  const calls = []; // single calls accepted (futures)
  const pending = new Set(); // calls and map/imap operations not settled yet
  const victims = new Set(); // victim calls whose worker is yet to be killed
  const tally = { accepted: 0, refused: 0, byKind: {}, killed: 0, maps: 0, imaps: 0, faults: 0 };
  current = { label, tally, dir };
  // What stats() must at least / at most show: single calls exactly, map and imap chunks within bounds.
  const mine = { completed: 0, failed: 0, cancelled: 0, chunksLo: 0, chunksHi: 0, chunksDoneLo: 0 };
  let hadMaps = false;

  const count = (kind, what) => {
    const k = (tally.byKind[kind] ??= {});
    k[what] = (k[what] ?? 0) + 1;
  };

  // -- single calls
  function submit(kind) {
    const token = `${tag}.${++seq}`;
    const call = {
      token,
      kind,
      retries: options.retries,
      expect: undefined,
      cancel: null,
      outcome: null,
      doneCalls: 0,
      killedPid: null,
      submittedAt: now(),
      settledAt: 0,
      timeout: 0,
    };
    const opts = {};
    let fn;
    let args;
    switch (kind) {
      case 'work':
      case 'probe':
        call.expect = between(0, 1e6);
        fn = tasks.work;
        args = [token, call.expect, kind === 'work' && chance(0.3) ? between(1, 3) : 0];
        break;
      case 'workAsync':
        call.expect = between(0, 1e6);
        fn = tasks.workAsync;
        args = [token, call.expect, between(0, 40)];
        break;
      case 'fail':
        fn = tasks.fail;
        args = [token];
        break;
      case 'exit':
        fn = tasks.exit;
        args = [token, 7];
        break;
      case 'uncaught':
        fn = tasks.uncaught;
        args = [token];
        break;
      case 'hang':
        fn = tasks.hang;
        args = [token, HANG_MS];
        opts.timeout = between(80, 400);
        break;
      case 'victim':
        call.expect = token;
        fn = tasks.victim;
        args = [token, VICTIM_MS];
        break;
      case 'detached': {
        // Passes every check at submit and fails when the call is sent; with a timeout (issue 8).
        const buffer = new ArrayBuffer(8);
        structuredClone(buffer, { transfer: [buffer] });
        fn = tasks.work;
        args = [token, buffer, 0];
        opts.timeout = between(50, 500);
        break;
      }
      case 'badarg':
        fn = tasks.work;
        args = [token, () => 1, 0];
        break;
    }
    if ((kind === 'work' || kind === 'workAsync' || kind === 'victim') && chance(0.2))
      opts.timeout = chance(0.1) ? 1e10 : between(5_000, 10_000);
    if (chance(0.3)) opts.priority = pick([-1, 1, 2]);
    const plan =
      kind === 'probe'
        ? 'none'
        : weighted([
            ['none', 88],
            ['cancel', 6],
            ['signal', 4],
            ['signal-before', 2],
          ]);
    let controller = null;
    if (plan === 'signal' || plan === 'signal-before') {
      controller = new AbortController();
      if (plan === 'signal-before') controller.abort();
      opts.signal = controller.signal;
    }
    call.timeout = opts.timeout ?? 0;
    let future;
    try {
      future = pool.submit(fn, args, opts);
    } catch (error) {
      tally.refused++;
      count(kind, `refused: ${codeOf(error)}`);
      if (!((kind === 'badarg' || kind === 'detached') && codeOf(error) === 'ERR_TANDEM_SERIALIZATION')) {
        violation('submit threw', `${kind} ${token}: ${describe({ ok: false, error })}`);
      }
      return;
    }
    tally.accepted++;
    if (kind === 'badarg')
      violation('accepted a function argument', `${token}: submit returned a future instead of throwing SerializationError`);
    call.future = future;
    calls.push(call);
    pending.add(call);
    if (plan === 'signal-before') call.cancel = { how: plan, stateBefore: 'pending', effective: true };
    future.addDoneCallback(() => {
      if (++call.doneCalls > 1) violation('settled twice', `${kind} ${token}: its done callbacks ran ${call.doneCalls} times`);
    });
    future.then(
      (value) => settled(call, { ok: true, value }),
      (error) => settled(call, { ok: false, error }),
    );
    if (kind === 'victim') victims.add(call);
    if (plan === 'cancel' || plan === 'signal') {
      setTimeout(
        () => {
          const before = future.done();
          const stateBefore = future.state;
          let returned;
          if (plan === 'cancel') {
            returned = future.cancel();
            if (before && returned) violation('cancel() of a settled future returned true', `${kind} ${token}`);
            if (!before && !returned)
              violation('cancel() of an unsettled future returned false', `${kind} ${token} (state ${stateBefore})`);
          } else controller.abort();
          const effective = plan === 'cancel' ? returned && !before : !before;
          call.cancel = { how: plan, stateBefore, effective };
          if (effective && future.state !== 'cancelled')
            violation('cancel did not settle the future at once', `${kind} ${token}: state ${future.state} after ${plan}`);
        },
        between(0, 60),
      );
    }
  }

  function settled(call, outcome) {
    call.outcome = outcome;
    call.settledAt = now();
    pending.delete(call);
    const state = call.future.state;
    if (state === 'fulfilled') mine.completed++;
    else if (state === 'cancelled') mine.cancelled++;
    else if (state === 'rejected') mine.failed++;
    else violation('settled future in an unsettled state', `${call.kind} ${call.token}: ${state}`);
    count(call.kind, outcome.ok ? 'fulfilled' : codeOf(outcome.error));
    const problem = judge(call, state);
    if (problem) violation('wrong outcome', `${call.kind} ${call.token}: ${problem}`);
    if (call.kind === 'probe' && call.settledAt - call.submittedAt > PROBE_LIMIT_MS) {
      violation('pool stopped serving', `probe ${call.token} took ${((call.settledAt - call.submittedAt) / 1000).toFixed(1)} s`);
    }
  }

  /** Why the outcome is not one this call may have, or null. */
  function judge(call, state) {
    const o = call.outcome;
    const code = o.ok ? null : codeOf(o.error);
    if (o.ok !== (state === 'fulfilled') || (code === 'ERR_TANDEM_CANCELLED') !== (state === 'cancelled')) {
      return `state '${state}' disagrees with the outcome: ${describe(o)}`;
    }
    const c = call.cancel;
    if (c?.effective) return code === 'ERR_TANDEM_CANCELLED' ? null : `cancelled (${c.how}) but ${describe(o)}`;
    // A cancel timer fires after the call's own settling has been judged, so
    // here a CancelledError has no cancel of ours behind it.
    if (code === 'ERR_TANDEM_CANCELLED')
      return c ? `${describe(o)} though its ${c.how} came after it settled` : `${describe(o)} though it was never cancelled`;
    const want = (ok) => (ok ? null : `${describe(o)}${call.timeout ? ` (timeout ${call.timeout} ms)` : ''}`);
    switch (call.kind) {
      case 'work':
      case 'workAsync':
      case 'probe':
        return want(o.ok && o.value === call.expect);
      case 'fail':
        return want(code === 'ERR_TANDEM_TASK');
      case 'exit':
        return want(code === 'ERR_TANDEM_WORKER_CRASHED');
      case 'uncaught':
        return want(code === 'ERR_TANDEM_WORKER_CRASHED' || code === 'ERR_TANDEM_TASK');
      case 'hang':
        return want(code === 'ERR_TANDEM_TASK_TIMEOUT');
      case 'victim':
        if (call.killedPid !== null && call.retries === 0) return want(code === 'ERR_TANDEM_WORKER_CRASHED');
        return want(o.ok && o.value === call.expect);
      case 'detached':
        return want(code === 'ERR_TANDEM_SERIALIZATION');
      default:
        return want(false);
    }
  }

  // -- map and imap
  /** Items 1..n for `double`; with `badChance`, one of them is -1 (it throws). */
  function mapInput(badChance) {
    hadMaps = true;
    const n = between(1, 200);
    const items = Array.from({ length: n }, (_, i) => i + 1);
    const bad = chance(badChance);
    if (bad) items[between(0, n - 1)] = -1;
    return { n, items, bad };
  }

  function startMap() {
    tally.maps++;
    const { n, items, bad } = mapInput(0.25);
    const chunksize = chance(0.2) ? 'auto' : between(1, 25);
    const chunks = chunksize === 'auto' ? null : Math.ceil(n / chunksize);
    const controller = chance(0.15) ? new AbortController() : null;
    const op = { kind: 'map', token: `${tag}.${++seq}`, done: false, abortedEarly: false, submittedAt: now() };
    let promise;
    try {
      promise = pool.map(tasks.double, items, { chunksize, ...(controller ? { signal: controller.signal } : {}) });
    } catch (error) {
      violation('map threw', describe({ ok: false, error }));
      return;
    }
    mine.chunksHi += chunks ?? n;
    pending.add(op);
    if (controller) {
      setTimeout(
        () => {
          op.abortedEarly = !op.done;
          controller.abort();
        },
        between(0, 50),
      );
    }
    promise.then(
      (values) => {
        op.done = true;
        pending.delete(op);
        count('map', 'fulfilled');
        mine.chunksLo += chunks ?? 1;
        mine.chunksDoneLo += chunks ?? 1;
        const wrong = values.length !== n || values.some((v, i) => v !== items[i] * 2);
        if (bad || wrong || op.abortedEarly)
          violation(
            'wrong map outcome',
            `${op.token} (n ${n}, chunksize ${chunksize}${bad ? ', one failing item' : ''}${op.abortedEarly ? ', aborted' : ''}): ` +
              `fulfilled${wrong ? ' with wrong values' : ''}`,
          );
      },
      (error) => {
        op.done = true;
        pending.delete(op);
        const code = codeOf(error);
        count('map', code);
        if (code === 'ERR_TANDEM_TASK') mine.chunksLo += 1;
        const ok = (bad && code === 'ERR_TANDEM_TASK') || (op.abortedEarly && code === 'ERR_TANDEM_CANCELLED');
        if (!ok)
          violation(
            'wrong map outcome',
            `${op.token} (n ${n}, chunksize ${chunksize}${bad ? ', one failing item' : ''}${
              controller ? `, signal${op.abortedEarly ? ' aborted' : ''}` : ''
            }): ${describe({ ok: false, error })}`,
          );
      },
    );
  }

  function startImap() {
    tally.imaps++;
    const { n, items, bad } = mapInput(0.2);
    const chunksize = chance(0.3) ? undefined : between(1, 25);
    const ordered = chance(0.5);
    const breakAfter = chance(0.3) ? between(0, n) : Infinity;
    const sourceFailsAt = chance(0.1) ? between(0, n - 1) : -1;
    const sourceError = new Error('soak: the imap input fails on purpose');
    const source =
      sourceFailsAt < 0
        ? items
        : (function* () {
            for (let i = 0; i < n; i++) {
              if (i === sourceFailsAt) throw sourceError;
              yield items[i];
            }
          })();
    const op = { kind: 'imap', token: `${tag}.${++seq}`, submittedAt: now() };
    mine.chunksHi += chunksize ? Math.ceil(n / chunksize) : n;
    pending.add(op);
    const got = [];
    (async () => {
      let broke = false;
      try {
        for await (const v of pool.imap(tasks.double, source, { ordered, ...(chunksize ? { chunksize } : {}) })) {
          got.push(v);
          if (got.length >= breakAfter) {
            broke = true;
            break;
          }
        }
        count('imap', broke ? 'left early' : 'complete');
        if (broke) return;
        const expected = items.map((x) => x * 2);
        const seen = ordered ? got : [...got].sort((a, b) => a - b);
        const wrong = seen.length !== n || seen.some((v, i) => v !== expected[i]);
        if (bad || sourceFailsAt >= 0 || wrong)
          violation(
            'wrong imap outcome',
            `${op.token} (n ${n}, ${ordered ? 'ordered' : 'unordered'}): completed${
              wrong ? ` with ${got.length} wrong values` : ''
            }${bad ? ' though an item fails' : ''}${sourceFailsAt >= 0 ? ' though its input throws' : ''}`,
          );
        mine.chunksLo += chunksize ? Math.ceil(n / chunksize) : 1;
        mine.chunksDoneLo += chunksize ? Math.ceil(n / chunksize) : 1;
      } catch (error) {
        count('imap', error === sourceError ? 'input error' : codeOf(error));
        const ok =
          (bad && codeOf(error) === 'ERR_TANDEM_TASK') || (sourceFailsAt >= 0 && (error === sourceError || error?.cause === sourceError));
        if (!ok)
          violation(
            'wrong imap outcome',
            `${op.token} (n ${n}${bad ? ', one failing item' : ''}${sourceFailsAt >= 0 ? `, input throws at ${sourceFailsAt}` : ''}): ` +
              `${describe({ ok: false, error })}`,
          );
      } finally {
        pending.delete(op);
      }
    })();
  }

  // -- the outside killer: SIGKILL the worker of each victim while it sleeps
  const killer = setInterval(() => {
    for (const call of victims) {
      const file = path.join(dir, `pid-${call.token}`);
      if (!existsSync(file)) {
        if (call.outcome && now() - call.settledAt > 3000) victims.delete(call); // cancelled before it ran
        continue;
      }
      const pid = Number(readFileSync(file, 'utf8'));
      victims.delete(call);
      if (!isOurChild(pid)) continue; // already gone: a pid is never killed unless it is our child
      try {
        process.kill(pid, 'SIGKILL');
        call.killedPid = pid;
        tally.killed++;
        if (call.outcome) call.killedAfterSettling = true;
      } catch {}
    }
  }, 20);

  // -- stats, live
  let last = null;
  function checkLive(s, when) {
    const COUNTS = ['workers', 'busy', 'queued', 'running', 'completed', 'failed', 'cancelled'];
    const bad = (what, detail = what) =>
      violation(`stats: ${what}`, `${when}: ${detail} — ${JSON.stringify(Object.fromEntries(COUNTS.map((k) => [k, s[k]])))}`);
    for (const k of COUNTS) {
      if (!Number.isInteger(s[k]) || s[k] < 0) return bad(`${k} not a count ≥ 0`, `${k} is ${s[k]}`);
    }
    // `size` is "most workers alive at once", but a worker that retires
    // (maxTasksPerWorker) or is being stopped may still count while its
    // replacement starts.
    if (s.workers > options.size)
      note(
        'stats: workers > size',
        `workers ${s.workers} > size ${options.size} — ` +
          `${JSON.stringify({ workers: s.workers, busy: s.busy, queued: s.queued, running: s.running })}`,
      );
    if (s.busy > s.workers) bad('busy > workers', `busy ${s.busy} > workers ${s.workers}`);
    if (s.running > s.workers) bad('running > workers', `running ${s.running} > workers ${s.workers} (one call per worker)`);
    if (last)
      for (const k of ['completed', 'failed', 'cancelled']) if (s[k] < last[k]) bad(`${k} went down`, `${k} went down from ${last[k]}`);
    const accepted = tally.accepted + mine.chunksHi;
    if (s.completed + s.failed + s.cancelled + s.queued > accepted)
      bad('more calls counted than accepted', `completed + failed + cancelled + queued > the ${accepted} calls and chunks accepted`);
    if (s.completed < mine.completed + mine.chunksDoneLo)
      bad('completed < fulfilled', `completed < the ${mine.completed + mine.chunksDoneLo} fulfilled so far`);
    if (s.failed < mine.failed) bad('failed < rejected', `failed < the ${mine.failed} calls rejected so far`);
    if (s.cancelled < mine.cancelled) bad('cancelled < cancelled futures', `cancelled < the ${mine.cancelled} calls cancelled so far`);
    last = s;
  }
  const sampler = setInterval(() => checkLive(pool.stats(), 'live'), 100);

  // -- load
  const started = now();
  const end = started + ms;
  let nextFault = started + exponential(config.faultRate);
  let nextMap = started + exponential(config.mapRate);
  let nextProbe = started + PROBE_EVERY_MS;
  let nextReport = started + 5000;
  const faults = SINGLE_FAULTS[backend];
  try {
    while (now() < end) {
      const t = now();
      if (t >= nextFault) {
        tally.faults++;
        submit(weighted(faults));
        nextFault = t + exponential(config.faultRate);
      }
      if (shape.maps && t >= nextMap) {
        if (chance(0.6)) startMap();
        else startImap();
        nextMap = t + exponential(config.mapRate);
      }
      if (t >= nextProbe) {
        submit('probe');
        nextProbe = t + PROBE_EVERY_MS;
      }
      while (pending.size < config.inflight) submit(chance(0.6) ? 'work' : 'workAsync');
      if (t >= nextReport) {
        const s = pool.stats();
        console.error(
          `   ${((t - started) / 1000).toFixed(0).padStart(4)} s: ${tally.accepted} calls, ${tally.faults} faults, ${tally.killed} ` +
            `killed, ${tally.maps + tally.imaps} map/imap; stats: workers ${s.workers}, busy ${s.busy}, queued ${s.queued}, running ` +
            `${s.running}, completed ${s.completed}, failed ${s.failed}, cancelled ${s.cancelled}; violations ${violations.length}`,
        );
        nextReport = t + 5000;
      }
      await sleep(1);
    }

    // -- drain: everything accepted must settle
    if (!(await waitFor(() => pending.size === 0, DRAIN_MS))) {
      const list = [...pending]
        .slice(0, 10)
        .map(
          (c) =>
            `${c.kind} ${c.token}${
              c.future ? ` (state ${c.future.state}${c.cancel ? `, ${c.cancel.how}` : ''}${c.timeout ? `, timeout ${c.timeout}` : ''})` : ''
            }, ${((now() - c.submittedAt) / 1000).toFixed(0)} s old`,
        );
      throw new Hang(
        `${pending.size} calls never settled within ${DRAIN_MS / 1000} s after the load stopped; stats ${JSON.stringify(pool.stats())}; ` +
          `first: ${list.join('; ')}`,
        pool,
      );
    }
    // -- still serving: one round of calls on every worker
    for (let i = 0; i < options.size * 2; i++) submit('probe');
    if (!(await waitFor(() => pending.size === 0, PROBE_LIMIT_MS)))
      throw new Hang(
        `the pool stopped serving: ${pending.size} of ${options.size * 2} plain calls unanswered after ${PROBE_LIMIT_MS / 1000} s; stats ` +
          `${JSON.stringify(pool.stats())}`,
        pool,
      );
    await sleep(100); // pending cancel timers (≤ 60 ms) fire
    // -- quiet: the pool's own view must agree
    if (
      !(await waitFor(() => {
        const s = pool.stats();
        return s.queued === 0 && s.running === 0 && s.busy === 0;
      }, QUIET_MS))
    ) {
      violation(
        'pool still busy after every call settled',
        `${QUIET_MS / 1000} s later: ${JSON.stringify(pool.stats())} (a cancelled call whose timeout no longer stops its worker?)`,
      );
    }
    const s = pool.stats();
    checkLive(s, 'quiet');
    const lo = tally.accepted + mine.chunksLo;
    const hi = tally.accepted + mine.chunksHi;
    const settledJobs = s.completed + s.failed + s.cancelled;
    if (!hadMaps) {
      if (s.completed !== mine.completed || s.failed !== mine.failed || s.cancelled !== mine.cancelled) {
        violation(
          'stats: totals differ from the futures once quiet',
          `completed/failed/cancelled ${s.completed}/${s.failed}/${s.cancelled}, but the futures say ` +
            `${mine.completed}/${mine.failed}/${mine.cancelled}`,
        );
      }
    } else if (settledJobs < lo || settledJobs > hi) {
      violation(
        'stats: totals outside the calls accepted once quiet',
        `completed + failed + cancelled = ${settledJobs}, outside the ${lo}..${hi} calls and chunks accepted`,
      );
    }

    // -- close, and nothing left behind
    if (!(await within(pool.close(), CLOSE_MS)))
      throw new Hang(`close() did not return within ${CLOSE_MS / 1000} s; stats ${JSON.stringify(pool.stats())}`, pool);
    try {
      pool.submit(tasks.work, ['after-close', 0, 0]);
      violation('submit after close() accepted', 'expected PoolClosedError');
    } catch (error) {
      if (codeOf(error) !== 'ERR_TANDEM_POOL_CLOSED') violation('submit after close()', describe({ ok: false, error }));
    }
    if (!(await waitFor(() => childPids().length === 0 && threadCount() <= threadsBefore, GONE_MS))) {
      violation(
        'workers left after close()',
        `child processes ${JSON.stringify(childPids())}, threads ${threadCount()} (before the pool: ${threadsBefore})`,
      );
    }
  } finally {
    clearInterval(killer);
    clearInterval(sampler);
  }

  // -- how often each call ran, from the tasks' own logs
  const runs = new Map();
  for (const file of readdirSync(dir).filter((f) => f.startsWith('runs-'))) {
    for (const token of readFileSync(path.join(dir, file), 'utf8').split('\n')) if (token) runs.set(token, (runs.get(token) ?? 0) + 1);
  }
  for (const call of calls) {
    const n = runs.get(call.token) ?? 0;
    const c = call.cancel?.effective ? call.cancel : null;
    const most = 1 + call.retries;
    let expected = null; // exact count, when the kind fixes it
    if (c && c.stateBefore === 'pending') expected = 0;
    else if (call.kind === 'detached') expected = 0;
    else if (!c && ['fail', 'exit', 'uncaught', 'hang'].includes(call.kind)) expected = most;
    else if (!c && call.kind === 'victim') expected = call.killedPid !== null && !call.killedAfterSettling && call.retries > 0 ? 2 : 1;
    else if (!c && call.outcome?.ok) expected = 1;
    const limit = ['work', 'workAsync', 'probe'].includes(call.kind) ? 1 : most;
    if (expected !== null && n !== expected) {
      violation(
        'ran the wrong number of times',
        `${call.kind} ${call.token} ran ${n} times, expected ${expected} (retries ${call.retries}${
          c ? `, ${c.how} while ${c.stateBefore}` : ''
        }; ${describe(call.outcome)})`,
      );
    } else if (n > limit) {
      violation('ran too often', `${call.kind} ${call.token} ran ${n} times, at most ${limit} allowed (retries ${call.retries})`);
    }
  }
  if (!config.keep) rmSync(dir, { recursive: true, force: true });
  else console.error(`   run logs kept in ${dir}`);
  return current;
}

class Hang extends Error {
  constructor(message, pool) {
    super(message);
    this.pool = pool;
  }
}

/** A hang ends the soak: report, stop what can be stopped, exit 3. */
async function hang(message, pool) {
  console.error(`HANG [${where}]: ${message}${current ? ` (run logs of the phase kept in ${current.dir})` : ''}`);
  violations.push({ where, kind: 'hang', detail: message });
  stopping = true;
  if (pool) await within(pool.terminate(), 10_000);
  for (const pid of childPids()) {
    try {
      process.kill(pid, 'SIGKILL'); // our own pool's workers, by pid
    } catch {}
  }
  printSummary(current && !results.includes(current) ? [...results, current] : results);
  finished = true;
  process.exit(3);
}

function printSummary(phases) {
  console.log('');
  console.log(
    `soak summary: seed ${config.seed}, backends ${config.backends.join(', ')}, ${config.durationS} s each, size ${config.size}, ` +
      `${config.inflight} in flight, ${config.faultRate} faults/s`,
  );
  for (const p of phases) {
    console.log(
      `  ${p.label}: ${p.tally.accepted} calls accepted (${p.tally.refused} refused at submit), ${p.tally.faults} faults, ` +
        `${p.tally.killed} workers SIGKILLed, ${p.tally.maps} maps, ${p.tally.imaps} imaps`,
    );
    for (const [kind, outcomes] of Object.entries(p.tally.byKind).sort()) {
      console.log(
        `      ${kind.padEnd(10)} ${Object.entries(outcomes)
          .map(([o, n]) => `${o} ${n}`)
          .join(', ')}`,
      );
    }
  }
  const byKind = (list) => {
    const groups = new Map();
    for (const v of list) (groups.get(v.kind) ?? groups.set(v.kind, []).get(v.kind)).push(v);
    return groups;
  };
  if (notes.length) {
    console.log(`${notes.length} notes (not violations):`);
    for (const [kind, list] of byKind(notes)) console.log(`  ${kind}: ${list.length}, e.g. [${list[0].where}] ${list[0].detail}`);
  }
  if (violations.length === 0) {
    console.log('no violations');
    return;
  }
  console.log(`${violations.length} violations:`);
  for (const [kind, list] of byKind(violations)) {
    console.log(`  ${kind}: ${list.length}`);
    for (const v of list.slice(0, 3)) console.log(`    [${v.where}] ${v.detail}`);
  }
  console.log(`replay: --seed=${config.seed} (the same choices; timings differ)`);
}

// ---------------------------------------------------------------- main
const phaseCount = Math.max(1, Math.round(config.durationS / config.phaseS));
const budgetMs =
  config.backends.length * (config.durationS * 1000 + phaseCount * (DRAIN_MS + PROBE_LIMIT_MS + QUIET_MS + CLOSE_MS + GONE_MS + 10_000));
const watchdog = setTimeout(
  () => hang(`the soak did not finish within its watchdog deadline of ${(budgetMs / 1000).toFixed(0)} s`),
  budgetMs,
);
watchdog.unref();

console.error(
  `soak: seed ${config.seed}; ${config.backends.join(' and ')}, ${config.durationS} s each in ${phaseCount} phase(s); watchdog ` +
    `${(budgetMs / 1000).toFixed(0)} s`,
);
// Start libuv's thread pool now, so that it is not counted as a worker left behind.
await Promise.all(Array.from({ length: 4 }, () => fsp.stat(os.tmpdir())));
tandem = await import('tandem');
tasks = await import('./soak-tasks.mjs');
try {
  for (const backend of config.backends) {
    for (let i = 0; i < phaseCount; i++) {
      results.push(await runPhase(backend, i + 1, PHASES[i % PHASES.length], (config.durationS * 1000) / phaseCount));
    }
  }
} catch (error) {
  if (error instanceof Hang) await hang(error.message, error.pool);
  throw error;
}
clearTimeout(watchdog);
where = 'end';
printSummary(results);
finished = true;
process.exitCode = violations.length ? 1 : 0;
// The pools are closed: nothing of theirs may keep the process alive.
setTimeout(() => {
  console.error(`HANG: the process did not exit 10 s after the last close(); still active: ${process.getActiveResourcesInfo().join(', ')}`);
  process.exit(3);
}, 10_000).unref();
