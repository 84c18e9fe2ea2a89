// Barrier: many rounds across workers (and with the main thread), action, breaking and reset.
import { afterEach, describe, expect, it } from 'vitest';
import { Barrier, BrokenBarrierError, SharedArray, SharedValue } from 'tandem';
import { meet } from '../fixtures/sync-classic.mjs';
import { closePools, threadPool } from './pools.js';

afterEach(closePools);

describe('Barrier', () => {
  it('holds 4 workers together over 500 rounds: nobody runs ahead of a round', async () => {
    const parties = 4;
    const rounds = 500;
    const pool = threadPool(parties);
    const barrier = new Barrier(parties);
    const progress = new SharedArray('int32', parties);
    const lagging = new SharedValue('int32', 0);
    const indexes = await Promise.all(
      Array.from({ length: parties }, (_, party) => pool.run(meet, party, barrier, progress, lagging, rounds)),
    );
    expect(lagging.value).toBe(0);
    expect(progress.toArray()).toEqual(Array(parties).fill(rounds));
    for (const seen of indexes) expect(seen).toBeGreaterThanOrEqual(1);
    expect(barrier.nWaiting).toBe(0);
    expect(barrier.broken).toBe(false);
  });

  it('the main thread takes part with async waits, round after round', async () => {
    const pool = threadPool(3);
    const barrier = new Barrier(4);
    const progress = new SharedArray('int32', 4);
    const lagging = new SharedValue('int32', 0);
    const rounds = 100;
    const workers = [0, 1, 2].map((party) => pool.run(meet, party, barrier, progress, lagging, rounds));
    for (let round = 1; round <= rounds; round++) {
      progress.store(3, round);
      await barrier.wait({ timeout: 10_000 });
      for (let other = 0; other < 4; other++) if (progress.load(other) < round) lagging.add(1);
    }
    await Promise.all(workers);
    expect(lagging.value).toBe(0);
  });

  it('each wait gets a different index, and the action runs once per round, in the last to arrive', async () => {
    let actions = 0;
    const barrier = new Barrier(3, { action: () => actions++ });
    for (let round = 0; round < 5; round++) {
      const indexes = await Promise.all([barrier.wait(), barrier.wait(), barrier.wait()]);
      expect(indexes.sort()).toEqual([0, 1, 2]);
    }
    expect(actions).toBe(5);
  });

  it('an action that throws breaks the barrier for everyone', async () => {
    const barrier = new Barrier(2, {
      action: () => {
        throw new Error('action failed');
      },
    });
    const results = await Promise.allSettled([barrier.wait({ timeout: 10_000 }), barrier.wait({ timeout: 10_000 })]);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(BrokenBarrierError);
    }
    expect(barrier.broken).toBe(true);
  });

  it('abort() breaks it for current and later waiters; reset() makes it usable again', async () => {
    const barrier = new Barrier(2);
    const waiting = barrier.wait({ timeout: 10_000 });
    barrier.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_TANDEM_BROKEN_BARRIER' });
    await expect(barrier.wait()).rejects.toBeInstanceOf(BrokenBarrierError);
    barrier.reset();
    expect(barrier.broken).toBe(false);
    expect(await Promise.all([barrier.wait(), barrier.wait()])).toHaveLength(2);
  });
});
