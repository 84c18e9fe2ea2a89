// One rule for what crosses between caller and task, on every backend and in
// both directions: an argument that cannot cross fails at submit with
// SerializationError naming the argument and the path inside it (nothing
// runs); a result that cannot come back fails its call the same way (path
// `result…`). Instances of registered classes cross with their prototype.
import { afterEach, describe, expect, it } from 'vitest';
import { SerializationError, TandemError } from 'tandem';
import { allBackends, cleanup, eventually, makePool, probe, rejection, thrown } from '../helpers.js';
import { count, echo } from '../fixtures/tasks.mjs';
import {
  Point,
  Segment,
  Unregistered,
  inspect,
  makeHidden,
  makeHiddenTask,
  makeUnregistered,
  nested,
  pointOf,
  scale,
} from '../fixtures/classes.mjs';
import { Color } from '../fixtures/classes-other.mjs';

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

  it('an unregistered instance is refused with a message that says how to register its class', () => {
    const pool = makePool({ backend, size: 1 });
    const error = thrown(() => pool.submit(echo as (value: unknown) => unknown, [{ point: new Unregistered() }]));
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.path).toBe('args[0].point');
    expect(error.message).toMatch(/registerClass\(import\.meta\.url, Unregistered\)/);
  });
});

describe.each(allBackends)('registered classes (%s)', (backend) => {
  it('an instance crosses as an argument and comes back as a result with its prototype', async () => {
    const pool = makePool({ backend, size: 1 });
    const scaled = await pool.run(scale, new Point(3, 4), 2);
    expect(scaled).toBeInstanceOf(Point);
    expect(scaled.length()).toBe(10);
    expect({ ...scaled }).toEqual({ x: 6, y: 8 });
  });

  it('instances nested in objects, arrays and Maps arrive as instances; one instance reached twice stays one', async () => {
    const pool = makePool({ backend, size: 1 });
    const shared = new Point(1, 1);
    const arrived = await pool.run(inspect, {
      segment: new Segment(new Point(0, 0), new Point(3, 4)),
      list: [shared],
      map: new Map([['p', shared]]),
    });
    expect(arrived).toEqual({ segment: true, length: 5, inArray: true, inMap: true, same: true });
    const back = await pool.run(nested);
    expect(back.segment).toBeInstanceOf(Segment);
    expect(back.segment.from).toBeInstanceOf(Point);
    expect(back.segment.length()).toBe(5);
    expect(back.list.every((p) => p instanceof Point)).toBe(true);
    expect(back.map.get('p')).toBe(back.list[0]);
  });

  it('map results come back as instances', async () => {
    const pool = makePool({ backend, size: 1 });
    const points = await pool.map(pointOf, [1, 2, 3]);
    expect(points.every((p) => p instanceof Point)).toBe(true);
    expect(points.map((p) => p.x)).toEqual([1, 2, 3]);
  });

  it('a class whose module no task module imports is found by loading that module', async () => {
    const pool = makePool({ backend, size: 1 });
    const color = await pool.run(echo, new Color('red'));
    if (!(color instanceof Color)) throw new Error('expected a Color');
    expect(color).toBeInstanceOf(Color);
    expect(color.shout()).toBe('RED');
  });

  it('a registered class its module does not export fails with SerializationError naming it, either way', async () => {
    const pool = makePool({ backend, size: 1 });
    const send = (): unknown => pool.submit(echo as (value: unknown) => unknown, [{ hidden: makeHidden() }]);
    // The caller reads the module's exports a turn of the event loop after the
    // module loaded (until then a worker refuses the class instead); from then
    // on the class is refused at submit, on every backend.
    await eventually(() => {
      try {
        send();
        return false;
      } catch (error) {
        return error instanceof SerializationError;
      }
    }, "the caller to have read classes.mjs's exports");
    const asArgument = thrown(send);
    expect(asArgument).toBeInstanceOf(SerializationError);
    expect(asArgument.path).toBe('args[0].hidden');
    expect(asArgument.message).toMatch(/class 'Hidden'/);
    // A worker loading the module reads its exports before the first call runs.
    const asResult = await rejection(pool.run(makeHiddenTask));
    expect(asResult).toBeInstanceOf(SerializationError);
    expect(asResult.path).toBe('result');
    expect(asResult.message).toMatch(/class 'Hidden'/);
  });
});

describe('registered classes under auto', () => {
  it('an instance crosses the same whether auto runs the call inline or on a thread', async () => {
    const pool = makePool({ backend: 'auto', size: 1 });
    for (let i = 0; i < 6; i++) {
      const scaled = await pool.run(scale, new Point(1, 1), i);
      expect(scaled).toBeInstanceOf(Point);
      expect(scaled.x).toBe(i);
    }
    expect(thrown(() => pool.submit(echo as (value: unknown) => unknown, [new Unregistered()]))).toBeInstanceOf(SerializationError);
  });
});
