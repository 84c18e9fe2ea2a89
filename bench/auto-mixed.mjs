// Mixed workload (issue 4): half CPU-bound, half I/O-bound calls, submitted
// interleaved, on pools of the same size: thread, process, inline and auto.
// auto should beat every fixed backend. Each pool runs one warm-up round
// (the same work, so auto has measured both tasks and pools have started),
// then `ROUNDS` timed rounds; the median is kept. Writes
// bench/results-auto.json and bench/results-auto.md.
//
//   node bench/auto-mixed.mjs
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Pool } from 'tandem';
import { crunch, fetchLike } from './auto-tasks.mjs';

const SIZE = availableParallelism();
const CALLS = 40; // 20 CPU-bound + 20 I/O-bound
const CRUNCH = 3_000_000; // ~15-20 ms on one core here
const WAIT_MS = 50;
const ROUNDS = 3;

async function round(pool) {
  const started = performance.now();
  const calls = [];
  for (let i = 0; i < CALLS; i++) calls.push(i % 2 === 0 ? pool.run(crunch, CRUNCH) : pool.run(fetchLike, WAIT_MS));
  await Promise.all(calls);
  return performance.now() - started;
}

const results = {};
for (const backend of ['thread', 'process', 'inline', 'auto']) {
  const pool = new Pool({ backend, size: SIZE });
  await round(pool); // warm-up
  const times = [];
  for (let r = 0; r < ROUNDS; r++) times.push(await round(pool));
  times.sort((a, b) => a - b);
  results[backend] = { medianMs: times[Math.floor(times.length / 2)], times };
  if (backend === 'auto') results.auto.placements = { crunch: pool.explain(crunch).backend, fetchLike: pool.explain(fetchLike).backend };
  await pool.close();
  process.stderr.write(`${backend}: ${results[backend].medianMs.toFixed(0)} ms\n`);
}

const bestFixed = Math.min(results.thread.medianMs, results.process.medianMs, results.inline.medianMs);
const summary = {
  date: new Date().toISOString(),
  node: process.version,
  cores: SIZE,
  workload: { calls: CALLS, cpuBound: CALLS / 2, ioBound: CALLS / 2, crunchIterations: CRUNCH, waitMs: WAIT_MS, rounds: ROUNDS },
  results,
  autoSpeedupOverBestFixed: bestFixed / results.auto.medianMs,
  goalMet: results.auto.medianMs < bestFixed,
};
writeFileSync(new URL('./results-auto.json', import.meta.url), `${JSON.stringify(summary, null, 2)}\n`);
const rows = ['thread', 'process', 'inline', 'auto'].map(
  (b) => `| ${b} | ${results[b].medianMs.toFixed(0)} | ${(results[b].medianMs / results.auto.medianMs).toFixed(2)}× |`,
);
const markdown = [
  `# Mixed workload: auto vs fixed backends (size ${SIZE}, ${CALLS} calls, half CPU-bound, half I/O-bound)`,
  '',
  '| backend | median ms | time ÷ auto |',
  '| --- | ---: | ---: |',
  ...rows,
  '',
  `auto placed crunch on **${results.auto.placements.crunch}** and fetchLike on **${results.auto.placements.fetchLike}**; ` +
    `auto is ${summary.autoSpeedupOverBestFixed.toFixed(2)}× faster than the best fixed backend (goal: > 1): ` +
    `${summary.goalMet ? 'met' : 'MISSED'}.`,
  '',
].join('\n');
writeFileSync(new URL('./results-auto.md', import.meta.url), markdown);
process.stdout.write(markdown);
