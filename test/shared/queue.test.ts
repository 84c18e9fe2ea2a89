// SharedQueue: producers and consumers across workers and the main thread, bounds, close, iteration.
import { afterEach, describe, expect, it } from 'vitest';
import { QueueClosedError, SerializationError, SharedQueue } from 'tandem';
import { consumeAll, consumeAsync, echoBack, produceInto } from '../fixtures/sync-shared.mjs';
import { closePools, syncBackends, syncPool } from '../sync/pools.js';

afterEach(closePools);

interface Item {
  producer: number;
  i: number;
  text: string;
  at: Date;
  tags: Set<number>;
}

describe('SharedQueue', () => {
  it('close(): put throws at once, get drains what is left and then throws', async () => {
    const queue = new SharedQueue<number>();
    await queue.put(1);
    queue.close();
    expect(queue.closed).toBe(true);
    await expect(queue.put(2)).rejects.toBeInstanceOf(QueueClosedError);
    expect(await queue.get()).toBe(1);
    await expect(queue.get()).rejects.toMatchObject({ code: 'ERR_TANDEM_QUEUE_CLOSED' });
  });

  it('close() wakes a waiting getter', async () => {
    const queue = new SharedQueue<number>();
    const waiting = queue.get({ timeout: 10_000 });
    queue.close();
    await expect(waiting).rejects.toBeInstanceOf(QueueClosedError);
  });

  it('values that cannot be cloned, or do not fit, fail with SerializationError', async () => {
    const queue = new SharedQueue<unknown>({ byteLength: 64 });
    await expect(queue.put(() => 1)).rejects.toBeInstanceOf(SerializationError);
    await expect(queue.put('x'.repeat(100))).rejects.toMatchObject({ code: 'ERR_TANDEM_SERIALIZATION' });
    expect(queue.size).toBe(0);
  });

  it('gives back exactly what structured clone would, for plain and other values', async () => {
    const shared = { n: 1 };
    // biome-ignore lint/suspicious/noSparseArray: a hole is one of the values under test
    const sparse = [1, , 3];
    const values: unknown[] = [
      42,
      -0,
      NaN,
      1.5,
      2 ** 40,
      -(2 ** 31),
      '',
      'héllo',
      '\ud800 lone surrogate',
      'x'.repeat(5_000),
      true,
      false,
      null,
      undefined,
      { id: 7, name: 'job', nested: { list: [1, 'a', null, undefined, { z: -0 }] } },
      sparse,
      Object.assign([1, 2], { extra: 'kept' }),
      { a: shared, b: shared },
      new Date(5),
      new Map([[1, { m: 2 }]]),
      new Set(['s']),
      10n,
      new Uint8Array([1, 2, 3]),
      JSON.parse('{"__proto__": 5}'),
      Object.create(null),
      /re/g,
    ];
    const queue = new SharedQueue<unknown>({ byteLength: 1 << 16 });
    for (const value of values) {
      await queue.put(value);
      const got = await queue.get();
      const expected = structuredClone(value);
      expect(got, String(typeof value)).toStrictEqual(expected);
      if (typeof value === 'number') expect(Object.is(got, value)).toBe(true);
      if (value && typeof value === 'object') expect(Object.getPrototypeOf(got)).toBe(Object.getPrototypeOf(expected));
    }
    const [again] = await Promise.all([queue.get(), queue.put({ a: shared, b: shared })]);
    const twice = again as { a: object; b: object };
    expect(twice.a).toBe(twice.b); // shared references stay shared
    const [holey] = await Promise.all([queue.get(), queue.put(sparse)]);
    expect(1 in (holey as unknown[])).toBe(false); // holes stay holes
  });

  it('tryGet takes a value only if one is there', async () => {
    const queue = new SharedQueue<string>();
    expect(queue.tryGet()).toBeUndefined();
    await queue.put('a');
    expect(queue.tryGet()).toEqual({ value: 'a' });
  });
});

describe.each(syncBackends)('SharedQueue with %s workers', (backend) => {
  it('2 producers and 2 consumers in workers pass every value exactly once, in order per producer', async () => {
    const pool = syncPool(backend, 4);
    // Small on purpose: the ring wraps and fills, so producers wait for room.
    const queue = new SharedQueue<Item>({ byteLength: 1024 });
    const count = 2_000;
    const consumers = [pool.run(consumeAll, queue), pool.run(consumeAll, queue)];
    expect(await Promise.all([pool.run(produceInto, queue, 0, count), pool.run(produceInto, queue, 1, count)])).toEqual([true, true]);
    queue.close();
    const results: { got: Item[] }[] = await Promise.all(consumers);
    const all = results.flatMap((r) => r.got);
    expect(all).toHaveLength(2 * count);
    for (const producer of [0, 1]) {
      const mine = all.filter((item) => item.producer === producer).map((item) => item.i);
      expect(new Set(mine).size).toBe(count);
      for (const { got } of results) {
        const seq = got.filter((item) => item.producer === producer).map((item) => item.i);
        expect(seq).toEqual([...seq].sort((a, b) => a - b));
      }
    }
    // Structured-clone types survive the trip.
    expect(all[0].at).toBeInstanceOf(Date);
    expect(all[0].tags).toBeInstanceOf(Set);
    expect(queue.size).toBe(0);
  });

  it('the main thread produces with async put into a bounded queue, a worker consumes with for await', async () => {
    const pool = syncPool(backend, 1);
    const queue = new SharedQueue<number>({ maxSize: 3 });
    const consumer = pool.run(consumeAsync, queue);
    for (let i = 0; i < 500; i++) await queue.put(i, { timeout: 10_000 });
    queue.close();
    expect(await consumer).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  it('the main thread consumes with for await while a worker produces', async () => {
    const pool = syncPool(backend, 1);
    const queue = new SharedQueue<Item>({ byteLength: 512 });
    const producing = pool.run(produceInto, queue, 7, 300).then(() => queue.close());
    const got: number[] = [];
    for await (const item of queue) got.push(item.i);
    await producing;
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it('round trips between the main thread and a worker, request by request', async () => {
    const pool = syncPool(backend, 1);
    const requests = new SharedQueue<string>();
    const replies = new SharedQueue<string>();
    const worker = pool.run(echoBack, requests, replies, 100);
    for (let i = 0; i < 100; i++) {
      await requests.put(`ping ${i}`);
      expect(await replies.get({ timeout: 10_000 })).toBe(`ping ${i}`);
    }
    await worker;
  });
});
