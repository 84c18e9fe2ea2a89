// Semaphore and BoundedSemaphore: dining philosophers across 5 workers, permits, over-release.
import { afterEach, describe, expect, it } from 'vitest';
import { BoundedSemaphore, Semaphore, SemaphoreOverReleaseError, SharedArray, SharedValue } from 'tandem';
import { dine } from '../fixtures/sync-classic.mjs';
import { closePools, syncBackends, syncPool } from './pools.js';

afterEach(closePools);

describe('Semaphore', () => {
  it('counts permits: acquire takes one, release(n) gives n back and wakes waiters', async () => {
    const semaphore = new Semaphore(2);
    expect(await semaphore.acquire()).toBe(true);
    expect(semaphore.tryAcquire()).toBe(true);
    expect(semaphore.tryAcquire()).toBe(false);
    const waiters = [semaphore.acquire({ timeout: 10_000 }), semaphore.acquire({ timeout: 10_000 })];
    semaphore.release(2);
    expect(await Promise.all(waiters)).toEqual([true, true]);
    expect(semaphore.value).toBe(0);
    semaphore.release(2);
    expect(semaphore.value).toBe(2);
  });

  it('withLock holds a permit while fn runs', async () => {
    const semaphore = new Semaphore(1);
    expect(await semaphore.withLock(() => semaphore.value)).toBe(0);
    expect(semaphore.value).toBe(1);
  });

  it('a plain Semaphore may be released past its initial value', () => {
    const semaphore = new Semaphore(1);
    semaphore.release();
    expect(semaphore.value).toBe(2);
  });

  it('a BoundedSemaphore released more than acquired throws SemaphoreOverReleaseError', async () => {
    const semaphore = new BoundedSemaphore(2);
    await semaphore.acquire();
    semaphore.release();
    let error: unknown;
    try {
      semaphore.release();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SemaphoreOverReleaseError);
    expect((error as SemaphoreOverReleaseError).code).toBe('ERR_TANDEM_SEMAPHORE_OVER_RELEASE');
    expect(semaphore.value).toBe(2);
  });
});

describe.each(syncBackends)('Semaphore with %s workers', (backend) => {
  it('dining philosophers: 5 workers share 5 forks, never two neighbours eat at once, all eat every meal', async () => {
    const philosophers = 5;
    // Each acquire and release from a process is a round trip to the caller: fewer rounds there.
    const rounds = backend === 'process' ? 50 : 200;
    const pool = syncPool(backend, philosophers);
    const forks = Array.from({ length: philosophers }, (_, i) => new Semaphore(1, { name: `fork ${i}` }));
    const footman = new Semaphore(philosophers - 1, { name: 'footman' });
    const eating = new SharedArray('int32', philosophers);
    const meals = new SharedArray('int32', philosophers);
    const clashes = new SharedValue('int32', 0);
    await Promise.all(
      Array.from({ length: philosophers }, (_, seat) => pool.run(dine, seat, footman, forks, eating, meals, clashes, rounds)),
    );
    expect(meals.toArray()).toEqual(Array(philosophers).fill(rounds));
    expect(clashes.value).toBe(0);
    expect(forks.map((fork) => fork.value)).toEqual(Array(philosophers).fill(1));
    expect(footman.value).toBe(philosophers - 1);
  });
});
