// One rule for what crosses between caller and task, on every backend and in
// both directions: an argument that cannot cross fails at submit with
// SerializationError naming the argument and the path inside it (nothing
// runs); a result that cannot come back fails its call the same way (path
// `result…`).
import { afterEach, describe, expect, it } from 'vitest';
import { SerializationError, TandemError } from 'tandem';
import { allBackends, cleanup, makePool, probe, rejection, thrown } from '../helpers.js';
import { count, echo } from '../fixtures/tasks.mjs';
import { makeUnregistered } from '../fixtures/classes.mjs';

afterEach(cleanup);

/** Defined here and never registered: its instances cannot cross. */
class Local {
  x: number;
  constructor() {
    this.x = 1;
  }
}

// [what, the bad value, the path expected for argument 1]
const badValues: [string, unknown, string][] = [
  ['a function', () => 1, 'args[1]'],
  ['a symbol', Symbol('s'), 'args[1]'],
  ['a class instance in an object', { point: new Local() }, 'args[1].point'],
  ['a function deep in arrays', [1, [2, function nested() {}]], 'args[1][1][1]'],
];

/** `depth` arrays, each holding the next. */
function deeplyNested(depth: number): unknown[] {
  let value: unknown[] = [];
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

// Inline is checked by the same rule (issue 8): a task behaves the same before and after auto moves it.
describe.each(allBackends)('arguments that cannot cross (%s)', (backend) => {
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
    const error = thrown(() => pool.submit(echo as (value: unknown) => unknown, [{ point: new Local() }]));
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

describe.each(allBackends)('arguments and results by the same rule (%s)', (backend) => {
  it('a 20,000-deep argument is a SerializationError naming it, thrown at submit; nothing is queued', async () => {
    const pool = makePool({ backend, size: 1 });
    const error = thrown(() => pool.submit(echo as (a: unknown, b: unknown) => unknown, [1, deeplyNested(20_000)]));
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.argumentIndex).toBe(1);
    expect(error.path).toBe('args[1]');
    expect(pool.stats().queued).toBe(0);
    const viaMap = await rejection(pool.map(echo as (value: unknown) => unknown, [1, deeplyNested(20_000)]));
    expect(viaMap).toBeInstanceOf(SerializationError);
    expect(viaMap.path).toBe('items[1]');
    // A value well within the limit still goes through.
    expect(await pool.run(echo as (value: unknown) => unknown, deeplyNested(50))).toEqual(deeplyNested(50));
  });

  it('a result holding an instance of an unregistered class fails its call with SerializationError about the result', async () => {
    const pool = makePool({ backend, size: 1 });
    const error = await rejection(pool.run(makeUnregistered));
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.code).toBe('ERR_TANDEM_SERIALIZATION');
    expect(error.argumentIndex).toBe(-1);
    expect(error.path).toBe('result.point');
    expect(error.message).toMatch(/^result\.point /);
    // The pool keeps serving.
    expect(await pool.run(echo, 'next')).toBe('next');
  });

  it('map fails with SerializationError when a result cannot come back', async () => {
    const pool = makePool({ backend, size: 1 });
    const error = await rejection(pool.map(makeUnregistered as (item: unknown) => unknown, [1, 2]));
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.path).toBe('result.point');
  });
});
