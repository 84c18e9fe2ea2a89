import { afterEach, describe, expect, it } from 'vitest';
import { allBackends, cleanup, makePool } from './helpers.js';
import { add, asyncDouble, echo, fib, square } from './fixtures/tasks.mjs';
import { triple } from './fixtures/cjs-tasks.cjs';

afterEach(cleanup);

describe.each(allBackends)('results on the %s backend', (backend) => {
  it('run, submit and starmap return what the task returns', async () => {
    const pool = makePool({ backend, size: 2 });
    expect(await pool.run(add, 2, 3)).toBe(5);
    const future = pool.submit(fib, [20]);
    expect(await future).toBe(6765);
    expect(future.state).toBe('fulfilled');
    expect(await pool.starmap(add, [[1, 2], [3, 4], [5, 6]])).toEqual([3, 7, 11]);
    expect(await pool.run(asyncDouble, 21)).toBe(42);
  });

  it('keeps structured-clone types of arguments and results', async () => {
    const pool = makePool({ backend, size: 1 });
    const value = { when: new Date(0), tags: new Set(['a']), map: new Map([[1, 'one']]), big: 10n ** 20n, bytes: new Uint8Array([1, 2]) };
    expect(await pool.run(echo, value)).toEqual(value);
  });

  it.each([1, 7, 'auto'] as const)('map keeps input order with chunksize %s', async (chunksize) => {
    const pool = makePool({ backend, size: 2 });
    const input = Array.from({ length: 500 }, (_, i) => i);
    expect(await pool.map(square, input, { chunksize })).toEqual(input.map((n) => n * n));
  });

  it('map takes any iterable, and an empty one gives []', async () => {
    const pool = makePool({ backend, size: 2 });
    expect(await pool.map(square, new Set([1, 2, 3]))).toEqual([1, 4, 9]);
    expect(await pool.map(square, [])).toEqual([]);
  });

  it('many submits in one tick all resolve with their own result', async () => {
    const pool = makePool({ backend, size: 2 });
    const futures = Array.from({ length: 2000 }, (_, i) => pool.submit(square, [i]));
    const results = await Promise.all(futures);
    expect(results.every((r, i) => r === i * i)).toBe(true);
  });

  it('imap yields in order, or as completed when unordered', async () => {
    const pool = makePool({ backend, size: 2 });
    const ordered: number[] = [];
    for await (const r of pool.imap(square, [1, 2, 3, 4, 5], { chunksize: 2 })) ordered.push(r);
    expect(ordered).toEqual([1, 4, 9, 16, 25]);
    const unordered: number[] = [];
    async function* numbers() {
      for (let i = 0; i < 50; i++) yield i;
    }
    for await (const r of pool.imap(square, numbers(), { ordered: false })) unordered.push(r);
    expect(unordered.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i * i));
  });

  it('runs a self-contained plain function sent as source', async () => {
    const pool = makePool({ backend, size: 1 });
    expect(await pool.run((x: number) => x * 2, 21)).toBe(42);
    expect(await pool.map(function inc(n: number) { return n + 1; }, [1, 2])).toEqual([2, 3]);
  });

  it('runs a task from a CommonJS module (task(__filename, fn))', async () => {
    const pool = makePool({ backend, size: 1 });
    expect(await pool.run(triple, 5)).toBe(15);
  });

  it('runs higher priority first among queued calls', async () => {
    const pool = makePool({ backend, size: 1, concurrencyPerWorker: 1 });
    const order: string[] = [];
    const low = pool.submit(echo, ['low'], { priority: -1 }).then((v) => order.push(v));
    const normal = pool.submit(echo, ['normal']).then((v) => order.push(v));
    const high = pool.submit(echo, ['high'], { priority: 5 }).then((v) => order.push(v));
    await Promise.all([low, normal, high]);
    expect(order).toEqual(['high', 'normal', 'low']);
  });

  it('counts completed and failed calls in stats()', async () => {
    const pool = makePool({ backend, size: 2 });
    await Promise.all([pool.run(add, 1, 1), pool.run(add, 2, 2), pool.run(add, 3, 3)]);
    await pool.run(() => { throw new Error('x'); }).catch(() => {});
    const stats = pool.stats();
    expect(stats.backend).toBe(backend);
    expect(stats.completed).toBe(3);
    expect(stats.failed).toBe(1);
    expect(stats.queued).toBe(0);
    expect(stats.running).toBe(0);
    expect(stats.latency.p50).toBeGreaterThan(0);
    expect(stats.latency.max).toBeGreaterThanOrEqual(stats.latency.p99);
    expect(stats.utilisation).toBeGreaterThanOrEqual(0);
    expect(stats.utilisation).toBeLessThanOrEqual(1);
  });
});
