// Exact blame on a crash (issue 8, "Crashes and timeouts"): a worker's death
// fails exactly the calls that were running on it. A call that had finished
// (its result still waiting in the worker's outgoing batch) is never failed or
// run again because of it; the call that crashed runs again only within its
// `retries`. Runs are counted in probes, so "ran once" is a fact, not a guess.
//
// The scenario that blames the wrong call: a pool that has learnt calls are
// short sends a quick call and a crashing one to its worker in one batch; the
// worker runs both before it reports the first.
import { afterEach, describe, expect, it } from 'vitest';
import { type Pool, WorkerCrashedError } from 'tandem';
import { cleanup, eventually, makePool, probe, rejection, workerBackends, type BackendName } from '../helpers.js';
import { add, count } from '../fixtures/tasks.mjs';
import { countThenExit, countThenKill, countThenRunOnAfterExit, countThenUncaught, pidOf } from '../fixtures/core-tasks.mjs';
import { warmUp } from './watch.js';

afterEach(cleanup);

interface Crash {
  name: string;
  backends: readonly BackendName[];
  submit: (pool: Pool, runs: string | SharedArrayBuffer) => ReturnType<Pool['submit']>;
}

const crashes: Crash[] = [
  { name: 'process.exit(3)', backends: workerBackends, submit: (pool, runs) => pool.submit(countThenExit, [runs, 3]) },
  { name: 'an uncaught error from a timer', backends: workerBackends, submit: (pool, runs) => pool.submit(countThenUncaught, [runs]) },
  { name: 'SIGKILL', backends: ['process'], submit: (pool, runs) => pool.submit(countThenKill, [runs as string]) },
];

/** A pool that has loaded both fixture modules and learnt from 300 short calls to send calls ahead. */
async function pipeliningPool(backend: BackendName, retries: number): Promise<Pool> {
  const pool = makePool({ backend, size: 1, retries });
  // Loaded now, a task module does not hold the batch later (the worker would report while it loads).
  expect(typeof (await pool.run(pidOf))).toBe('number');
  await warmUp(pool, 300);
  return pool;
}

describe.each(workerBackends)('a crash blames exactly the call that was running (%s)', (backend) => {
  const kinds = crashes.filter((kind) => kind.backends.includes(backend));

  it.each(kinds.map((kind) => [kind.name, kind] as const))(
    '%s right after a quick call in the same batch: the quick call keeps its result, the crashing call runs once (retries: 0)',
    async (_, kind) => {
      const pool = await pipeliningPool(backend, 0);
      const quickRuns = probe(backend);
      const crashRuns = probe(backend);
      const quick = pool.submit(count, [quickRuns.arg, 'finished']);
      const crash = kind.submit(pool, crashRuns.arg);
      const error = await rejection(crash);
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error.taskId).toBe(crash.id);
      const [settled] = await Promise.allSettled([quick]);
      expect(await pool.run(add, 2, 2)).toBe(4);
      if (kind.name !== 'SIGKILL') {
        // (Nothing leaves a process killed with SIGKILL: there the result may be
        // truly lost, and then the error says so.)
        expect.soft(settled.status === 'rejected' ? settled.reason : settled).toEqual({ status: 'fulfilled', value: 'finished' });
      }
      expect.soft(crashRuns.ran(), 'runs of the crashing call').toBe(1);
      expect.soft(quickRuns.ran(), 'runs of the quick call').toBe(1);
    },
    60_000,
  );

  it('with retries: 2 a call that always crashes runs exactly 3 times, even right after a quick call', async () => {
    const pool = await pipeliningPool(backend, 2);
    const quickRuns = probe(backend);
    const crashRuns = probe(backend);
    const quick = pool.submit(count, [quickRuns.arg, 'finished']);
    const crash = pool.submit(countThenExit, [crashRuns.arg, 3]);
    const error = await rejection(crash);
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error.exitCode).toBe(3);
    const [settled] = await Promise.allSettled([quick]);
    expect(await pool.run(add, 2, 2)).toBe(4);
    expect.soft(settled.status === 'rejected' ? settled.reason : settled).toEqual({ status: 'fulfilled', value: 'finished' });
    expect.soft(crashRuns.ran(), 'runs of the crashing call').toBe(3);
    expect.soft(quickRuns.ran(), 'runs of the quick call').toBe(1);
    expect(pool.stats()).toMatchObject({ failed: 1, queued: 0, running: 0 });
  }, 60_000);

  it('with retries: 2 a call that always crashes runs exactly 3 times when it is alone', async () => {
    const pool = makePool({ backend, size: 1, retries: 2 });
    const crashRuns = probe(backend);
    expect(await rejection(pool.submit(countThenExit, [crashRuns.arg, 3]))).toBeInstanceOf(WorkerCrashedError);
    expect(await pool.run(add, 2, 2)).toBe(4);
    await eventually(() => crashRuns.ran() >= 3, 'the three runs to be counted');
    expect(crashRuns.ran()).toBe(3);
  }, 60_000);

  it('a worker that runs on after its last words (a Deno thread may, after process.exit()) runs nothing more, and is stopped', async () => {
    const pool = await pipeliningPool(backend, 0);
    const before = probe(backend);
    const exiting = probe(backend);
    const after = [probe(backend), probe(backend), probe(backend), probe(backend)];
    const first = pool.submit(count, [before.arg, 'before']);
    const crash = pool.submit(countThenRunOnAfterExit, [exiting.arg, 3]);
    const rest = after.map((runs, i) => pool.submit(count, [runs.arg, i]));
    const error = await rejection(crash);
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error.callState).toBe('running');
    expect(await first).toBe('before');
    expect(await Promise.all(rest)).toEqual([0, 1, 2, 3]);
    expect(exiting.ran(), 'runs of the call that said the last words').toBe(1);
    // Sent ahead to the worker that ran on, the later calls ran once: on the next worker, not on that one too.
    expect(after.map((runs) => runs.ran())).toEqual([1, 1, 1, 1]);
    expect(before.ran()).toBe(1);
  }, 60_000);
});
