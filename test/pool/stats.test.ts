// pool.stats(): counters after a known workload, and sane latency and utilisation.
import { afterEach, describe, expect, it } from 'vitest';
import { allBackends, cleanup, makePool, probe, rejection, workerBackends } from '../helpers.js';
import { add, boom, count, gated } from '../fixtures/tasks.mjs';

afterEach(cleanup);

describe.each(allBackends)('stats (%s)', (backend) => {
  it('a new pool reports its backend and size, and zero counters', () => {
    const pool = makePool({ backend, size: 2 });
    const stats = pool.stats();
    expect(stats.backend).toBe(backend);
    expect(stats.size).toBe(2);
    expect(stats).toMatchObject({ busy: 0, queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 });
  });

  it('counts queued, running, completed, failed and cancelled calls of a known workload', async () => {
    const pool = makePool({ backend, size: 1 });
    const gate = probe(backend);
    const blocker = pool.submit(gated, [gate.arg, 'blocker']);
    await gate.untilStarted();
    const queued = [pool.submit(add, [1, 1]), pool.submit(add, [2, 2])];
    const failing = pool.submit(boom, ['x']);
    const cancelled = pool.submit(count, [gate.arg, 'never']);
    let stats = pool.stats();
    expect(stats.running).toBe(1);
    expect(stats.busy).toBe(1);
    expect(stats.queued).toBe(4);
    expect(cancelled.cancel()).toBe(true);
    expect(pool.stats().queued).toBe(3);
    gate.open();
    expect(await blocker).toBe('blocker');
    expect(await Promise.all(queued)).toEqual([2, 4]);
    expect((await rejection(failing)).code).toBe('ERR_TANDEM_TASK');
    stats = pool.stats();
    expect(stats).toMatchObject({ queued: 0, running: 0, busy: 0, completed: 3, failed: 1, cancelled: 1 });
  });

  it('latency percentiles and utilisation are numbers in range', async () => {
    const pool = makePool({ backend, size: 2 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => pool.run(add, i, i)));
    const { latency, utilisation } = pool.stats();
    for (const value of [latency.mean, latency.p50, latency.p90, latency.p99, latency.max]) {
      expect(typeof value).toBe('number');
      expect(Number.isFinite(value)).toBe(true);
      expect(value).toBeGreaterThanOrEqual(0);
    }
    expect(latency.p50).toBeLessThanOrEqual(latency.p90);
    expect(latency.p90).toBeLessThanOrEqual(latency.p99);
    expect(latency.p99).toBeLessThanOrEqual(latency.max);
    expect(latency.mean).toBeLessThanOrEqual(latency.max);
    expect(utilisation).toBeGreaterThanOrEqual(0);
    expect(utilisation).toBeLessThanOrEqual(1);
    expect(pool.stats().completed).toBe(50);
  });
});

describe.each(workerBackends)('stats workers (%s)', (backend) => {
  it('workers counts live workers: size after ready(), 0 after close()', async () => {
    const pool = makePool({ backend, size: 2 });
    await pool.ready();
    expect(pool.stats().workers).toBe(2);
    expect(pool.stats().busy).toBe(0);
    await pool.close();
    expect(pool.stats().workers).toBe(0);
  });
});
