// Barrier: many rounds across workers (and with the main thread), action, breaking and reset.
import { afterEach, describe, expect, it } from 'vitest';
import { Barrier, BrokenBarrierError, SharedArray, SharedValue } from 'tandem';
import { meet } from '../fixtures/sync-classic.mjs';
import { barrierWait, meetThroughResets } from '../fixtures/sync-semantics.mjs';
import { eventually } from '../helpers.js';
import { closePools, syncBackends, syncPool, threadPool } from './pools.js';

afterEach(closePools);

/** `parties` workers that each run `rounds` rounds of `rounder` (a task of sync-classic or sync-semantics) at one barrier. */
function meeting(rounder: typeof meet | typeof meetThroughResets, parties: number, rounds: number, pool = threadPool(parties)) {
  const barrier = new Barrier(parties);
  const progress = new SharedArray('int32', parties);
  const lagging = new SharedValue('int32', 0);
  const running = Promise.all(Array.from({ length: parties }, (_, party) => pool.run(rounder, party, barrier, progress, lagging, rounds)));
  return { barrier, progress, lagging, running };
}

describe('Barrier', () => {
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

  it('reset(): the waiters of that moment get BrokenBarrierError, later arrivals use the fresh barrier (main thread)', async () => {
    const barrier = new Barrier(3);
    const waiting = [barrier.wait({ timeout: 10_000 }), barrier.wait({ timeout: 10_000 })];
    barrier.reset();
    const outcomes = await Promise.allSettled(waiting);
    for (const outcome of outcomes) expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(BrokenBarrierError);
    expect(barrier.broken).toBe(false);
    expect(barrier.nWaiting).toBe(0);
    expect((await Promise.all([barrier.wait(), barrier.wait(), barrier.wait()])).sort()).toEqual([0, 1, 2]);
  });

  it('resets faster than waiters wake: each waiter still learns how its own round ended', async () => {
    // Each of the first waits is alone in a round that reset() ends before it
    // runs again; the barrier keeps the outcome of a round until all its waiters
    // have read it (arrivals wait for a free round if too many are kept).
    const barrier = new Barrier(2);
    const waits: Promise<number>[] = [];
    for (let i = 0; i < 100; i++) {
      waits.push(barrier.wait({ timeout: 10_000 }));
      barrier.reset();
    }
    const outcomes = await Promise.allSettled(waits);
    const broken = outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof BrokenBarrierError).length;
    const passed = outcomes.filter((o) => o.status === 'fulfilled').length;
    // Waits that got into a round before its reset broke; those that had to wait for a round met in pairs.
    expect(broken + passed).toBe(100);
    expect((outcomes[0] as PromiseRejectedResult).reason).toBeInstanceOf(BrokenBarrierError); // surely in a round at a reset
    expect(passed % 2).toBe(0);
    expect(barrier.broken).toBe(false);
    expect(barrier.nWaiting).toBe(0);
  });

  it('resets racing with rounds in 3 workers: no party ever passes a round alone', { timeout: 60_000 }, async () => {
    const rounds = 1_000;
    const { barrier, progress, lagging, running } = meeting(meetThroughResets, 3, rounds);
    let finished = false;
    const finish = (): void => void (finished = true);
    running.then(finish, finish);
    await eventually(() => progress.toArray().every((round) => round > 0), 'every party to start its rounds');
    for (let resets = 0; resets < 10_000 && !finished; resets++) {
      barrier.reset();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await running;
    expect(lagging.value).toBe(0);
    expect(progress.toArray()).toEqual([rounds, rounds, rounds]);
  });
});

describe.each(syncBackends)('Barrier with %s workers', (backend) => {
  it('holds 4 workers together over many rounds: nobody runs ahead of a round', async () => {
    const parties = 4;
    // Each wait from a process is a round trip to the caller: fewer rounds there.
    const rounds = backend === 'process' ? 100 : 500;
    const { barrier, progress, lagging, running } = meeting(meet, parties, rounds, syncPool(backend, parties));
    const indexes = await running;
    expect(lagging.value).toBe(0);
    expect(progress.toArray()).toEqual(Array(parties).fill(rounds));
    for (const seen of indexes) expect(seen).toBeGreaterThanOrEqual(1);
    expect(barrier.nWaiting).toBe(0);
    expect(barrier.broken).toBe(false);
  });

  it('the main thread takes part with async waits, round after round', async () => {
    const pool = syncPool(backend, 3);
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

  it('reset(): the waiters of that moment get BrokenBarrierError, later arrivals use the fresh barrier (workers)', async () => {
    const pool = syncPool(backend, 4);
    const barrier = new Barrier(3);
    const before = [pool.run(barrierWait, barrier), pool.run(barrierWait, barrier)];
    await eventually(() => barrier.nWaiting === 2, 'two workers to wait at the barrier');
    barrier.reset();
    expect(await Promise.all(before)).toEqual(['BrokenBarrierError', 'BrokenBarrierError']);
    const after = [pool.run(barrierWait, barrier), pool.run(barrierWait, barrier)];
    await eventually(() => barrier.nWaiting === 2, 'two workers to wait at the fresh barrier');
    const mine = await barrier.wait({ timeout: 10_000 });
    expect([mine, ...(await Promise.all(after))].sort()).toEqual([0, 1, 2]);
  });
});
