// Every wait takes a timeout, and every async wait an AbortSignal: they end the wait, never hang it.
import { afterEach, describe, expect, it } from 'vitest';
import {
  Barrier,
  BoundedSemaphore,
  BrokenBarrierError,
  CancelledError,
  Condition,
  Event,
  Lock,
  RLock,
  Semaphore,
  SharedQueue,
  SyncTimeoutError,
} from 'tandem';
import { waitEverything, waitEverythingAsync } from '../fixtures/sync-waits.mjs';
import { closePools, threadPool } from './pools.js';

afterEach(closePools);

const SHORT = 10;

/** One of each primitive in a state where waiting on it cannot succeed (`predicate`: of the condition's waitFor). */
async function stuck() {
  const lock = new Lock({ name: 'held' });
  const rlock = new RLock({ name: 'held r' });
  await lock.acquire();
  await rlock.acquire();
  const bounded = new BoundedSemaphore(1);
  await bounded.acquire();
  const toPut = new SharedQueue<string>({ maxSize: 1 });
  await toPut.put('only');
  return {
    lock,
    rlock,
    semaphore: new Semaphore(0),
    bounded,
    event: new Event(),
    condition: new Condition(),
    predicate: false,
    barrier: new Barrier(2),
    toGet: new SharedQueue<string>(),
    toPut,
  };
}

/** One of each primitive in a state where waiting on it is not needed: free, set, holding a value, with room. */
async function ready() {
  const toGet = new SharedQueue<string>();
  await toGet.put('value');
  const event = new Event();
  event.set();
  return {
    lock: new Lock(),
    rlock: new RLock(),
    semaphore: new Semaphore(1),
    bounded: new BoundedSemaphore(1),
    event,
    condition: new Condition(),
    predicate: true,
    barrier: new Barrier(1),
    toGet,
    toPut: new SharedQueue<string>(),
  };
}

describe('timeouts', () => {
  it('every blocking wait in a worker ends at its timeout', async () => {
    const pool = threadPool(1);
    const p = await stuck();
    const r = await pool.run(waitEverything, p, SHORT);
    for (const name of ['lock', 'rlock', 'semaphore', 'bounded', 'event', 'condition', 'conditionWaitFor'] as const) {
      expect(r[name], name).toEqual({ value: false });
    }
    expect(r.barrier.error).toMatchObject({ name: 'BrokenBarrierError', code: 'ERR_TANDEM_BROKEN_BARRIER' });
    for (const name of ['queueGet', 'queuePut', 'guard', 'withLock'] as const) {
      expect(r[name].error, name).toMatchObject({ name: 'SyncTimeoutError', code: 'ERR_TANDEM_SYNC_TIMEOUT' });
    }
    expect(p.barrier.broken).toBe(true); // a timed-out barrier wait breaks it
  });

  it('every async wait on the main thread ends at its timeout', async () => {
    const p = await stuck();
    const t = { timeout: SHORT };
    // The main thread holds the locks; a second flow on it waits for them.
    expect(await p.lock.acquire(t)).toBe(false);
    expect(await p.semaphore.acquire(t)).toBe(false);
    expect(await p.event.wait(t)).toBe(false);
    await p.condition.acquire();
    expect(await p.condition.wait(t)).toBe(false);
    expect(p.condition.lock.heldByThisThread()).toBe(true); // held again after the wait
    p.condition.release();
    await expect(p.barrier.wait(t)).rejects.toBeInstanceOf(BrokenBarrierError);
    await expect(p.toGet.get(t)).rejects.toBeInstanceOf(SyncTimeoutError);
    await expect(p.toPut.put('more', t)).rejects.toBeInstanceOf(SyncTimeoutError);
    await expect(p.lock.guard(t)).rejects.toBeInstanceOf(SyncTimeoutError);
  });

  it('a timeout of 0 only tries', async () => {
    const lock = new Lock();
    expect(await lock.acquire({ timeout: 0 })).toBe(true);
    expect(await lock.acquire({ timeout: 0 })).toBe(false);
    lock.release();
  });

  it('a negative or NaN timeout is an InvalidOptionError naming it, even where no wait is needed (async forms)', async () => {
    for (const timeout of [-100, NaN]) {
      const p = await ready();
      const r = await waitEverythingAsync(p, timeout);
      for (const [name, outcome] of Object.entries(r)) {
        expect({ name, outcome }, `${name} (async) with timeout ${timeout}`).toMatchObject({
          name,
          outcome: { error: { name: 'InvalidOptionError', code: 'ERR_TANDEM_INVALID_OPTION', option: 'timeout' } },
        });
      }
      expect(p.lock.locked()).toBe(false); // refused, not taken
      expect(p.semaphore.value).toBe(1);
    }
  });

  it('a negative or NaN timeout is an InvalidOptionError naming it, even where no wait is needed (blocking forms)', async () => {
    const pool = threadPool(1);
    for (const timeout of [-100, NaN]) {
      const p = await ready();
      const r = await pool.run(waitEverything, p, timeout);
      for (const [name, outcome] of Object.entries(r)) {
        expect({ name, outcome }, `${name} (blocking) with timeout ${timeout}`).toMatchObject({
          name,
          outcome: { error: { name: 'InvalidOptionError', code: 'ERR_TANDEM_INVALID_OPTION', option: 'timeout' } },
        });
      }
    }
  });
});

describe('cancellation', () => {
  it('aborting the signal ends every async wait with CancelledError', async () => {
    const p = await stuck();
    const controller = new AbortController();
    const signal = controller.signal;
    await p.condition.acquire();
    const waits: Promise<unknown>[] = [
      p.lock.acquire({ signal }),
      p.semaphore.acquire({ signal }),
      p.event.wait({ signal }),
      p.condition.wait({ signal }),
      p.barrier.wait({ signal }),
      p.toGet.get({ signal }),
      p.toPut.put('more', { signal }),
    ];
    controller.abort(new Error('user gave up'));
    const results = await Promise.allSettled(waits);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      const reason = (result as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(CancelledError);
      expect(reason.code).toBe('ERR_TANDEM_CANCELLED');
      expect(reason.cause).toMatchObject({ message: 'user gave up' });
    }
    expect(p.condition.lock.heldByThisThread()).toBe(true); // a cancelled condition wait holds the lock again
    p.condition.release();
    expect(p.barrier.broken).toBe(true); // a party gave up: the others must not wait for it
  });

  it('an already aborted signal fails before waiting', async () => {
    const lock = new Lock();
    await lock.acquire();
    await expect(lock.acquire({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CancelledError);
    lock.release();
  });

  it('a cancelled waiter does not swallow the wake-up meant for the next one', async () => {
    for (const make of [() => new Lock(), () => new Semaphore(1)]) {
      const primitive = make();
      await primitive.acquire();
      const controller = new AbortController();
      const cancelled = primitive.acquire({ signal: controller.signal });
      const next = primitive.acquire({ timeout: 10_000 });
      controller.abort();
      await expect(cancelled).rejects.toBeInstanceOf(CancelledError);
      primitive.release();
      expect(await next).toBe(true);
      primitive.release();
    }
  });
});
