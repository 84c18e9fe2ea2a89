// tandem benchmark suite (issue 2, item 8; issue 8). Runs tandem and its peers
// on the same tasks, every job in a fresh Node process, rounds interleaved, and
// writes bench/results.json and bench/results.md. See bench/README.md.
//
//   node bench/run.mjs                 full run (3 rounds), writes the results files
//   node bench/run.mjs --rounds=1 s1   only jobs starting with "s1", prints, writes nothing
//   node bench/run.mjs --against=DIR   also runs every tandem job on the tree at DIR
//                                      (its own dist/ and bench/), interleaved, and
//                                      adds a before/after table ("Comparing two commits")
import { spawn, execSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.split('=')[1] ?? 3);
const filters = args.filter((a) => !a.startsWith('--'));
const cores = os.availableParallelism();

// Each tree runs its own bench/scenario.mjs, which imports 'tandem' through the
// package self-reference: the dist/ of that same tree.
const here = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const againstArg = args.find((a) => a.startsWith('--against='))?.slice('--against='.length);
const against = againstArg ? path.resolve(againstArg) : null;
if (against) {
  for (const need of ['bench/scenario.mjs', 'bench/tasks.mjs', 'dist/esm/index.js']) {
    if (!existsSync(path.join(against, need))) {
      console.error(
        `--against=${againstArg}: ${path.join(against, need)} is missing (build that tree, and copy this tree's bench/ into it; see ` +
          `bench/README.md, "Comparing two commits")`,
      );
      process.exit(2);
    }
  }
}
const scenarioOf = (tree) => path.join(tree, 'bench', 'scenario.mjs');
const commitOf = (tree) => {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: tree }).toString().trim();
  } catch {
    return null;
  }
};

const PEERS = ['piscina', 'tinypool', 'workerpool', 'poolifier'];
const TANDEM = ['tandem-thread', 'tandem-process'];
const JOBS = [
  ...[...TANDEM, ...PEERS].map((lib) => `s1:${lib}`),
  ...TANDEM.map((lib) => `s2:${lib}`),
  ...['sequential', ...TANDEM, ...PEERS].map((lib) => `s3:${lib}`),
  ...TANDEM.map((lib) => `s4:${lib}-vs-raw`),
  ...[2, 3, 4].flatMap((n) => TANDEM.map((lib) => `s5:${lib}:${n}`)),
  ...['raw-thread', 'raw-fork', ...PEERS].map((kind) => `s5:${kind}:4`),
].filter((job) => filters.length === 0 || filters.some((f) => job.startsWith(f)));
/** Jobs whose figures depend on tandem's code, so run on both trees with --against. */
const onBoth = (job) => job.includes('tandem');

/** Share of all CPUs busy over `ms` (from /proc/stat), or NaN off Linux. */
async function cpuBusy(ms) {
  const read = () => {
    try {
      const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
      const idle = f[3] + (f[4] ?? 0);
      return { idle, total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  if (!a || !b || b.total === a.total) return NaN;
  return 1 - (b.idle - a.idle) / (b.total - a.total);
}

/*
 * Other work on the machine (tests, builds) distorts every figure. Between
 * jobs nothing of ours runs, so the CPU share in use is someone else's: wait
 * (up to QUIET_WAIT_S in total over the run) until it drops below 25 %, and
 * record what it was for each job.
 */
let quietBudgetMs = Number(process.env.QUIET_WAIT_S ?? 60) * 1000;
async function waitQuiet() {
  let busy = await cpuBusy(300);
  while (busy > 0.25 && quietBudgetMs > 0) {
    quietBudgetMs -= 1000;
    await new Promise((r) => setTimeout(r, 700));
    busy = await cpuBusy(300);
  }
  return busy;
}

async function runJob(job, tree) {
  const background = await waitQuiet();
  return new Promise((resolve) => {
    const started = Date.now();
    const load = os.loadavg()[0];
    const flags = job.startsWith('s5:') ? ['--expose-gc'] : [];
    const child = spawn(process.execPath, [...flags, scenarioOf(tree), job], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      const meta = { wallMs: Date.now() - started, load1: load, backgroundCpu: background };
      if (code === 0 && line) resolve({ ok: true, ...meta, ...JSON.parse(line.slice(7)) });
      else resolve({ ok: false, ...meta, error: `exit ${code ?? signal}: ${err.slice(-500)}` });
    });
  });
}

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

const t0 = Date.now();
const runs = Object.fromEntries(JOBS.map((j) => [j, []]));
/** With --against: the other tree's runs of the tandem jobs. */
const baseRuns = Object.fromEntries(JOBS.filter(onBoth).map((j) => [j, []]));
const brief = (r) => {
  if (!r.ok) return 'FAILED';
  if (r.perSec) return `${fmt(r.perSec)}/s`;
  if (r.speedup) return `speedup ${r.speedup.toFixed(2)}`;
  if (r.ms) return `${r.ms.toFixed(0)} ms`;
  if (r.floor)
    return `raw ${fmt(r.floor.perSec)}/s, batched ${fmt(r.batched.perSec)}/s${
      r.tandem ? `; tandem submit ${fmt(r.tandem.submitPerSec)}/s, map ${fmt(r.tandem.mapPerSec)}/s` : ''
    }`;
  return 'ok';
};
for (let round = 1; round <= rounds; round++) {
  for (const job of JOBS) {
    // Both trees back to back, first one then the other in turn, so drift in
    // the machine's load hits both alike.
    const trees = against && onBoth(job) ? (round % 2 ? [here, against] : [against, here]) : [here];
    for (const tree of trees) {
      const r = await runJob(job, tree);
      if (r.ok && r.tandemEntry && !r.tandemEntry.startsWith(tree + path.sep)) {
        console.error(`${job}: ${scenarioOf(tree)} ran tandem from ${r.tandemEntry}, not from its own tree: the comparison would be void`);
        process.exit(2);
      }
      (tree === here ? runs : baseRuns)[job].push(r);
      const label = against && onBoth(job) ? `${job}${tree === here ? '' : ' (against)'}` : job;
      console.error(
        `[round ${round}/${rounds}] ${label.padEnd(36)} ${brief(r).padEnd(16)} (${(r.wallMs / 1000).toFixed(1)} s, load ` +
          `${r.load1.toFixed(2)}, others' CPU before ${(r.backgroundCpu * 100).toFixed(0)} %)`,
      );
    }
  }
}

function fmt(n) {
  if (!Number.isFinite(n)) return 'n/a';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(1);
}
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);
const x = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a');
const pct = (r) => (Number.isFinite(r) ? `${(r * 100).toFixed(0)} %` : 'n/a');
const ok = (runsOf) => (runsOf ?? []).filter((r) => r.ok);
const med = (job, pick) => median(ok(runs[job]).map(pick));
const has = (job) => job in runs;
/** Runs of a job on the --against tree (tandem jobs) or the shared ones (peers, sequential). */
const againstRunsOf = (job) => (onBoth(job) ? baseRuns[job] : runs[job]) ?? [];
const hereRunsOf = (job) => runs[job] ?? [];
/** Thread pools (every peer) are held to the thread floor; tandem-process to the fork floor. */
const transportOf = (lib) => (lib === 'tandem-process' ? 'process' : 'thread');

/**
 * The raw echo floors of one transport, from scenario 4 (medians of the
 * rounds): one message per item, everything in flight, 2 peers ((a) threads,
 * (c) processes), and the same with 1,000 items per message ((b), (d)). The
 * raw echo does not depend on tandem, so with --against both trees' runs of
 * it count, and both trees are divided by the same floor.
 */
function floorsOf(transport) {
  const job = `s4:tandem-${transport}-vs-raw`;
  const rs = ok([...(runs[job] ?? []), ...(baseRuns[job] ?? [])]);
  return { perItem: median(rs.map((r) => r.floor.perSec)), batched: median(rs.map((r) => r.batched.perSec)) };
}

/** The figures issue 8 says must not drop, for one tree's runs. */
function trackedFigures(runsOf) {
  const m = (job, pick) => median(ok(runsOf(job)).map(pick));
  const rate = (job) => m(job, (r) => r.perSec);
  const th = floorsOf('thread');
  const pr = floorsOf('process');
  return [
    ['submitVsPiscina', '100k submit: tandem-thread ÷ piscina', ratio(rate('s1:tandem-thread'), rate('s1:piscina')), x],
    ['submitThreadVsEcho', '100k submit: tandem-thread ÷ raw postMessage echo (a)', ratio(rate('s1:tandem-thread'), th.perItem), x],
    ['submitProcessVsEcho', '100k submit: tandem-process ÷ raw fork echo (c)', ratio(rate('s1:tandem-process'), pr.perItem), x],
    [
      'mapThreadVsEcho',
      'map 1M: tandem-thread ÷ raw postMessage echo, 1,000 per message (b)',
      ratio(rate('s2:tandem-thread'), th.batched),
      x,
    ],
    ['mapProcessVsEcho', 'map 1M: tandem-process ÷ raw fork echo, 1,000 per message (d)', ratio(rate('s2:tandem-process'), pr.batched), x],
    ['fibThreadSpeedup', '16 × fib(32): tandem-thread speedup', m('s3:tandem-thread', (r) => r.speedup), x],
    ['fibProcessSpeedup', '16 × fib(32): tandem-process speedup', m('s3:tandem-process', (r) => r.speedup), x],
    ['submitThreadPerSec', '100k submit: tandem-thread tasks/s', rate('s1:tandem-thread'), fmt],
    ['submitProcessPerSec', '100k submit: tandem-process tasks/s', rate('s1:tandem-process'), fmt],
    ['mapThreadPerSec', 'map 1M: tandem-thread items/s', rate('s2:tandem-thread'), fmt],
    ['mapProcessPerSec', 'map 1M: tandem-process items/s', rate('s2:tandem-process'), fmt],
  ].map(([key, label, value, show]) => ({ key, label, value, show }));
}

// ---- summary
const summary = {};
const goals = [];
const md = [];
md.push('# tandem benchmark results', '');
if (against)
  md.push(
    `Run with \`--against=${againstArg}\`: every tandem job also ran on that tree (commit ${commitOf(against) ?? 'unknown'}), ` +
      `interleaved with this one (commit ${commitOf(here) ?? 'unknown'}); the tables below are this tree's, the before/after table ` +
      `compares both.`,
    '',
  );
md.push(
  `Node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} CPUs (availableParallelism ${cores}), ${os.platform()} ` +
    `${os.release()}.`,
);
md.push(
  `${rounds} rounds; every (library, scenario) job in a fresh process; median of the rounds. Generated ${new Date().toISOString()} by ` +
    `\`node bench/run.mjs\` in ${((Date.now() - t0) / 1000).toFixed(0)} s. 1-min load average ranged ${fmt(
      Math.min(
        ...Object.values(runs)
          .flat()
          .map((r) => r.load1),
      ),
    )}–${fmt(
      Math.max(
        ...Object.values(runs)
          .flat()
          .map((r) => r.load1),
      ),
    )} when jobs started; CPU used by other processes just before each job: median ${pct(
      median(
        Object.values(runs)
          .flat()
          .map((r) => r.backgroundCpu),
      ),
    )}, max ${pct(
      Math.max(
        ...Object.values(runs)
          .flat()
          .map((r) => r.backgroundCpu),
      ),
    )}.`,
  '',
);

if (has('s1:tandem-thread')) {
  const s1 = {};
  const cpu = {};
  for (const lib of [...TANDEM, ...PEERS]) {
    if (!has(`s1:${lib}`)) continue;
    s1[lib] = med(`s1:${lib}`, (r) => r.perSec);
    cpu[lib] = med(`s1:${lib}`, (r) => r.cpuUsPerTask);
  }
  summary.s1 = { tasksPerSec: s1, cpuUsPerTask: cpu };
  md.push('## 1. 100k trivial tasks, one call each (pool size 2)', '');
  md.push(
    'CPU µs/task: CPU time of the benchmark process during the timed section ÷ 100k — main thread plus worker threads for thread pools, ' +
      'the parent only for tandem-process (its children are not counted). Less sensitive to other load than tasks/s.',
    '',
  );
  md.push(
    '"÷ raw echo": this row\'s tasks/s ÷ the raw echo of its transport from scenario 4 — one message per task, all sent at once over 2 ' +
      'workers (thread pools: worker_threads `postMessage`, (a); tandem-process: `child_process.fork`, (c)).',
    '',
  );
  md.push(
    '| library | API | tasks/s | tandem-thread ÷ this | tandem-process ÷ this | this ÷ raw echo | CPU µs/task |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  );
  const api = {
    'tandem-thread': 'pool.submit(noop, [i])',
    'tandem-process': 'pool.submit(noop, [i])',
    piscina: 'piscina.run(i)',
    tinypool: 'tinypool.run(i)',
    workerpool: "pool.exec('noop', [i])",
    poolifier: "FixedThreadPool.execute(i, 'noop')",
  };
  const vsEcho = {};
  for (const [lib, v] of Object.entries(s1)) {
    vsEcho[lib] = ratio(v, floorsOf(transportOf(lib)).perItem);
    md.push(
      `| ${lib} | \`${api[lib]}\` | ${fmt(v)} | ${x(ratio(s1['tandem-thread'], v))} | ${x(ratio(s1['tandem-process'], v))} | ` +
        `${x(vsEcho[lib])} | ${Number.isFinite(cpu[lib]) ? cpu[lib].toFixed(1) : 'n/a'} |`,
    );
  }
  summary.s1.vsRawEcho = vsEcho;
  md.push('');
  goals.push({ goal: '100k submit: tandem ≥ 10× piscina', value: ratio(s1['tandem-thread'], s1.piscina), target: 10, show: x });
  goals.push({ goal: '100k submit: tandem ≥ 3× poolifier', value: ratio(s1['tandem-thread'], s1.poolifier), target: 3, show: x });
}

if (has('s2:tandem-thread') || has('s2:tandem-process')) {
  const s2 = {};
  for (const lib of TANDEM) if (has(`s2:${lib}`)) s2[lib] = med(`s2:${lib}`, (r) => r.perSec);
  summary.s2 = { itemsPerSec: s2 };
  md.push('## 2. `pool.map(noop, 1M ints)` (pool size 2, chunksize auto)', '');
  md.push(
    'Raw batched echo: 1M ints through the same transport, 1,000 per message, all sent at once over 2 workers (scenario 4; threads (b), ' +
      'processes (d)).',
    '',
  );
  md.push(
    '| backend | items/s | raw batched echo items/s | ÷ raw batched echo | goal ≥ 5M items/s |',
    '| --- | ---: | ---: | ---: | --- |',
  );
  summary.s2.vsRawBatchedEcho = {};
  for (const [lib, v] of Object.entries(s2)) {
    const floor = floorsOf(transportOf(lib)).batched;
    summary.s2.vsRawBatchedEcho[lib] = ratio(v, floor);
    md.push(`| ${lib} | ${fmt(v)} | ${fmt(floor)} | ${x(ratio(v, floor))} | ${v >= 5e6 ? 'met' : 'missed'} (${x(v / 5e6)}) |`);
    goals.push({ goal: `map 1M (${lib}) ≥ 5M items/s`, value: v, target: 5e6, show: fmt });
  }
  md.push('');
}

if (Object.keys(runs).some((j) => j.startsWith('s3:'))) {
  const seq = has('s3:sequential') ? med('s3:sequential', (r) => r.ms) : NaN;
  const s3 = { sequentialMs: seq, poolMs: {}, sequentialInSameProcessMs: {}, speedup: {} };
  md.push(`## 3. 16 × fib(32), pool size ${cores} (availableParallelism), pool start excluded`, '');
  md.push(
    `Each job times the 16 calls sequentially on its own main thread just before and after the pool run (same process, pool idle) and ` +
      `divides by the pool time; the median of the rounds is shown. A separate sequential-only process took ` +
      `${Number.isFinite(seq) ? seq.toFixed(0) : 'n/a'} ms. Goal: speedup ≥ 0.95 × ${cores} = ${(0.95 * cores).toFixed(2)}.`,
    '',
  );
  md.push('| library | pool ms | sequential ms (same process) | speedup | speedup ÷ cores |', '| --- | ---: | ---: | ---: | ---: |');
  for (const lib of [...TANDEM, ...PEERS]) {
    if (!has(`s3:${lib}`)) continue;
    const ms = med(`s3:${lib}`, (r) => r.ms);
    const seqMs = med(`s3:${lib}`, (r) => r.seqMs);
    const sp = med(`s3:${lib}`, (r) => r.speedup);
    s3.poolMs[lib] = ms;
    s3.sequentialInSameProcessMs[lib] = seqMs;
    s3.speedup[lib] = sp;
    md.push(`| ${lib} | ${ms.toFixed(0)} | ${seqMs.toFixed(0)} | ${x(sp)} | ${pct(sp / cores)} |`);
    if (lib.startsWith('tandem'))
      goals.push({ goal: `16×fib(32) ${lib} speedup ≥ ${(0.95 * cores).toFixed(2)}×`, value: sp, target: 0.95 * cores, show: x });
  }
  md.push('');
  summary.s3 = s3;
}

const s4Transports = ['thread', 'process'].filter((t) => has(`s4:tandem-${t}-vs-raw`));
if (s4Transports.length) {
  const s4 = {};
  for (const transport of s4Transports) {
    const rs = ok(runs[`s4:tandem-${transport}-vs-raw`]);
    const configs = Object.keys(rs[0]?.configs ?? {});
    const mt = (k) => median(rs.map((r) => r.tandem?.[k]));
    s4[transport] = {
      rawMessagesPerSec: Object.fromEntries(configs.map((c) => [c, median(rs.map((r) => r.configs[c].perSec))])),
      rawFloor: { name: rs[0]?.floor.name, perSec: median(rs.map((r) => r.floor.perSec)) },
      rawBest: { names: [...new Set(rs.map((r) => r.best.name))], perSec: median(rs.map((r) => r.best.perSec)) },
      rawPingPong: median(rs.map((r) => r.pingPong)),
      rawBatched: { name: rs[0]?.batched.name, itemsPerSec: median(rs.map((r) => r.batched.perSec)) },
      tandem: Object.fromEntries(
        ['submitPerSec', 'mapPerSec', 'pingPongPerSec', 'submitVsFloor', 'submitVsRawBest', 'mapVsBatched', 'pingPongVsRaw'].map((k) => [
          k,
          mt(k),
        ]),
      ),
    };
  }
  summary.s4 = s4;
  const th = s4.thread;
  const pr = s4.process;
  // Config names say "thread(s)" or "child(ren)"; one row per configuration, both transports side by side.
  const generic = (name) =>
    name.replace(/\b(children|child|threads|thread)\b/, (w) => (w === 'child' || w === 'thread' ? 'worker' : 'workers'));
  const rows = new Map();
  for (const transport of s4Transports) {
    for (const [c, v] of Object.entries(s4[transport].rawMessagesPerSec))
      (rows.get(generic(c)) ?? rows.set(generic(c), {}).get(generic(c)))[transport] = { name: c, v };
  }
  md.push('## 4. Raw echo floors, and tandem beside them in the same process', '');
  md.push(
    'Each job runs a raw echo over one transport — worker_threads `postMessage` (`peers/echo-thread.mjs`), or `child_process.fork` with ' +
      "`serialization: 'advanced'` (`peers/echo-child.mjs`) — then tandem's pool of the same backend (size 2) in the same process, " +
      'each round. Raw: the parent sends the integer i as one message, the peer sends it back; rates are round trips per second. "window ' +
      'W" keeps W messages in flight per worker; "all at once" sends every message, then awaits every reply. The floors issue 8 holds ' +
      'tandem to are marked: (a)/(c) all at once over 2 workers, one message per item, for `submit`; (b)/(d) the same with 1,000 items ' +
      'per message, for `map`. Ratios in the second table are computed per round (raw and tandem in the same process), then the median ' +
      'is taken.',
    '',
  );
  const cell = (t, row) =>
    row?.[t] ? `${fmt(row[t].v)}${s4[t].rawFloor.name === row[t].name ? (t === 'thread' ? ' **(a)**' : ' **(c)**') : ''}` : '–';
  md.push('| raw configuration | thread: messages/s | process: messages/s |', '| --- | ---: | ---: |');
  for (const [name, row] of rows) md.push(`| ${name} | ${cell('thread', row)} | ${cell('process', row)} |`);
  md.push(
    `| 1,000 ints per message, all at once, 2 workers (items/s) | ${th ? `${fmt(th.rawBatched.itemsPerSec)} **(b)**` : '–'} | ` +
      `${pr ? `${fmt(pr.rawBatched.itemsPerSec)} **(d)**` : '–'} |`,
    '',
  );
  const t = (tr, k, show) => (s4[tr] ? show(s4[tr].tandem[k]) : '–');
  md.push(
    '| tandem pool, size 2, same process as the raw echo | thread | ÷ raw | process | ÷ raw |',
    '| --- | ---: | ---: | ---: | ---: |',
  );
  md.push(
    `| 100k \`submit\`, then \`Promise.all\` (tasks/s), ÷ (a)/(c) | ${t('thread', 'submitPerSec', fmt)} | ` +
      `${t('thread', 'submitVsFloor', x)} | ${t('process', 'submitPerSec', fmt)} | ${t('process', 'submitVsFloor', x)} |`,
  );
  md.push(
    `| the same, ÷ the best pipelined raw configuration | | ${t('thread', 'submitVsRawBest', x)} | | ` +
      `${t('process', 'submitVsRawBest', x)} |`,
  );
  md.push(
    `| \`map\` 1M (items/s), ÷ (b)/(d) | ${t('thread', 'mapPerSec', fmt)} | ${t('thread', 'mapVsBatched', x)} | ` +
      `${t('process', 'mapPerSec', fmt)} | ${t('process', 'mapVsBatched', x)} |`,
  );
  md.push(
    `| ping-pong: \`await pool.run(noop, i)\` one at a time (calls/s), ÷ raw ping-pong | ${t('thread', 'pingPongPerSec', fmt)} | ` +
      `${t('thread', 'pingPongVsRaw', x)} | ${t('process', 'pingPongPerSec', fmt)} | ${t('process', 'pingPongVsRaw', x)} |`,
  );
  md.push('');
  if (pr)
    goals.push({
      goal: 'process submit ≥ 50 % of raw fork echo (best pipelined)',
      value: pr.tandem.submitVsRawBest,
      target: 0.5,
      show: pct,
    });
}

if (Object.keys(runs).some((j) => j.startsWith('s5:'))) {
  const s5 = {};
  md.push('## 5. Memory per idle worker', '');
  md.push(
    "Threads: growth of the parent's RSS (after GC) once N workers have started and run a task, ÷ N. Processes: each child's VmRSS (and " +
      "PSS, which splits shared pages fairly) from /proc, plus the parent's own growth.",
    '',
  );
  md.push(
    '| kind | N | parent RSS Δ / worker (MB) | child VmRSS / worker (MB) | child PSS / worker (MB) | threads per child |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const job of Object.keys(runs).filter((j) => j.startsWith('s5:'))) {
    const [, kind, n] = job.split(':');
    const row = {
      parentDeltaPerWorkerMb: med(job, (r) => r.parentDeltaPerWorkerMb),
      parentDeltaMb: med(job, (r) => r.parentRssAfterMb - r.parentRssBeforeMb),
      childRssPerWorkerMb: med(job, (r) => r.childRssPerWorkerMb),
      childPssPerWorkerMb: med(job, (r) => r.childPssPerWorkerMb),
      childThreads: med(job, (r) => r.childThreads),
    };
    (s5[kind] ??= {})[n] = row;
    const f = (v) => (Number.isFinite(v) ? v.toFixed(1) : '–');
    md.push(
      `| ${kind} | ${n} | ${f(row.parentDeltaPerWorkerMb)} | ${f(row.childRssPerWorkerMb)} | ${f(row.childPssPerWorkerMb)} | ` +
        `${Number.isFinite(row.childThreads) ? row.childThreads : '–'} |`,
    );
  }
  const slope = (kind) => (s5[kind]?.['4'] && s5[kind]?.['2'] ? (s5[kind]['4'].parentDeltaMb - s5[kind]['2'].parentDeltaMb) / 2 : NaN);
  if (Number.isFinite(slope('tandem-thread')))
    md.push('', `Marginal cost of one more tandem thread (parent RSS at N=4 minus N=2, ÷ 2): ${slope('tandem-thread').toFixed(1)} MB.`);
  md.push('');
  summary.s5 = s5;
}

const tracked = trackedFigures(hereRunsOf);
summary.tracked = Object.fromEntries(tracked.map((f) => [f.key, f.value]));
if (tracked.some((f) => Number.isFinite(f.value))) {
  md.push('## Issue 8: figures that must not drop', '');
  md.push(
    'Ratios of medians from the tables above (one run, same machine). (a)/(c): raw echo, one message per item, all sent at once over 2 ' +
      'workers, worker_threads / fork; (b)/(d): the same with 1,000 items per message.',
    '',
  );
  md.push('| figure | measured |', '| --- | ---: |');
  for (const f of tracked) md.push(`| ${f.label} | ${f.show(f.value)} |`);
  md.push('');
}
if (against) {
  const before = trackedFigures(againstRunsOf);
  summary.against = { tree: against, commit: commitOf(against), tracked: Object.fromEntries(before.map((f) => [f.key, f.value])) };
  md.push(`## Before / after: ${commitOf(against) ?? againstArg} → ${commitOf(here) ?? 'this tree'}`, '');
  md.push(
    'Every tandem job ran on both trees back to back in each round (peers and the sequential baseline once, shared). The raw floors are ' +
      "medians over both trees' runs of the raw echo (it does not depend on tandem), so each ratio's change is tandem's own. \"after ÷ " +
      'before" above 1 is better.',
    '',
  );
  md.push(
    `| figure | before (${commitOf(against) ?? 'against'}) | after (${commitOf(here) ?? 'this tree'}) | after ÷ before |`,
    '| --- | ---: | ---: | ---: |',
  );
  tracked.forEach((f, i) => {
    md.push(`| ${f.label} | ${f.show(before[i].value)} | ${f.show(f.value)} | ${x(ratio(f.value, before[i].value))} |`);
  });
  md.push('');
}

if (goals.length) {
  md.push('## Goals (issue 2, item 8)', '', '| goal | measured | status |', '| --- | ---: | --- |');
  for (const g of goals) {
    const met = g.value >= g.target;
    const status = !Number.isFinite(g.value)
      ? 'not measured'
      : met
        ? `met (${x(g.value / g.target)} the target)`
        : `missed (${pct(g.value / g.target)} of target)`;
    md.push(`| ${g.goal} | ${g.show(g.value)} | ${status} |`);
  }
  md.push('');
}

const failures = [...Object.entries(runs), ...Object.entries(baseRuns).map(([job, rs]) => [`${job} (against)`, rs])].flatMap(([job, rs]) =>
  rs.filter((r) => !r.ok).map((r) => `${job}: ${r.error}`),
);
if (failures.length) md.push('## Failed jobs', '', ...failures.map((f) => `- ${f.replace(/\n/g, ' ')}`), '');

md.push(
  '',
  '## Shared objects and synchronisation',
  '',
  '`npm run bench` measures them apart, each against its own floor: locks and SharedQueue between threads in ' +
    '[results-sync.md](results-sync.md) (`node bench/sync.mjs`), and in process workers (an uncontended Lock vs a raw IPC ' +
    'round trip, a SharedQueue stream vs a raw `process.send` stream) in [results-share.md](results-share.md) ' +
    '(`node bench/share.mjs`).',
);
const text = md.join('\n');
if (filters.length === 0) {
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    availableParallelism: cores,
    platform: `${os.platform()} ${os.release()}`,
    commit: commitOf(here),
    against: against ? { tree: against, commit: commitOf(against) } : undefined,
    rounds,
    durationS: (Date.now() - t0) / 1000,
  };
  writeFileSync(
    new URL('./results.json', import.meta.url),
    `${JSON.stringify(
      {
        meta,
        summary,
        goals: goals.map(({ show, ...g }) => ({ ...g, met: g.value >= g.target })),
        runs,
        againstRuns: against ? baseRuns : undefined,
      },
      null,
      2,
    )}\n`,
  );
  writeFileSync(new URL('./results.md', import.meta.url), `${text}\n`);
  console.error('wrote bench/results.json and bench/results.md');
}
console.log(text);
