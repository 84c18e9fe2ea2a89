// SharedValue and SharedArray: atomic updates from 4 workers, every element type.
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, Pool, SharedArray, SharedValue } from 'tandem';
import { addMany, addToEach, casIncrement } from '../fixtures/sync-shared.mjs';
import { closePools, syncBackends, syncPool } from '../sync/pools.js';

afterEach(closePools);

describe('SharedValue', () => {
  it('add, sub and exchange return the value before, like Atomics', () => {
    const value = new SharedValue('float64', 1.5);
    expect(value.add(1)).toBe(1.5);
    expect(value.sub(0.5)).toBe(2.5);
    expect(value.exchange(7)).toBe(2);
    expect(value.value).toBe(7);
    const small = new SharedValue('uint8', 255);
    expect(small.add(1)).toBe(255);
    expect(small.value).toBe(0); // wraps like a Uint8Array
  });

  it('an unknown type is an InvalidOptionError', () => {
    expect(() => new SharedValue('float32' as never)).toThrow(InvalidOptionError);
  });
});

describe('SharedArray', () => {
  it('starts from given values and reads them back atomically', () => {
    const array = new SharedArray('float64', [0.25, 1, -3]);
    expect(array.length).toBe(3);
    expect([...array]).toEqual([0.25, 1, -3]);
    expect(array.compareExchange(2, -3, 4)).toBe(-3);
    expect(array.load(2)).toBe(4);
    array.store(0, 9);
    expect(array.view[0]).toBe(9);
  });

  it('an index out of range is an InvalidOptionError', () => {
    const array = new SharedArray('int16', 2);
    expect(() => array.load(2)).toThrow(InvalidOptionError);
    expect(() => array.add(-1, 1)).toThrow(InvalidOptionError);
  });
});

describe.each(syncBackends)('SharedValue with %s workers', (backend) => {
  it('add() from 4 workers loses nothing, for int32, bigint64 and float64', async () => {
    const pool = syncPool(backend, 4);
    const ints = new SharedValue('int32', 0);
    const bigs = new SharedValue('bigint64', 0n);
    const floats = new SharedValue('float64', 0);
    // Each operation from a process is a round trip to the caller: fewer of them there.
    const times = backend === 'process' ? 500 : 5_000;
    const runs = [];
    for (let w = 0; w < 4; w++) {
      runs.push(pool.run(addMany, ints, 1, times), pool.run(addMany, bigs, 3n, times), pool.run(addMany, floats, 0.5, times));
    }
    expect(await Promise.all(runs)).toEqual(Array(12).fill(true));
    expect(ints.value).toBe(4 * times);
    expect(bigs.value).toBe(BigInt(12 * times));
    expect(floats.value).toBe(2 * times); // 0.5 steps are exact in float64
  });

  it('compareExchange stores only when the value is the expected one', async () => {
    const pool = syncPool(backend, 4);
    const flag = new SharedValue('int32', 0);
    const counter = new SharedValue('int32', 0);
    const times = backend === 'process' ? 200 : 2_000;
    await Promise.all([0, 1, 2, 3].map(() => pool.run(casIncrement, flag, counter, times)));
    expect(counter.value).toBe(4 * times);
    expect(flag.compareExchange(1, 5)).toBe(0);
    expect(flag.value).toBe(0);
    expect(flag.compareExchange(0, 5)).toBe(0);
    expect(flag.value).toBe(5);
  });

  it('passed to the pool option init, it arrives live in each new worker', async () => {
    const counter = new SharedValue('int32', 0);
    const pool = new Pool({ backend, size: 1, init: { task: addMany, args: [counter, 1, 1] } });
    try {
      await pool.run(addMany, counter, 10, 1);
      expect(counter.value).toBe(11); // 1 from init, 10 from the task
    } finally {
      await pool.terminate();
    }
  });
});

describe.each(syncBackends)('SharedArray with %s workers', (backend) => {
  it('add(i) from 4 workers loses nothing; view is a typed array over the same memory', async () => {
    const pool = syncPool(backend, 4);
    const array = new SharedArray('uint32', 8);
    const times = backend === 'process' ? 100 : 1_000;
    expect(await Promise.all([0, 1, 2, 3].map(() => pool.run(addToEach, array, times)))).toEqual([true, true, true, true]);
    expect(array.toArray()).toEqual(Array(8).fill(4 * times));
    expect(array.view).toBeInstanceOf(Uint32Array);
    expect(array.view.buffer).toBeInstanceOf(SharedArrayBuffer);
  });
});
