// Event: a flag workers and the main thread wait for.
import { afterEach, describe, expect, it } from 'vitest';
import { Event, RLock } from 'tandem';
import { holdUntil } from '../fixtures/sync-locks.mjs';
import { closePools, threadPool } from './pools.js';

afterEach(closePools);

describe('Event', () => {
  it('set() wakes waiters in workers and on the main thread; clear() makes waits block again', async () => {
    const pool = threadPool(2);
    const held = new Event();
    const go = new Event();
    const rlock = new RLock();
    const worker = pool.run(holdUntil, rlock, held, go);
    expect(await held.wait({ timeout: 10_000 })).toBe(true); // set by the worker
    expect(rlock.locked()).toBe(true);
    go.set(); // wakes the worker's waitSync
    await worker;
    expect(rlock.locked()).toBe(false);
    go.clear();
    expect(go.isSet()).toBe(false);
    expect(await go.wait({ timeout: 5 })).toBe(false);
  });

  it('wait() on a set event returns true at once', async () => {
    const event = new Event();
    event.set();
    expect(event.isSet()).toBe(true);
    expect(await event.wait({ timeout: 0 })).toBe(true);
  });
});
