// Condition: producer/consumer over two conditions sharing one lock, waitFor, and wrong use.
import { afterEach, describe, expect, it } from 'vitest';
import { Condition, Lock, LockNotHeldError, RLock, SharedArray } from 'tandem';
import { consume, produce } from '../fixtures/sync-classic.mjs';
import { closePools, threadPool } from './pools.js';

afterEach(closePools);

function boundedBuffer(capacity: number) {
  const lock = new Lock({ name: 'buffer' });
  return {
    notFull: new Condition(lock),
    notEmpty: new Condition(lock),
    slots: new SharedArray('int32', capacity),
    ring: new SharedArray('int32', 3),
  };
}

const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

describe('Condition', () => {
  it('producer/consumer: 2 producers and 2 consumers pass every item exactly once through a 4-slot buffer', async () => {
    const pool = threadPool(4);
    const { notFull, notEmpty, slots, ring } = boundedBuffer(4);
    const items = range(1, 1000);
    const [, , mine, theirs] = await Promise.all([
      pool.run(produce, notFull, notEmpty, slots, ring, items.slice(0, 500)),
      pool.run(produce, notFull, notEmpty, slots, ring, items.slice(500)),
      pool.run(consume, notFull, notEmpty, slots, ring, 500),
      pool.run(consume, notFull, notEmpty, slots, ring, 500),
    ]);
    expect([...mine, ...theirs].sort((a, b) => a - b)).toEqual(items);
    // Each producer's items arrive in the order it produced them.
    for (const got of [mine, theirs]) {
      const fromFirst = got.filter((n: number) => n <= 500);
      expect(fromFirst).toEqual([...fromFirst].sort((a, b) => a - b));
    }
    expect(ring.load(2)).toBe(0);
  });

  it('the main thread consumes with async waits while workers produce', async () => {
    const pool = threadPool(2);
    const { notFull, notEmpty, slots, ring } = boundedBuffer(2);
    const producing = Promise.all([
      pool.run(produce, notFull, notEmpty, slots, ring, range(0, 100)),
      pool.run(produce, notFull, notEmpty, slots, ring, range(100, 100)),
    ]);
    const got: number[] = [];
    while (got.length < 200) {
      await notEmpty.withLock(async () => {
        expect(await notEmpty.waitFor(() => ring.view[2] > 0, { timeout: 10_000 })).toBe(true);
        got.push(slots.view[ring.view[0]]);
        ring.view[0] = (ring.view[0] + 1) % 2;
        ring.view[2]--;
        notFull.notify();
      });
    }
    await producing;
    expect(got.sort((a, b) => a - b)).toEqual(range(0, 200));
  });

  it('wait() releases an RLock held several times and restores its depth', async () => {
    const rlock = new RLock();
    const cond = new Condition(rlock);
    await rlock.acquire();
    await rlock.acquire();
    expect(rlock.depth).toBe(2);
    const waiting = cond.wait({ timeout: 10_000 });
    expect(rlock.locked()).toBe(false); // released while waiting
    await cond.acquire();
    cond.notify();
    cond.release();
    expect(await waiting).toBe(true);
    expect(rlock.depth).toBe(2);
    rlock.release();
    rlock.release();
    expect(rlock.locked()).toBe(false);
  });

  it('notifyAll wakes every waiter', async () => {
    const cond = new Condition();
    let woken = 0;
    let entered = 0;
    let allWaiting!: () => void;
    const waitingNow = new Promise<void>((resolve) => (allWaiting = resolve));
    const waiters = [1, 2, 3].map(() =>
      cond.withLock(async () => {
        const wait = cond.wait({ timeout: 10_000 }); // registered as soon as wait() returns its promise
        if (++entered === 3) allWaiting();
        if (await wait) woken++;
      }),
    );
    await waitingNow;
    await cond.withLock(() => cond.notifyAll());
    await Promise.all(waiters);
    expect(woken).toBe(3);
  });

  it('wait, notify and notifyAll without holding the lock throw LockNotHeldError', async () => {
    const cond = new Condition(new Lock());
    await expect(cond.wait()).rejects.toBeInstanceOf(LockNotHeldError);
    expect(() => cond.notify()).toThrow(LockNotHeldError);
    expect(() => cond.notifyAll()).toThrow(LockNotHeldError);
  });
});
