// Timeouts, cancel() and the signal option. A timeout stops the worker that
// runs the call (synchronous JavaScript cannot be interrupted otherwise); a
// cancel removes a queued call, or aborts the signal a running call sees.
// Either way the future settles at once.
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, TandemError, TaskTimeoutError } from 'tandem';
import { allBackends, cleanup, eventually, makePool, probe, rejection, workerBackends } from '../helpers.js';
import { add, blockOn, count, deafGated, echo, gated, hang, spin, square, whoAmI } from '../fixtures/tasks.mjs';

afterEach(cleanup);

describe.each(workerBackends)('timeout (%s)', (backend) => {
  it('a call that blocks forever rejects with TaskTimeoutError; its worker is replaced; queued calls still run', async () => {
    const pool = makePool({ backend, size: 1 });
    const first = await pool.run(whoAmI);
    const stuck = pool.submit(spin, [], { timeout: 300 });
    const queued = pool.submit(echo, ['queued']);
    const error = await rejection(stuck);
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(error).toBeInstanceOf(TandemError);
    expect(error.code).toBe('ERR_TANDEM_TASK_TIMEOUT');
    expect(stuck.state).toBe('rejected');
    expect(await queued).toBe('queued');
    const second = await pool.run(whoAmI);
    expect(second).not.toBe(first);
    expect(await pool.run(add, 1, 1)).toBe(2);
  });

  it('the timeout counts from when the call starts, not while it waits in the queue', async () => {
    const pool = makePool({ backend, size: 1 });
    const gate = probe(backend);
    const blocker = pool.submit(gated, [gate.arg, 'blocker']);
    await gate.untilStarted();
    const waited = pool.submit(echo, ['waited'], { timeout: 400 });
    // The point of this test is time passing: keep the call queued for well over its timeout.
    const queuedAt = Date.now();
    await eventually(() => Date.now() - queuedAt > 1_500, 'time to pass');
    expect(waited.state).toBe('pending');
    gate.open();
    expect(await blocker).toBe('blocker');
    expect(await waited).toBe('waited');
  });

  it('a map with an item that blocks forever rejects with TaskTimeoutError; the pool serves on', async () => {
    const pool = makePool({ backend, size: 2 });
    const error = await rejection(pool.map(blockOn, [1, 2, 13, 4], { timeout: 500, chunksize: 1 }));
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(error.code).toBe('ERR_TANDEM_TASK_TIMEOUT');
    expect(await pool.map(blockOn, [1, 2, 3])).toEqual([1, 2, 3]);
  });

  it('a call that finishes within its timeout is not affected', async () => {
    const pool = makePool({ backend, size: 2 });
    expect(await Promise.all([1, 2, 3].map((n) => pool.submit(square, [n], { timeout: 20_000 })))).toEqual([1, 4, 9]);
    expect(await pool.map(square, [1, 2, 3], { timeout: 20_000 })).toEqual([1, 4, 9]);
  });
});

describe('timeout (inline)', () => {
  it('a never-settling call rejects with TaskTimeoutError and the signal the task sees aborts', async () => {
    // Size 2: whether a timed-out inline call that ignores its abort still holds
    // its slot is left to the implementation; the other slot must serve.
    const pool = makePool({ backend: 'inline', size: 2 });
    const watch = probe('inline');
    const stuck = pool.submit(hang, [watch.arg], { timeout: 50 });
    const error = await rejection(stuck);
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(error.code).toBe('ERR_TANDEM_TASK_TIMEOUT');
    expect(stuck.state).toBe('rejected');
    await eventually(() => watch.aborted() === 1, 'the task to see its signal abort');
    expect(await pool.run(echo, 'still serving')).toBe('still serving');
  });

  it('a task that stops when aborted frees its slot: a size-1 pool serves on', async () => {
    const pool = makePool({ backend: 'inline', size: 1 });
    const gate = probe('inline');
    expect((await rejection(pool.submit(gated, [gate.arg, 'never'], { timeout: 50 }))).code).toBe('ERR_TANDEM_TASK_TIMEOUT');
    await eventually(() => gate.aborted() === 1, 'the task to see its signal abort');
    expect(await pool.run(echo, 'still serving')).toBe('still serving');
  });
});

describe.each(allBackends)('cancel (%s)', (backend) => {
  it('cancelling a queued call removes it: cancelled state, CancelledError, it never runs', async () => {
    const pool = makePool({ backend, size: 1 });
    const gate = probe(backend);
    const blocker = pool.submit(gated, [gate.arg, 'blocker']);
    await gate.untilStarted();
    expect(blocker.state).toBe('running');
    const queued = pool.submit(count, [gate.arg, 'queued']);
    expect(queued.state).toBe('pending');
    expect(queued.cancel()).toBe(true);
    expect(queued.state).toBe('cancelled');
    expect(queued.done()).toBe(true);
    const error = await rejection(queued);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.code).toBe('ERR_TANDEM_CANCELLED');
    expect(queued.cancel()).toBe(false);
    gate.open();
    expect(await blocker).toBe('blocker');
    // A call submitted after it runs (and counts once): the cancelled one never did.
    expect(await pool.run(count, gate.arg, 'after')).toBe('after');
    expect(gate.ran()).toBe(1);
    expect(pool.stats().cancelled).toBe(1);
  });

  it('a cancelled call never runs, even once the pool has warmed up on short calls', async () => {
    const pool = makePool({ backend, size: 1 });
    const gate = probe(backend);
    // Many short calls first: a pool may then send several calls to a worker at once.
    await Promise.all(Array.from({ length: 300 }, (_, i) => pool.run(square, i)));
    const blocker = pool.submit(gated, [gate.arg, 'blocker']);
    const queued = Array.from({ length: 5 }, (_, i) => pool.submit(count, [gate.arg, i]));
    await gate.untilStarted();
    // Not started: still pending, whatever the pool did with them behind the scenes.
    for (const future of queued) expect.soft(future.state).toBe('pending');
    for (const future of queued) expect(future.cancel()).toBe(true);
    for (const future of queued) expect((await rejection(future)).code).toBe('ERR_TANDEM_CANCELLED');
    gate.open();
    expect(await blocker).toBe('blocker');
    expect(await pool.run(count, gate.arg, 'after')).toBe('after');
    expect(gate.ran()).toBe(1);
  });

  it('cancelling a running call rejects at once with CancelledError and aborts the signal the task sees', async () => {
    const pool = makePool({ backend, size: 1 });
    const gate = probe(backend);
    const running = pool.submit(gated, [gate.arg, 'opened']);
    await gate.untilStarted();
    expect(running.state).toBe('running');
    expect(running.cancel()).toBe(true);
    expect(running.state).toBe('cancelled');
    // The task resolves 'aborted' when it sees the abort; the future still reports the cancel.
    const error = await rejection(running);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.code).toBe('ERR_TANDEM_CANCELLED');
    await eventually(() => gate.aborted() === 1, 'the task to see its signal abort');
    expect(await pool.run(add, 1, 1)).toBe(2);
  });

  it('cancelling a running call that ignores its signal still rejects at once', async () => {
    const pool = makePool({ backend, size: 1 });
    const gate = probe(backend);
    const running = pool.submit(deafGated, [gate.arg]);
    await gate.untilStarted();
    expect(running.cancel()).toBe(true);
    expect((await rejection(running)).code).toBe('ERR_TANDEM_CANCELLED');
    // Once the task does end, the pool serves again.
    gate.open();
    expect(await pool.run(add, 2, 2)).toBe(4);
  });

  it('cancel() on a settled future returns false and changes nothing', async () => {
    const pool = makePool({ backend, size: 1 });
    const future = pool.submit(add, [1, 2]);
    expect(await future).toBe(3);
    expect(future.cancel()).toBe(false);
    expect(future.state).toBe('fulfilled');
  });

  it('the signal option cancels a queued call and a running call', async () => {
    const pool = makePool({ backend, size: 1 });
    const gate = probe(backend);
    const runningController = new AbortController();
    const queuedController = new AbortController();
    const running = pool.submit(gated, [gate.arg, 'opened'], { signal: runningController.signal });
    const queued = pool.submit(count, [gate.arg, 'queued'], { signal: queuedController.signal });
    await gate.untilStarted();
    queuedController.abort();
    const queuedError = await rejection(queued);
    expect(queuedError).toBeInstanceOf(CancelledError);
    expect(queued.state).toBe('cancelled');
    runningController.abort();
    expect((await rejection(running)).code).toBe('ERR_TANDEM_CANCELLED');
    await eventually(() => gate.aborted() === 1, 'the running task to see its signal abort');
    expect(await pool.run(count, gate.arg, 'after')).toBe('after');
    expect(gate.ran()).toBe(1);
  });

  it('an already aborted signal gives a cancelled future, and nothing runs', async () => {
    const pool = makePool({ backend, size: 1 });
    const gate = probe(backend);
    const controller = new AbortController();
    controller.abort();
    const future = pool.submit(count, [gate.arg, 'never'], { signal: controller.signal });
    expect((await rejection(future)).code).toBe('ERR_TANDEM_CANCELLED');
    expect(future.state).toBe('cancelled');
    expect((await rejection(pool.map(square, [1, 2], { signal: controller.signal }))).code).toBe('ERR_TANDEM_CANCELLED');
    expect(await pool.run(count, gate.arg, 'after')).toBe('after');
    expect(gate.ran()).toBe(1);
  });

  it('aborting the signal of a map cancels it', async () => {
    const pool = makePool({ backend, size: 1 });
    const gate = probe(backend);
    const blocker = pool.submit(gated, [gate.arg, 'blocker']);
    await gate.untilStarted();
    const controller = new AbortController();
    const mapped = pool.map(square, [1, 2, 3], { signal: controller.signal });
    controller.abort();
    expect((await rejection(mapped)).code).toBe('ERR_TANDEM_CANCELLED');
    gate.open();
    expect(await blocker).toBe('blocker');
  });
});
