// What calls return, and in which order: run, submit, map, starmap, imap.
import { afterEach, describe, expect, it } from 'vitest';
import { Future } from 'tandem';
import { allBackends, cleanup, makePool, probe } from '../helpers.js';
import { add, asyncDouble, echo, fib, gated, square } from '../fixtures/tasks.mjs';

afterEach(cleanup);

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const value of iterable) out.push(value);
  return out;
}

async function* fromAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) {
    await new Promise((resolve) => setImmediate(resolve));
    yield item;
  }
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const squares = (n: number): number[] => range(n).map((i) => i * i);

describe.each(allBackends)('results on the %s backend', (backend) => {
  it('run resolves with what the task returns, sync or async', async () => {
    const pool = makePool({ backend, size: 2 });
    expect(await pool.run(add, 2, 3)).toBe(5);
    expect(await pool.run(fib, 20)).toBe(6765);
    expect(await pool.run(asyncDouble, 21)).toBe(42);
  });

  it('submit returns a Future that resolves with the result', async () => {
    const pool = makePool({ backend, size: 2 });
    const future = pool.submit(fib, [20]);
    expect(future).toBeInstanceOf(Future);
    expect(future).toBeInstanceOf(Promise);
    expect(typeof future.id).toBe('number');
    expect(await future).toBe(6765);
    expect(future.state).toBe('fulfilled');
    expect(future.done()).toBe(true);
    const other = pool.submit(add, [1, 1]);
    expect(other.id).not.toBe(future.id);
    expect(await other).toBe(2);
  });

  it('keeps structured-clone types of arguments and results', async () => {
    const pool = makePool({ backend, size: 1 });
    const value = {
      when: new Date(0),
      tags: new Set(['a']),
      map: new Map([[1, 'one']]),
      big: 10n ** 20n,
      bytes: new Uint8Array([1, 2]),
      nested: [{ deep: [null, undefined, -0, Number.NaN] }],
    };
    expect(await pool.run(echo, value)).toEqual(value);
  });

  it('many submits in one tick each resolve with their own result', async () => {
    const pool = makePool({ backend, size: 2 });
    const futures = range(2000).map((i) => pool.submit(square, [i]));
    expect(await Promise.all(futures)).toEqual(squares(2000));
  });

  it.each([1, 7, 'auto'] as const)('map keeps input order with chunksize %s', async (chunksize) => {
    const pool = makePool({ backend, size: 2 });
    expect(await pool.map(square, range(500), { chunksize })).toEqual(squares(500));
    // A length that is not a multiple of the chunk size.
    expect(await pool.map(square, range(23), { chunksize })).toEqual(squares(23));
  });

  it('map takes any iterable (a Set, a generator)', async () => {
    const pool = makePool({ backend, size: 2 });
    expect(await pool.map(square, new Set([1, 2, 3]))).toEqual([1, 4, 9]);
    function* numbers(): Generator<number> {
      for (let i = 0; i < 30; i++) yield i;
    }
    expect(await pool.map(square, numbers())).toEqual(squares(30));
  });

  it.each([1, 7, 'auto'] as const)('starmap spreads each item as the arguments (chunksize %s)', async (chunksize) => {
    const pool = makePool({ backend, size: 2 });
    const pairs = range(100).map((i): [number, number] => [i, 2 * i]);
    expect(await pool.starmap(add, pairs, { chunksize })).toEqual(range(100).map((i) => 3 * i));
  });

  it.each([1, 7, 'auto'] as const)('imap yields in input order by default (chunksize %s)', async (chunksize) => {
    const pool = makePool({ backend, size: 2 });
    expect(await collect(pool.imap(square, range(100), { chunksize }))).toEqual(squares(100));
    expect(await collect(pool.imap(square, fromAsync(range(40)), { chunksize }))).toEqual(squares(40));
  });

  it.each([1, 7, 'auto'] as const)('imap with ordered: false yields every result once (chunksize %s)', async (chunksize) => {
    const pool = makePool({ backend, size: 2 });
    const fromArray = await collect(pool.imap(square, range(100), { ordered: false, chunksize }));
    expect(fromArray.sort((a, b) => a - b)).toEqual(squares(100));
    const fromAsyncInput = await collect(pool.imap(square, fromAsync(range(40)), { ordered: false, chunksize }));
    expect(fromAsyncInput.sort((a, b) => a - b)).toEqual(squares(40));
  });

  it('empty input gives [] from map and starmap, and nothing from imap', async () => {
    const pool = makePool({ backend, size: 2 });
    expect(await pool.map(square, [])).toEqual([]);
    expect(await pool.starmap(add, [])).toEqual([]);
    expect(await collect(pool.imap(square, []))).toEqual([]);
    expect(await collect(pool.imap(square, fromAsync([]), { ordered: false }))).toEqual([]);
    expect(pool.stats().failed).toBe(0);
  });

  it('runs higher priority first among queued calls, equal priorities in order', async () => {
    const pool = makePool({ backend, size: 1, concurrencyPerWorker: 1 });
    const gate = probe(backend);
    // The only worker is busy, so the calls below wait in the queue together.
    const blocker = pool.submit(gated, [gate.arg, 'blocker']);
    await gate.untilStarted();
    const order: string[] = [];
    const note = (value: unknown): void => void order.push(String(value));
    const calls = [
      pool.submit(echo, ['low'], { priority: -1 }).then(note),
      pool.submit(echo, ['normal-1']).then(note),
      pool.submit(echo, ['high'], { priority: 5 }).then(note),
      pool.submit(echo, ['normal-2']).then(note),
    ];
    gate.open();
    expect(await blocker).toBe('blocker');
    await Promise.all(calls);
    expect(order).toEqual(['high', 'normal-1', 'normal-2', 'low']);
  });
});
