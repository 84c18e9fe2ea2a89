// RLock: re-entry by its owner, release by a non-owner is an error.
import { afterEach, describe, expect, it } from 'vitest';
import { Event, LockNotHeldError, RLock } from 'tandem';
import { holdUntil, identify, reenter, tryRelease } from '../fixtures/sync-locks.mjs';
import { closePools, syncBackends, syncPool } from './pools.js';

afterEach(closePools);

describe('RLock', () => {
  it('its owner re-enters it on the main thread; the last release frees it', async () => {
    const rlock = new RLock();
    expect(await rlock.acquire()).toBe(true);
    expect(rlock.tryAcquire()).toBe(true);
    expect(await rlock.acquire({ timeout: 0 })).toBe(true);
    expect(rlock.depth).toBe(3);
    expect(rlock.ownerThreadId).toBe(0); // the main thread
    rlock.release();
    rlock.release();
    expect(rlock.locked()).toBe(true);
    rlock.release();
    expect(rlock.locked()).toBe(false);
    expect(rlock.ownerThreadId).toBeNull();
  });
});

describe.each(syncBackends)('RLock with %s workers', (backend) => {
  it('its owner re-enters it, counting depth, in a worker', async () => {
    const pool = syncPool(backend, 1);
    const rlock = new RLock({ name: 'tree' });
    expect(await pool.run(identify, rlock)).toMatchObject({ isRLock: true, isLock: false, name: 'tree' });
    expect(await pool.run(reenter, rlock, 3)).toEqual({ depths: [1, 2, 3], lockedAfter: false });
  });

  it('released by a thread that does not hold it: LockNotHeldError, and it stays held', async () => {
    const pool = syncPool(backend, 2);
    const rlock = new RLock({ name: 'owned' });
    await rlock.acquire(); // main holds it
    expect(await pool.run(tryRelease, rlock)).toMatchObject({ name: 'LockNotHeldError', code: 'ERR_TANDEM_LOCK_NOT_HELD' });
    expect(rlock.heldByThisThread()).toBe(true);
    rlock.release();

    // Held by a worker: the main thread may not release it either.
    const held = new Event();
    const go = new Event();
    const worker = pool.run(holdUntil, rlock, held, go);
    await held.wait({ timeout: 10_000 });
    expect(rlock.ownerThreadId).toBeGreaterThan(0); // a worker
    expect(() => rlock.release()).toThrow(LockNotHeldError);
    expect(rlock.locked()).toBe(true);
    go.set();
    await worker;
    expect(rlock.locked()).toBe(false);
  });

  it('waits while another thread holds it', async () => {
    const pool = syncPool(backend, 1);
    const rlock = new RLock();
    const held = new Event();
    const go = new Event();
    const worker = pool.run(holdUntil, rlock, held, go);
    await held.wait({ timeout: 10_000 });
    expect(await rlock.acquire({ timeout: 0 })).toBe(false);
    const waiting = rlock.acquire({ timeout: 10_000 });
    go.set();
    expect(await waiting).toBe(true);
    expect(rlock.depth).toBe(1);
    rlock.release();
    await worker;
  });
});
