// A finished call's result reaches its caller without waiting for another call
// (issue 8, promise 2), even when the next call on its worker is of a task
// known to be short (the worker batches those results) and that call blocks
// the worker's thread: a watcher outside that thread delivers copies of the
// results it holds (src/worker/rescue.ts).
import { afterEach, describe, expect, it } from 'vitest';
import type { Future, Pool } from 'tandem';
import { cleanup, eventually, makePool, tempDir, workerBackends } from '../helpers.js';
import { MODEL_GATES, MODEL_RUNS, act } from '../fixtures/core-tasks.mjs';
import { bump, read } from '../fixtures/probe.mjs';
import { echo } from '../fixtures/tasks.mjs';

const gates: (SharedArrayBuffer | string)[] = [];
afterEach(async () => {
  // A test that fails leaves its gated calls blocked: they end before their workers are stopped.
  for (const probe of gates.splice(0)) if (read(probe, MODEL_GATES) === 0) bump(probe, MODEL_GATES);
  await cleanup();
});

/** Run counters per call index and gate 0 of `act` (shared memory for threads, files for processes). */
function actProbe(backend: (typeof workerBackends)[number]): SharedArrayBuffer | string {
  const probe = backend === 'process' ? tempDir() : new SharedArrayBuffer(4 * (MODEL_RUNS + 1000));
  gates.push(probe);
  return probe;
}

/** A pool whose workers have learnt that `act` is short (so they batch its results) and that sends its calls ahead. */
async function warmPool(backend: (typeof workerBackends)[number], size: number, probe: SharedArrayBuffer | string): Promise<Pool> {
  const pool = makePool({ backend, size });
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: 50 * size }, (_, i) => pool.run(act, probe, 500 + i, 'quick', 0)));
  }
  return pool;
}

const ran = (probe: SharedArrayBuffer | string, index: number): boolean => read(probe, MODEL_RUNS + index) > 0;

describe.each(workerBackends)('results of short calls do not wait for a blocked call of the same task (%s)', (backend) => {
  it('size 1: a quick call settles while the call sent right after it blocks', async () => {
    const probe = actProbe(backend);
    const pool = await warmPool(backend, 1, probe);
    const quick = pool.submit(act, [probe, 1, 'quick', 0]);
    const blocked = pool.submit(act, [probe, 2, 'gated', 0]);
    await eventually(() => ran(probe, 2), 'the blocking call to start');
    await eventually(() => quick.done(), 'the quick call to settle while the gate is closed');
    expect(await quick).toBe(1);
    expect(blocked.done()).toBe(false);
    bump(probe, MODEL_GATES);
    expect(await blocked).toBe(2);
  }, 60_000);

  it('size 2, both workers blocked: every quick call that ran settles', async () => {
    const probe = actProbe(backend);
    const pool = await warmPool(backend, 2, probe);
    // Sent together: each worker gets some of them. A worker runs its quick
    // calls, then blocks; quick calls sent behind a blocking one wait for it
    // (no worker is free to take them back).
    const first = pool.submit(act, [probe, 10, 'gated', 0]);
    const quick: Future<number>[] = [11, 12, 13, 14].map((i) => pool.submit(act, [probe, i, 'quick', 0]));
    const second = pool.submit(act, [probe, 15, 'gated', 0]);
    await eventually(() => ran(probe, 10) && ran(probe, 15), 'both blocking calls to start');
    const quickRan = (): Future<number>[] => quick.filter((_, at) => ran(probe, 11 + at));
    expect(quickRan().length).toBeGreaterThan(0);
    await eventually(() => quickRan().every((f) => f.done()), 'the quick calls that ran to settle while both workers are blocked');
    expect(first.done() || second.done()).toBe(false);
    bump(probe, MODEL_GATES);
    expect(await Promise.all([first, ...quick, second])).toEqual([10, 11, 12, 13, 14, 15]);
  }, 60_000);

  it('results of every kind arrive intact while the worker is blocked', async () => {
    const probe = actProbe(backend);
    const pool = await warmPool(backend, 1, probe);
    await Promise.all(Array.from({ length: 100 }, (_, i) => pool.run(echo, i)));
    // Numbers, strings, booleans, null and undefined are copied as they are; anything else V8-serialized.
    const values: unknown[] = [
      -0.5,
      'a string, ünïcode ✓',
      '',
      true,
      false,
      null,
      undefined,
      { nested: [1, 'two', new Map([[3, 4n]])] },
      new Uint8Array([5]),
      `${'x'.repeat(5000)}ü`,
      // 100 KB of copies: more than a pipe takes in one write.
      'y'.repeat(50_000),
    ];
    // A result too large for the copies' buffer is sent at once instead. (Not
    // on processes: a batch larger than the channel's socket buffer waits in
    // the child while its thread is blocked, README "When things go wrong", 2.)
    if (backend === 'thread') values.push(new Uint8Array(300_000).fill(7));
    const quick = values.map((value) => pool.submit(echo, [value]));
    const blocked = pool.submit(act, [probe, 3, 'gated', 0]);
    await eventually(() => ran(probe, 3), 'the blocking call to start');
    await eventually(() => quick.every((f) => f.done()), 'the quick calls to settle while the gate is closed');
    expect(await Promise.all(quick)).toEqual(values);
    expect(blocked.done()).toBe(false);
    bump(probe, MODEL_GATES);
    expect(await blocked).toBe(3);
  }, 60_000);
});
