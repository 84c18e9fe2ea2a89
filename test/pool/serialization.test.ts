// Arguments that cannot cross to a worker fail at submit with
// SerializationError naming the argument and the path inside it; nothing runs.
import { afterEach, describe, expect, it } from 'vitest';
import { SerializationError, TandemError } from 'tandem';
import { cleanup, makePool, probe, rejection, thrown, workerBackends } from '../helpers.js';
import { count, echo } from '../fixtures/tasks.mjs';

afterEach(cleanup);

class Point {
  x: number;
  constructor() {
    this.x = 1;
  }
}

// [what, the bad value, the path expected for argument 1]
const badValues: [string, unknown, string][] = [
  ['a function', () => 1, 'args[1]'],
  ['a symbol', Symbol('s'), 'args[1]'],
  ['a class instance in an object', { point: new Point() }, 'args[1].point'],
  ['a function deep in arrays', [1, [2, function nested() {}]], 'args[1][1][1]'],
];

describe.each(workerBackends)('arguments that cannot cross (%s)', (backend) => {
  it.each(badValues)('%s: submit throws SerializationError with argumentIndex and path; nothing runs', async (_, bad, path) => {
    const pool = makePool({ backend, size: 1 });
    const watch = probe(backend);
    const error = thrown(() => pool.submit(count as (probe: unknown, value: unknown) => unknown, [watch.arg, bad]));
    expect(error).toBeInstanceOf(SerializationError);
    expect(error).toBeInstanceOf(TandemError);
    expect(error.code).toBe('ERR_TANDEM_SERIALIZATION');
    expect(error.argumentIndex).toBe(1);
    expect(error.path).toBe(path);
    // run() reports the same through its promise.
    const viaRun = await rejection(pool.run(count as (probe: unknown, value: unknown) => unknown, watch.arg, bad));
    expect(viaRun.code).toBe('ERR_TANDEM_SERIALIZATION');
    expect(viaRun.argumentIndex).toBe(1);
    // Nothing was queued or ran: the next call is the first to count.
    expect(pool.stats().queued).toBe(0);
    expect(await pool.run(count, watch.arg, 'ok')).toBe('ok');
    expect(watch.ran()).toBe(1);
    expect(pool.stats().completed).toBe(1);
  });

  it('a bad first argument is argument 0', () => {
    const pool = makePool({ backend, size: 1 });
    const error = thrown(() => pool.submit(echo as (value: unknown) => unknown, [{ point: new Point() }]));
    expect(error.code).toBe('ERR_TANDEM_SERIALIZATION');
    expect(error.argumentIndex).toBe(0);
    expect(error.path).toBe('args[0].point');
  });

  it('map rejects with SerializationError when an item cannot cross', async () => {
    const pool = makePool({ backend, size: 1 });
    const error = await rejection(pool.map(echo as (value: unknown) => unknown, [1, () => 2, 3]));
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.code).toBe('ERR_TANDEM_SERIALIZATION');
  });

  it('a null-prototype object is data, not a class instance: it passes', async () => {
    const pool = makePool({ backend, size: 1 });
    const bare = Object.assign(Object.create(null) as Record<string, number>, { a: 1 });
    expect(await pool.run(echo, { bare })).toEqual({ bare: { a: 1 } });
  });
});
