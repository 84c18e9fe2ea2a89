// Deadlock detection: a lock wait that closes a cycle fails with DeadlockError naming it, never hangs.
// Every test here has its own timeout (the last argument of `it`), which fails it if a wait hangs.
import { afterEach, describe, expect, it } from 'vitest';
import { Barrier, DeadlockError, Event, Lock, RLock, setDeadlockDetection } from 'tandem';
import { acquireTwice, holdThenWait, transfer } from '../fixtures/sync-deadlock.mjs';
import { closePools, threadPool } from './pools.js';

afterEach(async () => {
  setDeadlockDetection(true);
  await closePools();
});

const HANG = 20_000;

interface Outcome {
  threadId: number;
  outcome: string;
  error?: {
    name: string;
    code: string;
    message: string;
    cycle: { thread: string; holds: string; waitsFor: string; task?: { name: string; callId: number } }[];
  };
}

describe('deadlock detection', () => {
  it(
    'a bank transfer taking two locks in opposite orders raises DeadlockError naming both threads and locks',
    async () => {
      const pool = threadPool(2);
      const accounts = new Lock({ name: 'accounts' });
      const ledger = new Lock({ name: 'ledger' });
      const barrier = new Barrier(2);
      const results: Outcome[] = await Promise.all([
        pool.run(transfer, accounts, ledger, barrier, HANG),
        pool.run(transfer, ledger, accounts, barrier, HANG),
      ]);
      const failed = results.filter((r) => r.outcome === 'deadlock');
      const passed = results.filter((r) => r.outcome === 'transferred');
      // The second wait closed the cycle and failed; the first then went through.
      expect(failed).toHaveLength(1);
      expect(passed).toHaveLength(1);
      const { error, threadId } = failed[0];
      const other = passed[0].threadId;
      expect(error).toMatchObject({ name: 'DeadlockError', code: 'ERR_TANDEM_DEADLOCK' });
      const [mine, theirs] = error!.cycle;
      expect(error!.cycle).toHaveLength(2);
      expect(mine.thread).toBe(`worker ${threadId}`);
      expect(theirs.thread).toBe(`worker ${other}`);
      expect(mine.waitsFor).toBe(theirs.holds);
      expect(theirs.waitsFor).toBe(mine.holds);
      expect([mine.holds, mine.waitsFor].sort()).toEqual(['accounts', 'ledger']);
    },
    HANG + 5_000,
  );

  it(
    'finds a cycle between workers of two different pools (one wait-for graph per process)',
    async () => {
      const first = threadPool(1);
      const second = threadPool(1);
      const accounts = new Lock({ name: 'accounts' });
      const ledger = new Lock({ name: 'ledger' });
      const barrier = new Barrier(2);
      const results: Outcome[] = await Promise.all([
        first.run(transfer, accounts, ledger, barrier, HANG),
        second.run(transfer, ledger, accounts, barrier, HANG),
      ]);
      expect(results.map((r) => r.outcome).sort()).toEqual(['deadlock', 'transferred']);
    },
    HANG + 5_000,
  );

  it(
    'finds a cycle through three workers',
    async () => {
      const pool = threadPool(3);
      const locks = ['a', 'b', 'c'].map((name) => new Lock({ name }));
      const barrier = new Barrier(3);
      const results: Outcome[] = await Promise.all([0, 1, 2].map((i) => pool.run(transfer, locks[i], locks[(i + 1) % 3], barrier, HANG)));
      const failed = results.filter((r) => r.outcome === 'deadlock');
      expect(failed).toHaveLength(1);
      expect(results.filter((r) => r.outcome === 'transferred')).toHaveLength(2);
      const cycle = failed[0].error!.cycle;
      expect(cycle).toHaveLength(3);
      expect(new Set(cycle.map((link) => link.thread)).size).toBe(3);
      for (const [i, link] of cycle.entries()) expect(link.waitsFor).toBe(cycle[(i + 1) % 3].holds);
      // Each worker's wait names its task and call (acquireSync runs in the call's synchronous part).
      expect(cycle.map((link) => link.task?.name)).toEqual(['transfer', 'transfer', 'transfer']);
      expect(new Set(cycle.map((link) => link.task?.callId)).size).toBe(3);
      expect(failed[0].error!.message).toMatch(/worker \d+ \(task 'transfer', call \d+\) holds '[abc]'/);
    },
    HANG + 5_000,
  );

  it(
    'a cycle between the main thread (async wait) and a worker is found by whichever waits last',
    async () => {
      const pool = threadPool(1);
      const first = new Lock({ name: 'first' });
      const second = new Lock({ name: 'second' });
      const ready = new Event();
      await first.acquire(); // main holds 'first'
      const worker = pool.submit(holdThenWait, [second, first, ready]); // worker: holds 'second', waits for 'first'
      expect(await ready.wait({ timeout: HANG })).toBe(true);
      let mainError: unknown;
      try {
        if (await second.acquire({ timeout: HANG })) second.release();
      } catch (error) {
        mainError = error;
      } finally {
        first.release();
      }
      const result: Outcome = await worker;
      if (mainError) {
        // Main waited last: its wait closed the cycle.
        expect(mainError).toBeInstanceOf(DeadlockError);
        const cycle = (mainError as DeadlockError).cycle;
        // The main thread runs no task: its link names the thread alone.
        expect(cycle).toEqual([
          { thread: 'main', holds: 'first', waitsFor: 'second' },
          { thread: `worker ${result.threadId}`, holds: 'second', waitsFor: 'first', task: { name: 'holdThenWait', callId: worker.id } },
        ]);
        expect(result.outcome).toBe('acquired');
      } else {
        expect(result.outcome).toBe('deadlock');
        expect(result.error!.cycle).toEqual([
          { thread: `worker ${result.threadId}`, holds: 'second', waitsFor: 'first', task: { name: 'holdThenWait', callId: worker.id } },
          { thread: 'main', holds: 'first', waitsFor: 'second' },
        ]);
      }
    },
    HANG + 5_000,
  );

  it(
    'a thread acquiring a Lock it holds gets DeadlockError (a cycle of one)',
    async () => {
      const pool = threadPool(1);
      const call = pool.submit(acquireTwice, [new Lock({ name: 'self' })]);
      const result: Outcome = await call;
      expect(result.outcome).toBe('deadlock');
      expect(result.error!.cycle).toEqual([
        { thread: `worker ${result.threadId}`, holds: 'self', waitsFor: 'self', task: { name: 'acquireTwice', callId: call.id } },
      ]);
    },
    HANG + 5_000,
  );

  it(
    'RLocks take part too',
    async () => {
      const pool = threadPool(2);
      const a = new RLock({ name: 'ra' });
      const b = new RLock({ name: 'rb' });
      const barrier = new Barrier(2);
      const results: Outcome[] = await Promise.all([pool.run(transfer, a, b, barrier, HANG), pool.run(transfer, b, a, barrier, HANG)]);
      expect(results.map((r) => r.outcome).sort()).toEqual(['deadlock', 'transferred']);
    },
    HANG + 5_000,
  );

  it(
    'with detection turned off, the same waits block until their timeouts, as in Python',
    async () => {
      setDeadlockDetection(false);
      expect(Lock.deadlockDetection).toBe(false);
      const pool = threadPool(2);
      const accounts = new Lock({ name: 'accounts' });
      const ledger = new Lock({ name: 'ledger' });
      const barrier = new Barrier(2);
      const results: Outcome[] = await Promise.all([
        pool.run(transfer, accounts, ledger, barrier, 100),
        pool.run(transfer, ledger, accounts, barrier, 100),
      ]);
      // Neither can go on until one gives up: at least one times out (the other may then go through).
      expect(results.filter((r) => r.outcome === 'deadlock')).toHaveLength(0);
      expect(results.filter((r) => r.outcome === 'timed out').length).toBeGreaterThanOrEqual(1);
    },
    HANG + 5_000,
  );

  it('the main thread waiting (async) on a lock another of its flows holds is no deadlock', async () => {
    const lock = new Lock({ name: 'shared by flows' });
    await lock.acquire();
    const second = lock.acquire({ timeout: HANG });
    lock.release();
    expect(await second).toBe(true);
    lock.release();
  });
});
