// Event: a flag workers and the main thread wait for.
import { afterEach, describe, expect, it } from 'vitest';
import { Event, RLock, encodeShared } from 'tandem';
import { holdUntil } from '../fixtures/sync-locks.mjs';
import { waitForEvent } from '../fixtures/sync-semantics.mjs';
import { eventually } from '../helpers.js';
import { closePools, syncBackends, syncPool } from './pools.js';

afterEach(closePools);

describe('Event', () => {
  it('wait() on a set event returns true at once', async () => {
    const event = new Event();
    event.set();
    expect(event.isSet()).toBe(true);
    expect(await event.wait({ timeout: 0 })).toBe(true);
  });

  it('a waiter woken by set() returns true even if clear() follows at once (main thread)', async () => {
    const event = new Event();
    const waits = [event.wait({ timeout: 10_000 }), event.wait({ timeout: 10_000 })];
    event.set();
    event.clear();
    expect(await Promise.all(waits)).toEqual([true, true]);
  });
});

describe.each(syncBackends)('Event with %s workers', (backend) => {
  it('set() wakes waiters in workers and on the main thread; clear() makes waits block again', async () => {
    const pool = syncPool(backend, 2);
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

  it('a waiter woken by set() returns true even if clear() follows at once (workers: waitSync and wait)', async () => {
    const pool = syncPool(backend, 4);
    const event = new Event();
    const waits = [true, true, false, false].map((sync) => pool.run(waitForEvent, event, sync));
    // Atomics.notify counts the threads and flows asleep on the event's word; the
    // spurious wake-up it gives them is harmless (waits re-check and sleep again).
    // Once all four sleep, each has seen the flag clear before the set() below.
    const word = new Int32Array(event[encodeShared]().state as SharedArrayBuffer);
    await eventually(() => Atomics.notify(word, 0) === 4, 'the four waiters to sleep on the event');
    event.set();
    event.clear();
    expect(await Promise.all(waits)).toEqual([true, true, true, true]);
  });
});
