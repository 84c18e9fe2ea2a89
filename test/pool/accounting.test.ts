// The bookkeeping promises of issue 8: every accepted call settles exactly
// once; stats() adds up at every moment (each accepted call is queued,
// running, completed, failed or cancelled: exactly one of them); after
// close() no worker thread or process remains.
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, type Future, TaskError, TaskTimeoutError, WorkerCrashedError } from 'tandem';
import { cleanup, eventually, makePool, probe, runtime, workerBackends } from '../helpers.js';
import { count, echo, gated } from '../fixtures/tasks.mjs';
import { blockForever, countThenExit, countThenThrow } from '../fixtures/core-tasks.mjs';
import { SettleLog, accounted, childPids, threadCount, within } from './watch.js';

afterEach(cleanup);

describe.each(workerBackends)('every call is accounted for (%s)', (backend) => {
  it('a mixed workload: each call settles once as expected, stats() add up after every step, close() leaves no worker', async () => {
    const threadsBefore = threadCount();
    const pool = makePool({ backend, size: 2, retries: 1 });
    const log = new SettleLog();
    const gate = probe(backend);
    const faults = probe(backend);
    let accepted = 0;
    const expected = new Map<Future<unknown>, (outcome: unknown) => void>();
    const submit = <T>(future: Future<T>, check: (outcome: unknown) => void): Future<T> => {
      accepted++;
      log.watch(future);
      expected.set(future as Future<unknown>, check);
      expect.soft(accounted(pool), 'stats() after a submit').toBe(accepted);
      return future;
    };
    const fulfilled = (value: unknown) => (outcome: unknown) => expect(outcome).toEqual({ status: 'fulfilled', value });
    const rejectedWith = (type: Function) => (outcome: unknown) => expect((outcome as { error: unknown }).error).toBeInstanceOf(type);

    // Two calls hold both workers; the one cancelled while running sees its signal abort.
    const held = submit(pool.submit(gated, [gate.arg, 'held']), fulfilled('held'));
    const cancelledRunning = submit(pool.submit(gated, [gate.arg, 'cancelled']), rejectedWith(CancelledError));
    await gate.untilStarted(2);
    const queued = Array.from({ length: 3 }, (_, i) => submit(pool.submit(count, [gate.arg, i]), rejectedWith(CancelledError)));
    for (const future of queued) {
      expect(future.state).toBe('pending');
      expect(future.cancel()).toBe(true);
      expect.soft(accounted(pool), 'stats() after cancelling a queued call').toBe(accepted);
    }
    expect(cancelledRunning.cancel()).toBe(true);
    expect.soft(accounted(pool), 'stats() after cancelling a running call').toBe(accepted);
    await eventually(() => gate.aborted() === 1, 'the cancelled call to see its signal abort');
    expect.soft(accounted(pool), 'stats() once the cancelled call has stopped').toBe(accepted);

    const results = Array.from({ length: 20 }, (_, i) => submit(pool.submit(echo, [i]), fulfilled(i)));
    const thrown = Array.from({ length: 2 }, () => submit(pool.submit(countThenThrow, [faults.arg, 'no']), rejectedWith(TaskError)));
    const crashed = Array.from({ length: 2 }, () => submit(pool.submit(countThenExit, [faults.arg, 3]), rejectedWith(WorkerCrashedError)));
    const timedOut = submit(pool.submit(blockForever, [faults.arg], { timeout: 500 }), rejectedWith(TaskTimeoutError));
    gate.open();

    const all = [held, cancelledRunning, ...queued, ...results, ...thrown, ...crashed, timedOut];
    await within(Promise.allSettled(all), 30_000, 'every call to settle');
    for (const future of all) {
      expect(log.settlements(future), `settlements of call ${future.id}`).toBe(1);
      expected.get(future)!(log.outcome(future));
    }
    // Each faulty call ran twice (retries: 1); the cancelled queued ones never ran.
    expect(faults.ran()).toBe(2 * (thrown.length + crashed.length));
    expect(gate.ran()).toBe(0);
    expect(pool.stats()).toMatchObject({ queued: 0, running: 0, completed: 21, failed: 5, cancelled: 4 });
    expect(accounted(pool)).toBe(accepted);

    await within(pool.close(), 15_000, 'close()');
    expect(pool.stats().workers).toBe(0);
    if (backend === 'process') await eventually(() => childPids().length === 0, 'no worker process left after close()');
    // Deno cannot stop a thread deep in synchronous code (the call cancelled while it runs): test/runtimes/differences.test.ts shows it.
    else if (runtime !== 'deno') await eventually(() => threadCount() <= threadsBefore, 'no worker thread left after close()');
  }, 90_000);
});
