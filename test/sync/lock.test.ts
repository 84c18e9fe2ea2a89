// Lock: mutual exclusion across thread workers and the main thread, guards, wrong use.
import { afterEach, describe, expect, it } from 'vitest';
import {
  Barrier,
  Condition,
  Event,
  Lock,
  LockNotHeldError,
  MainThreadBlockingError,
  Pool,
  RLock,
  Semaphore,
  SerializationError,
  SharedQueue,
  SharedValue,
  SyncTimeoutError,
} from 'tandem';
import {
  acquireForMain,
  asyncIncrement,
  guardedIncrement,
  identify,
  lockedIncrement,
  tryRelease,
  unsafeIncrement,
} from '../fixtures/sync-locks.mjs';
import { closePools, threadPool } from './pools.js';

afterEach(closePools);

const WORKERS = 4;
const ROUNDS = 200;

describe('a counter incremented by 4 workers', () => {
  it('loses updates without a lock: every round, all read before any writes', async () => {
    const pool = threadPool(WORKERS);
    const counter = new SharedValue('int32', 0);
    const barrier = new Barrier(WORKERS);
    await Promise.all(Array.from({ length: WORKERS }, () => pool.run(unsafeIncrement, counter, barrier, ROUNDS)));
    // Each round 4 workers wrote the same value + 1: 3 of every 4 updates were lost.
    expect(counter.value).toBe(ROUNDS);
  });

  it('loses none with a Lock around the read and the write', async () => {
    const pool = threadPool(WORKERS);
    const counter = new SharedValue('int32', 0);
    const lock = new Lock({ name: 'counter' });
    const barrier = new Barrier(WORKERS);
    await Promise.all(Array.from({ length: WORKERS }, () => pool.run(lockedIncrement, lock, counter, barrier, ROUNDS)));
    expect(counter.value).toBe(WORKERS * ROUNDS);
    expect(lock.locked()).toBe(false);
  });

  it('loses none with guardSync() in workers and withLock() on the main thread, mixed', async () => {
    const pool = threadPool(WORKERS);
    const counter = new SharedValue('int32', 0);
    const lock = new Lock({ name: 'counter' });
    const mainSide = (async () => {
      for (let i = 0; i < ROUNDS; i++) {
        await lock.withLock(async () => {
          const seen = counter.value;
          await new Promise((resolve) => setImmediate(resolve));
          counter.value = seen + 1;
        });
      }
    })();
    await Promise.all([
      mainSide,
      pool.run(guardedIncrement, lock, counter, ROUNDS),
      pool.run(guardedIncrement, lock, counter, ROUNDS),
      pool.run(asyncIncrement, lock, counter, ROUNDS),
    ]);
    expect(counter.value).toBe(4 * ROUNDS);
  });
});

describe('Lock', () => {
  it('arrives in a worker as the same live Lock, with its name', async () => {
    const pool = threadPool(1);
    const lock = new Lock({ name: 'accounts' });
    const seen = await pool.run(identify, lock);
    expect(seen).toMatchObject({ isLock: true, isRLock: false, name: 'accounts' });
    // Held by the worker: the main thread sees it locked.
    expect(await pool.run(acquireForMain, lock)).toBe(true);
    expect(lock.locked()).toBe(true);
    expect(lock.heldByThisThread()).toBe(false);
    lock.release(); // any thread may release a Lock, as in Python
    expect(lock.locked()).toBe(false);
  });

  it('tryAcquire takes a free lock only', () => {
    const lock = new Lock();
    expect(lock.tryAcquire()).toBe(true);
    expect(lock.tryAcquire()).toBe(false);
    lock.release();
    expect(lock.tryAcquire()).toBe(true);
    lock.release();
  });

  it('async acquire on the main thread waits for a release without blocking the event loop', async () => {
    const lock = new Lock();
    await lock.acquire();
    let acquired = false;
    const waiting = lock.acquire().then((value) => (acquired = value));
    await new Promise((resolve) => setImmediate(resolve)); // the event loop still turns
    expect(acquired).toBe(false);
    lock.release();
    await waiting;
    expect(acquired).toBe(true);
    lock.release();
  });

  it('`using` a guard releases at the end of the scope, also on throw', async () => {
    const lock = new Lock();
    {
      using held = await lock.guard();
      expect(lock.locked()).toBe(true);
      expect(held).toBeDefined();
    }
    expect(lock.locked()).toBe(false);
    const failing = async (): Promise<void> => {
      await using held = await lock.guard();
      void held;
      throw new Error('inside');
    };
    await expect(failing()).rejects.toThrow('inside');
    expect(lock.locked()).toBe(false);
  });

  it('withLock returns what fn returns and releases when fn throws', async () => {
    const lock = new Lock();
    expect(await lock.withLock(() => 42)).toBe(42);
    await expect(lock.withLock(() => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(lock.locked()).toBe(false);
  });

  it('guard() with a timeout throws SyncTimeoutError when the lock stays held', async () => {
    const lock = new Lock();
    await lock.acquire();
    const error = await lock.guard({ timeout: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncTimeoutError);
    expect((error as SyncTimeoutError).code).toBe('ERR_TANDEM_SYNC_TIMEOUT');
    lock.release();
  });

  it('releasing an unlocked Lock throws LockNotHeldError, here and in a worker', async () => {
    const lock = new Lock({ name: 'idle' });
    expect(() => lock.release()).toThrow(LockNotHeldError);
    const pool = threadPool(1);
    expect(await pool.run(tryRelease, lock)).toMatchObject({ name: 'LockNotHeldError', code: 'ERR_TANDEM_LOCK_NOT_HELD' });
  });

  it('every Sync form throws MainThreadBlockingError on the main thread, even when it would not wait', () => {
    const lock = new Lock();
    const cond = new Condition();
    const queue = new SharedQueue<number>();
    const forms: [string, () => unknown][] = [
      ['Lock.acquireSync', () => lock.acquireSync()],
      ['Lock.guardSync', () => lock.guardSync()],
      ['Lock.withLockSync', () => lock.withLockSync(() => 1)],
      ['RLock.acquireSync', () => new RLock().acquireSync()],
      ['Semaphore.acquireSync', () => new Semaphore(5).acquireSync()],
      ['Event.waitSync', () => new Event().waitSync({ timeout: 0 })],
      ['Condition.waitSync', () => cond.waitSync()],
      ['Condition.waitForSync', () => cond.waitForSync(() => true)],
      ['Barrier.waitSync', () => new Barrier(1).waitSync()],
      ['SharedQueue.putSync', () => queue.putSync(1)],
      ['SharedQueue.getSync', () => queue.getSync()],
    ];
    for (const [name, call] of forms) {
      let error: unknown;
      try {
        call();
      } catch (e) {
        error = e;
      }
      expect(error, name).toBeInstanceOf(MainThreadBlockingError);
      expect((error as MainThreadBlockingError).code, name).toBe('ERR_TANDEM_MAIN_THREAD_BLOCKING');
    }
    expect(lock.locked()).toBe(false);
    expect(queue.size).toBe(0);
  });

  it('a Lock passed to a process pool arrives as a Lock (served by the caller: test/sync/process.test.ts)', async () => {
    const pool = new Pool({ backend: 'process', size: 1 });
    try {
      expect(await pool.run(identify, new Lock({ name: 'across' }))).toMatchObject({ isLock: true, isRLock: false, name: 'across' });
    } finally {
      await pool.terminate();
    }
  });

  it('a raw SharedArrayBuffer passed to a process pool still fails at submit with SerializationError', async () => {
    const pool = new Pool({ backend: 'process', size: 1 });
    try {
      const error = await Promise.resolve()
        .then(() => pool.run(identify, new SharedArrayBuffer(8) as never))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SerializationError);
      expect((error as SerializationError).code).toBe('ERR_TANDEM_SERIALIZATION');
    } finally {
      await pool.terminate();
    }
  });
});
