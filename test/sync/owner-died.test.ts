// A thread worker that dies holding a primitive (killed for its task timeout, or crashed) never leaves
// the next acquirer waiting forever: Lock, RLock and a Condition's lock go to the next acquirer, which
// learns the owner died (ownerDied); so do a BoundedSemaphore's permits. A Semaphore permit is lost
// (a permit may be taken for good), and a wait with a timeout ends false.
// Every test has its own timeout (the last argument of `it`), which fails it if a wait hangs.
import { afterEach, describe, expect, it } from 'vitest';
import { BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore, SharedValue, TaskTimeoutError, type Pool } from 'tandem';
import {
  acquireAfterDeath,
  acquirePermit,
  countThenDie,
  countUnderLock,
  holdAndDie,
  notifyAndDie,
  waitOnCondition,
  whoAmI,
} from '../fixtures/sync-death.mjs';
import { holdUntil } from '../fixtures/sync-locks.mjs';
import { eventually } from '../helpers.js';
import { closePools, threadPool } from './pools.js';

afterEach(closePools);

/** Generous: a waiter gets the lock within this of its owner's death however loaded the machine. */
const DEADLINE = 20_000;
/** The dying task's timeout: it holds the primitive until the pool kills its worker then. */
const KILLED_AFTER = 300;
const HANG = DEADLINE + 10_000;

type Held = Lock | RLock | Condition | Semaphore;

/**
 * Runs a task that takes `held` and then dies holding it (`how`: killed for its
 * `timeout`, or crashed); resolves once it holds it. `owner` is how ownerDied names it.
 */
async function holdInWorker(pool: Pool, held: Held, how: 'timeout' | 'crash', timeout = KILLED_AFTER) {
  const who = new SharedValue('int32', -1);
  const ready = new Event();
  const dying = pool.submit(holdAndDie, [held, how, who, ready], { timeout });
  expect(await ready.wait({ timeout: DEADLINE })).toBe(true);
  return { dying, owner: `worker ${who.value}` };
}

const kinds = [
  ['Lock', () => new Lock({ name: 'robust' })],
  ['RLock', () => new RLock({ name: 'robust r' })],
] as const;

describe.each(kinds)('a %s whose holder dies', (_kind, make) => {
  it(
    'goes to a worker already waiting for it when the holder is killed for its timeout, which learns the owner died',
    async () => {
      const pool = threadPool(2);
      const lock = make();
      const { dying, owner } = await holdInWorker(pool, lock, 'timeout');
      const next = pool.run(acquireAfterDeath, lock, DEADLINE);
      await expect(dying).rejects.toBeInstanceOf(TaskTimeoutError);
      const report = await next;
      expect(report).toMatchObject({ acquired: true, ownerDied: { owner }, lockedAfter: false, ownerDiedAfter: null });
      if (lock instanceof RLock) expect(report.depth).toBe(1);
      expect(lock.locked()).toBe(false);
    },
    HANG,
  );

  it(
    'goes to the main thread (async acquire) after a worker crashed holding it',
    async () => {
      const pool = threadPool(1);
      const lock = make();
      const { dying, owner } = await holdInWorker(pool, lock, 'crash', DEADLINE);
      expect(await dying).toBe('crashing');
      const acquired = await lock.acquire({ timeout: DEADLINE });
      expect(acquired).toBe(true);
      expect(lock.heldByThisThread()).toBe(true);
      expect(lock.ownerDied).toEqual({ owner });
      lock.release();
      expect(lock.ownerDied).toBeNull();
      expect(lock.locked()).toBe(false);
      // Taken and released normally from then on.
      expect(lock.tryAcquire()).toBe(true);
      expect(lock.ownerDied).toBeNull();
      lock.release();
    },
    HANG,
  );

  it(
    'goes to the main thread waiting for it (async) when the holder is killed',
    async () => {
      const pool = threadPool(1);
      const lock = make();
      const { dying, owner } = await holdInWorker(pool, lock, 'timeout');
      const acquiring = lock.acquire({ timeout: DEADLINE });
      await expect(dying).rejects.toBeInstanceOf(TaskTimeoutError);
      expect(await acquiring).toBe(true);
      expect(lock.ownerDied).toEqual({ owner });
      lock.release();
      expect(lock.locked()).toBe(false);
    },
    HANG,
  );

  it(
    'is not left locked when the pool is terminated while a task holds it',
    async () => {
      const pool = threadPool(1);
      const lock = make();
      const { dying, owner } = await holdInWorker(pool, lock, 'timeout', DEADLINE);
      expect(lock.locked()).toBe(true);
      await pool.terminate();
      await expect(dying).rejects.toThrow();
      expect(lock.locked()).toBe(false);
      expect(lock.ownerThreadId).toBeNull();
      expect(lock.tryAcquire()).toBe(true);
      expect(lock.ownerDied).toEqual({ owner });
      lock.release();
    },
    HANG,
  );
});

describe('a Condition whose lock holder dies', () => {
  it(
    'a waiter woken by notify() takes the lock back from the notifier that died holding it, and learns so',
    async () => {
      const pool = threadPool(2);
      const cond = new Condition(new Lock({ name: 'cond lock' }));
      const waiting = new Event();
      const who = new SharedValue('int32', -1);
      const ready = new Event();
      const waiter = pool.run(waitOnCondition, cond, waiting, DEADLINE);
      const dying = pool.submit(notifyAndDie, [cond, waiting, who, ready], { timeout: KILLED_AFTER + 2_000 });
      expect(await ready.wait({ timeout: DEADLINE })).toBe(true);
      await expect(dying).rejects.toBeInstanceOf(TaskTimeoutError);
      expect(await waiter).toEqual({ woke: true, holds: true, ownerDied: { owner: `worker ${who.value}` } });
      expect(cond.lock.locked()).toBe(false);
    },
    HANG,
  );

  it(
    'the main thread acquires it after the holder was killed',
    async () => {
      const pool = threadPool(1);
      const cond = new Condition();
      const { dying, owner } = await holdInWorker(pool, cond, 'timeout');
      await expect(dying).rejects.toBeInstanceOf(TaskTimeoutError);
      expect(await cond.acquire({ timeout: DEADLINE })).toBe(true);
      expect(cond.ownerDied).toEqual({ owner });
      expect(await cond.wait({ timeout: 10 })).toBe(false); // usable as ever
      cond.release();
      expect(cond.lock.locked()).toBe(false);
    },
    HANG,
  );
});

describe('a Semaphore whose permit holder dies', () => {
  it(
    'does not get the permit back (permits have no owner): waits with a timeout end false, on a worker and the main thread',
    async () => {
      const pool = threadPool(2);
      const semaphore = new Semaphore(1, { name: 'one permit' });
      const { dying } = await holdInWorker(pool, semaphore, 'timeout');
      await expect(dying).rejects.toBeInstanceOf(TaskTimeoutError);
      expect(await pool.run(acquirePermit, semaphore, 50)).toBe(false);
      expect(await semaphore.acquire({ timeout: 50 })).toBe(false);
      // Whoever knows a permit was lost can give it back.
      semaphore.release();
      expect(await pool.run(acquirePermit, semaphore, DEADLINE)).toBe(true);
      expect(semaphore.value).toBe(1);
    },
    HANG,
  );
});

describe('a BoundedSemaphore whose permit holder dies', () => {
  it(
    'gives the permit back to the main thread waiting for it, which learns the holder died',
    async () => {
      const pool = threadPool(1);
      const semaphore = new BoundedSemaphore(1, { name: 'one permit' });
      const { dying, owner } = await holdInWorker(pool, semaphore, 'timeout');
      const acquiring = semaphore.acquire({ timeout: DEADLINE });
      await expect(dying).rejects.toBeInstanceOf(TaskTimeoutError);
      expect(await acquiring).toBe(true);
      expect(semaphore.ownerDied).toEqual({ owner });
      semaphore.release();
      expect(semaphore.ownerDied).toBeNull();
      expect(semaphore.value).toBe(1);
      // Never more than the bound: the permit came back once, a second release is refused.
      expect(() => semaphore.release()).toThrow(expect.objectContaining({ code: 'ERR_TANDEM_SEMAPHORE_OVER_RELEASE' }));
    },
    HANG,
  );

  it(
    'gives the permit back to a worker waiting for it',
    async () => {
      const pool = threadPool(2);
      const semaphore = new BoundedSemaphore(1, { name: 'one permit' });
      const { dying } = await holdInWorker(pool, semaphore, 'timeout');
      const next = pool.run(acquirePermit, semaphore, DEADLINE);
      await expect(dying).rejects.toBeInstanceOf(TaskTimeoutError);
      expect(await next).toBe(true);
      expect(semaphore.value).toBe(1);
    },
    HANG,
  );

  it(
    'gives back only what the dead holder still held: permits it released, or that others released for it, stay',
    async () => {
      const pool = threadPool(2);
      const semaphore = new BoundedSemaphore(3, { name: 'three permits' });
      const { dying } = await holdInWorker(pool, semaphore, 'timeout');
      // The main thread releases the worker's permit on its behalf (allowed), then takes all three.
      semaphore.release();
      for (let i = 0; i < 3; i++) expect(semaphore.tryAcquire()).toBe(true);
      await expect(dying).rejects.toBeInstanceOf(TaskTimeoutError);
      await eventually(() => pool.stats().workers === 0, 'the worker that held a permit to exit');
      // The dead worker held nothing any more: no permit comes back, so a wait ends at its timeout.
      expect(await semaphore.acquire({ timeout: 200 })).toBe(false);
      expect(semaphore.ownerDied).toBeNull();
      semaphore.release(3);
      expect(semaphore.value).toBe(3);
    },
    HANG,
  );
});

describe('a counter under a lock', () => {
  it(
    'adds up when one of the workers dies holding the lock mid-way: the others go on, one learns it',
    async () => {
      const survivors = 3;
      const rounds = 200;
      const pool = threadPool(survivors + 1);
      const lock = new Lock({ name: 'counter' });
      const counter = new SharedValue('int32', 0);
      const ready = new Event();
      const dying = pool.submit(countThenDie, [lock, counter, rounds, ready], { timeout: KILLED_AFTER + 2_000 });
      expect(await ready.wait({ timeout: DEADLINE })).toBe(true);
      const counting = Array.from({ length: survivors }, () => pool.run(countUnderLock, lock, counter, rounds));
      await expect(dying).rejects.toBeInstanceOf(TaskTimeoutError);
      const tookOver = await Promise.all(counting);
      expect(counter.value).toBe((survivors + 1) * rounds);
      expect(tookOver.reduce((a, b) => a + b, 0)).toBe(1);
      await pool.close();
      expect(lock.locked()).toBe(false);
      expect(lock.ownerDied).toBeNull();
    },
    HANG,
  );
});

describe('the deadlock detector', () => {
  it(
    'a worker that died inside its critical section (recording a wait) does not stop other lock waits',
    async () => {
      const gone = threadPool(1);
      const deadTag = (await gone.run(whoAmI)) + 1;
      await gone.terminate();
      // The state a worker killed between taking and releasing the wait-for graph's mutex leaves:
      // the mutex word (the graph's first word) holding its thread tag (threadId + 1), here with
      // the bit that says others sleep on it (0x40000000).
      const graph = new Int32Array((globalThis as unknown as Record<symbol, SharedArrayBuffer>)[Symbol.for('tandem.sync.waitForGraph')]);
      const leftBehind = deadTag | 0x40000000;
      Atomics.store(graph, 0, leftBehind);
      const pool = threadPool(2);
      const lock = new Lock({ name: 'past a dead mutex holder' });
      const held = new Event();
      const go = new Event();
      const holder = pool.run(holdUntil, lock, held, go);
      expect(await held.wait({ timeout: DEADLINE })).toBe(true);
      // A second worker waits for the lock: it must get past the graph's mutex to record its wait.
      const next = pool.run(acquireAfterDeath, lock, DEADLINE);
      for (let waited = 0; Atomics.load(graph, 0) === leftBehind; waited += 10) {
        if (waited > DEADLINE) throw new Error('nobody went for the graph mutex');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      go.set();
      await holder;
      expect(await next).toMatchObject({ acquired: true, ownerDied: null, lockedAfter: false });
      expect(Atomics.load(graph, 0)).toBe(0);
    },
    HANG,
  );
});
