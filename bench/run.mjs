// tandem benchmark suite (issue 2, item 8). Runs tandem and its peers on the
// same tasks, every job in a fresh Node process, rounds interleaved, and writes
// bench/results.json and bench/results.md. See bench/README.md.
//
//   node bench/run.mjs                 full run (3 rounds), writes the results files
//   node bench/run.mjs --rounds=1 s1   only jobs starting with "s1", prints, writes nothing
import { spawn, execSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.split('=')[1] ?? 3);
const filters = args.filter((a) => !a.startsWith('--'));
const scenarioFile = fileURLToPath(new URL('./scenario.mjs', import.meta.url));
const cores = os.availableParallelism();

const PEERS = ['piscina', 'tinypool', 'workerpool', 'poolifier'];
const TANDEM = ['tandem-thread', 'tandem-process'];
const JOBS = [
  ...[...TANDEM, ...PEERS].map((lib) => `s1:${lib}`),
  ...TANDEM.map((lib) => `s2:${lib}`),
  ...['sequential', ...TANDEM, ...PEERS].map((lib) => `s3:${lib}`),
  's4:tandem-process-vs-raw',
  ...[2, 3, 4].flatMap((n) => TANDEM.map((lib) => `s5:${lib}:${n}`)),
  ...['raw-thread', 'raw-fork', ...PEERS].map((kind) => `s5:${kind}:4`),
].filter((job) => filters.length === 0 || filters.some((f) => job.startsWith(f)));

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

async function runJob(job) {
  const background = await waitQuiet();
  return new Promise((resolve) => {
    const started = Date.now();
    const load = os.loadavg()[0];
    const flags = job.startsWith('s5:') ? ['--expose-gc'] : [];
    const child = spawn(process.execPath, [...flags, scenarioFile, job], { stdio: ['ignore', 'pipe', 'pipe'] });
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
for (let round = 1; round <= rounds; round++) {
  for (const job of JOBS) {
    const r = await runJob(job);
    runs[job].push(r);
    const brief = r.ok ? (r.perSec ? `${fmt(r.perSec)}/s` : r.speedup ? `speedup ${r.speedup.toFixed(2)}` : r.ms ? `${r.ms.toFixed(0)} ms` : r.best ? `raw best ${fmt(r.best.perSec)}/s${r.tandem ? `, tandem submit ${fmt(r.tandem.submitPerSec)}/s` : ''}` : r.speedup ? `speedup ${r.speedup.toFixed(2)}` : 'ok') : 'FAILED';
    console.error(`[round ${round}/${rounds}] ${job.padEnd(26)} ${brief.padEnd(16)} (${(r.wallMs / 1000).toFixed(1)} s, load ${r.load1.toFixed(2)}, others' CPU before ${(r.backgroundCpu * 100).toFixed(0)} %)`);
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

// ---- summary
const summary = {};
const goals = [];
const md = [];
md.push('# tandem benchmark results', '');
md.push(`Node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} CPUs (availableParallelism ${cores}), ${os.platform()} ${os.release()}.`);
md.push(`${rounds} rounds; every (library, scenario) job in a fresh process; median of the rounds. Generated ${new Date().toISOString()} by \`node bench/run.mjs\` in ${((Date.now() - t0) / 1000).toFixed(0)} s. 1-min load average ranged ${fmt(Math.min(...Object.values(runs).flat().map((r) => r.load1)))}–${fmt(Math.max(...Object.values(runs).flat().map((r) => r.load1)))} when jobs started; CPU used by other processes just before each job: median ${pct(median(Object.values(runs).flat().map((r) => r.backgroundCpu)))}, max ${pct(Math.max(...Object.values(runs).flat().map((r) => r.backgroundCpu)))}.`, '');

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
  md.push('CPU µs/task: CPU time of the benchmark process during the timed section ÷ 100k — main thread plus worker threads for thread pools, the parent only for tandem-process (its children are not counted). Less sensitive to other load than tasks/s.', '');
  md.push('| library | API | tasks/s | tandem-thread ÷ this | tandem-process ÷ this | CPU µs/task |', '| --- | --- | ---: | ---: | ---: | ---: |');
  const api = { 'tandem-thread': 'pool.submit(noop, [i])', 'tandem-process': 'pool.submit(noop, [i])', piscina: 'piscina.run(i)', tinypool: 'tinypool.run(i)', workerpool: "pool.exec('noop', [i])", poolifier: "FixedThreadPool.execute(i, 'noop')" };
  for (const [lib, v] of Object.entries(s1)) md.push(`| ${lib} | \`${api[lib]}\` | ${fmt(v)} | ${x(ratio(s1['tandem-thread'], v))} | ${x(ratio(s1['tandem-process'], v))} | ${Number.isFinite(cpu[lib]) ? cpu[lib].toFixed(1) : 'n/a'} |`);
  md.push('');
  goals.push({ goal: '100k submit: tandem ≥ 10× piscina', value: ratio(s1['tandem-thread'], s1.piscina), target: 10, show: x });
  goals.push({ goal: '100k submit: tandem ≥ 3× poolifier', value: ratio(s1['tandem-thread'], s1.poolifier), target: 3, show: x });
}

if (has('s2:tandem-thread') || has('s2:tandem-process')) {
  const s2 = {};
  for (const lib of TANDEM) if (has(`s2:${lib}`)) s2[lib] = med(`s2:${lib}`, (r) => r.perSec);
  summary.s2 = { itemsPerSec: s2 };
  md.push('## 2. `pool.map(noop, 1M ints)` (pool size 2, chunksize auto)', '');
  md.push('| backend | items/s | goal ≥ 5M items/s |', '| --- | ---: | --- |');
  for (const [lib, v] of Object.entries(s2)) {
    md.push(`| ${lib} | ${fmt(v)} | ${v >= 5e6 ? 'met' : 'missed'} (${x(v / 5e6)}) |`);
    goals.push({ goal: `map 1M (${lib}) ≥ 5M items/s`, value: v, target: 5e6, show: fmt });
  }
  md.push('');
}

if (Object.keys(runs).some((j) => j.startsWith('s3:'))) {
  const seq = has('s3:sequential') ? med('s3:sequential', (r) => r.ms) : NaN;
  const s3 = { sequentialMs: seq, poolMs: {}, sequentialInSameProcessMs: {}, speedup: {} };
  md.push(`## 3. 16 × fib(32), pool size ${cores} (availableParallelism), pool start excluded`, '');
  md.push(`Each job times the 16 calls sequentially on its own main thread just before and after the pool run (same process, pool idle) and divides by the pool time; the median of the rounds is shown. A separate sequential-only process took ${Number.isFinite(seq) ? seq.toFixed(0) : 'n/a'} ms. Goal: speedup ≥ 0.95 × ${cores} = ${(0.95 * cores).toFixed(2)}.`, '');
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
    if (lib.startsWith('tandem')) goals.push({ goal: `16×fib(32) ${lib} speedup ≥ ${(0.95 * cores).toFixed(2)}×`, value: sp, target: 0.95 * cores, show: x });
  }
  md.push('');
  summary.s3 = s3;
}

if (has('s4:tandem-process-vs-raw')) {
  const raws = ok(runs['s4:tandem-process-vs-raw']);
  const configs = Object.keys(raws[0]?.configs ?? {});
  const rawBy = Object.fromEntries(configs.map((c) => [c, median(raws.map((r) => r.configs[c].perSec))]));
  const pipelined = Object.entries(rawBy).filter(([c]) => !c.startsWith('ping-pong'));
  const [bestName, best] = pipelined.reduce((a, b) => (b[1] > a[1] ? b : a), ['', 0]);
  const pingPong = rawBy['ping-pong, 1 child'];
  const batched = median(raws.map((r) => r.batched.perSec));
  const mt = (k) => median(raws.map((r) => r.tandem?.[k]));
  const t = { submit: mt('submitPerSec'), map: mt('mapPerSec'), pingPong: mt('pingPongPerSec'), submitVsRawBest: mt('submitVsRawBest'), mapVsRawBest: mt('mapVsRawBest'), pingPongVsRaw: mt('pingPongVsRaw') };
  summary.s4 = { rawMessagesPerSec: rawBy, rawBest: { name: bestName, perSec: best }, rawPingPong: pingPong, rawBatchedItemsPerSec: batched, tandemProcess: t };
  md.push('## 4. process backend vs raw `child_process.fork` IPC echo (`serialization: \'advanced\'`)', '');
  md.push('Raw echo and tandem run in the same process, one after the other, each round. Raw: the parent sends the integer i as one message per `child.send`, the child sends it back; rates are round trips per second. "window W" keeps W messages in flight per child (pipelined); the best pipelined configuration is the raw floor. Ratios are computed per round, then the median is taken.', '');
  md.push('| raw configuration | messages/s |', '| --- | ---: |');
  for (const [c, v] of Object.entries(rawBy)) md.push(`| ${c}${c === bestName ? ' (**best pipelined**)' : ''} | ${fmt(v)} |`);
  md.push(`| batched: 1024 ints per message, 8 in flight, 1 child (items/s, informational) | ${fmt(batched)} |`, '');
  md.push('| tandem process pool, size 2 | rate | ÷ raw |', '| --- | ---: | ---: |');
  md.push(`| 100k \`submit\`, then \`Promise.all\` (tasks/s) | ${fmt(t.submit)} | ${pct(t.submitVsRawBest)} of best pipelined |`);
  md.push(`| \`map\` 1M (items/s) | ${fmt(t.map)} | ${pct(t.mapVsRawBest)} of best pipelined |`);
  md.push(`| ping-pong: \`await pool.run(noop, i)\` one at a time (calls/s) | ${fmt(t.pingPong)} | ${pct(t.pingPongVsRaw)} of raw ping-pong |`);
  md.push('');
  goals.push({ goal: 'process submit ≥ 50 % of raw fork echo (best pipelined)', value: t.submitVsRawBest, target: 0.5, show: pct });
}

if (Object.keys(runs).some((j) => j.startsWith('s5:'))) {
  const s5 = {};
  md.push('## 5. Memory per idle worker', '');
  md.push('Threads: growth of the parent\'s RSS (after GC) once N workers have started and run a task, ÷ N. Processes: each child\'s VmRSS (and PSS, which splits shared pages fairly) from /proc, plus the parent\'s own growth.', '');
  md.push('| kind | N | parent RSS Δ / worker (MB) | child VmRSS / worker (MB) | child PSS / worker (MB) | threads per child |', '| --- | ---: | ---: | ---: | ---: | ---: |');
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
    md.push(`| ${kind} | ${n} | ${f(row.parentDeltaPerWorkerMb)} | ${f(row.childRssPerWorkerMb)} | ${f(row.childPssPerWorkerMb)} | ${Number.isFinite(row.childThreads) ? row.childThreads : '–'} |`);
  }
  const slope = (kind) => (s5[kind]?.['4'] && s5[kind]?.['2'] ? (s5[kind]['4'].parentDeltaMb - s5[kind]['2'].parentDeltaMb) / 2 : NaN);
  if (Number.isFinite(slope('tandem-thread'))) md.push('', `Marginal cost of one more tandem thread (parent RSS at N=4 minus N=2, ÷ 2): ${slope('tandem-thread').toFixed(1)} MB.`);
  md.push('');
  summary.s5 = s5;
}

if (goals.length) {
  md.push('## Goals (issue 2, item 8)', '', '| goal | measured | status |', '| --- | ---: | --- |');
  for (const g of goals) {
    const met = g.value >= g.target;
    const status = !Number.isFinite(g.value) ? 'not measured' : met ? `met (${x(g.value / g.target)} the target)` : `missed (${pct(g.value / g.target)} of target)`;
    md.push(`| ${g.goal} | ${g.show(g.value)} | ${status} |`);
  }
  md.push('');
}

const failures = Object.entries(runs).flatMap(([job, rs]) => rs.filter((r) => !r.ok).map((r) => `${job}: ${r.error}`));
if (failures.length) md.push('## Failed jobs', '', ...failures.map((f) => `- ${f.replace(/\n/g, ' ')}`), '');

const text = md.join('\n');
if (filters.length === 0) {
  let commit = null;
  try {
    commit = execSync('git rev-parse --short HEAD', { cwd: fileURLToPath(new URL('..', import.meta.url)) }).toString().trim();
  } catch {}
  const meta = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, availableParallelism: cores, platform: `${os.platform()} ${os.release()}`, commit, rounds, durationS: (Date.now() - t0) / 1000 };
  writeFileSync(new URL('./results.json', import.meta.url), JSON.stringify({ meta, summary, goals: goals.map(({ show, ...g }) => ({ ...g, met: g.value >= g.target })), runs }, null, 2) + '\n');
  writeFileSync(new URL('./results.md', import.meta.url), text + '\n');
  console.error('wrote bench/results.json and bench/results.md');
}
console.log(text);
