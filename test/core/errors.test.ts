import { afterEach, describe, expect, it } from 'vitest';
import { Pool, TandemError, TaskError } from 'tandem';
import { allBackends, cleanup, makePool, rejection, tempDir, exists } from './helpers.js';
import { boom, echo, mark, throwString, unexportedTask } from './fixtures/tasks.mjs';

afterEach(cleanup);

describe.each(allBackends)('errors on the %s backend', (backend) => {
  it('a thrown error arrives as TaskError with name, message, stack, cause and own properties', async () => {
    const pool = makePool({ backend, size: 1 });
    const error = await rejection(pool.run(boom, 'too big'));
    expect(error).toBeInstanceOf(TaskError);
    expect(error).toBeInstanceOf(TandemError);
    expect(error.code).toBe('ERR_TANDEM_TASK');
    expect(error.remoteName).toBe('RangeError');
    expect(error.message).toContain('too big');
    expect(error.stack).toContain('tasks.mjs');
    expect(error.properties).toEqual({ code: 'E_BOOM', detail: { n: 1 } });
    expect(error.cause).toBeInstanceOf(Error);
    expect((error.cause as Error).name).toBe('TypeError');
    expect((error.cause as Error).message).toBe('root cause');
  });

  it('a thrown non-Error value is reported, not lost', async () => {
    const pool = makePool({ backend, size: 1 });
    const error = await rejection(pool.run(throwString));
    expect(error.code).toBe('ERR_TANDEM_TASK');
    expect(error.message).toContain('plain string');
  });

  it('a plain function that uses an outer variable is refused at submit, naming it', () => {
    const pool = makePool({ backend, size: 1 });
    const factor = 3;
    expect(() => pool.submit((x: number) => x * factor, [1])).toThrow(expect.objectContaining({ code: 'ERR_TANDEM_INVALID_TASK', message: expect.stringContaining("'factor'") }));
    expect(() => pool.submit(42 as never, [] as never)).toThrow(expect.objectContaining({ code: 'ERR_TANDEM_INVALID_TASK' }));
  });

  it('a task its module does not export gets TaskNotFoundError listing the exports', async () => {
    const pool = makePool({ backend, size: 1 });
    if (backend === 'inline') return; // inline runs the caller's own function: nothing to find
    const error = await rejection(pool.run(unexportedTask()));
    expect(error.code).toBe('ERR_TANDEM_TASK_NOT_FOUND');
    expect(error.message).toContain('tasks.mjs');
    expect(error.message).toContain("'echo'");
  });
});

describe.each(['thread', 'process'] as const)('arguments that cannot cross (%s)', (backend) => {
  it('fail at submit with SerializationError naming the argument; nothing runs', async () => {
    const pool = makePool({ backend, size: 1 });
    const dir = tempDir();
    class Point {
      x = 1;
    }
    const cases: [unknown[], number, string][] = [
      [[1, () => 1], 1, 'args[1]'],
      [[Symbol('s')], 0, 'args[0]'],
      [['a', { point: new Point() }], 1, 'args[1].point'],
      [[[1, [2, function nested() {}]]], 0, 'args[0][1][1]'],
    ];
    for (const [args, index, path] of cases) {
      let thrown: any;
      try {
        pool.submit(mark as any, [dir, 'ran', ...args] as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown?.code).toBe('ERR_TANDEM_SERIALIZATION');
      expect(thrown.argumentIndex).toBe(index + 2);
      expect(thrown.path).toBe(path.replace(/^args\[(\d+)\]/, (_, n) => `args[${Number(n) + 2}]`));
    }
    expect((await rejection(pool.map(echo, [1, () => 2]))).code).toBe('ERR_TANDEM_SERIALIZATION');
    await pool.run(echo, 'flush');
    expect(exists(`${dir}/ran`)).toBe(false);
    expect(pool.stats().completed).toBe(1);
  });
});

describe('option validation', () => {
  it.each([
    [{ size: 0 }, 'size'],
    [{ size: 1.5 }, 'size'],
    [{ backend: 'gpu' }, 'backend'],
    [{ size: 2, minSize: 3 }, 'minSize'],
    [{ idleTimeout: -1 }, 'idleTimeout'],
    [{ concurrencyPerWorker: 0 }, 'concurrencyPerWorker'],
    [{ maxQueue: -1 }, 'maxQueue'],
    [{ retries: -1 }, 'retries'],
    [{ maxTasksPerWorker: 0 }, 'maxTasksPerWorker'],
    [{ sise: 2 }, 'sise'],
    [{ env: { A: 1 } }, 'env'],
    [{ execArgv: '--x' }, 'execArgv'],
    [{ init: 'nope' }, 'init'],
    [{ resourceLimits: { maxOldGenerationSizeMb: -5 } }, 'resourceLimits.maxOldGenerationSizeMb'],
  ])('new Pool(%j) throws InvalidOptionError naming %s', (options, option) => {
    let thrown: any;
    try {
      new Pool(options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown?.code).toBe('ERR_TANDEM_INVALID_OPTION');
    expect(thrown.option).toBe(option);
    expect(thrown.message).toContain(option);
  });

  it('per-call options are checked too', () => {
    const pool = makePool({ backend: 'inline', size: 1 });
    for (const [options, option] of [
      [{ timeout: -1 }, 'timeout'],
      [{ priority: Number.NaN }, 'priority'],
      [{ signal: {} }, 'signal'],
    ] as const) {
      expect(() => pool.submit(echo, [1], options as never)).toThrow(expect.objectContaining({ code: 'ERR_TANDEM_INVALID_OPTION', option }));
    }
  });
});
