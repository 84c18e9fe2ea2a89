// Every pool option and call option is checked: a wrong one throws
// InvalidOptionError whose `option` names it, before anything starts.
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, Pool, TandemError } from 'tandem';
import { allBackends, cleanup, failure, makePool, rejection, thrown } from '../helpers.js';
import { echo, square } from '../fixtures/tasks.mjs';

afterEach(cleanup);

describe('pool options', () => {
  it.each([
    [{ size: 0 }, 'size'],
    [{ size: 1.5 }, 'size'],
    [{ size: -1 }, 'size'],
    [{ size: '2' }, 'size'],
    [{ backend: 'gpu' }, 'backend'],
    [{ size: 2, minSize: 3 }, 'minSize'],
    [{ minSize: -1 }, 'minSize'],
    [{ idleTimeout: -1 }, 'idleTimeout'],
    [{ concurrencyPerWorker: 0 }, 'concurrencyPerWorker'],
    [{ maxTasksPerWorker: 0 }, 'maxTasksPerWorker'],
    [{ maxQueue: -1 }, 'maxQueue'],
    [{ retries: -1 }, 'retries'],
    [{ retries: 0.5 }, 'retries'],
    [{ sise: 2 }, 'sise'],
  ])('new Pool(%j) throws InvalidOptionError naming %s', (options, option) => {
    const error = thrown(() => new Pool(options as never));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toBeInstanceOf(TandemError);
    expect(error.code).toBe('ERR_TANDEM_INVALID_OPTION');
    expect(error.option).toBe(option);
  });

  it.each([
    [{ env: { A: 1 } }, 'env'],
    [{ execArgv: '--x' }, 'execArgv'],
    [{ init: 'nope' }, 'init'],
  ])('new Pool(%j) throws InvalidOptionError naming %s', (options, option) => {
    const error = thrown(() => new Pool(options as never));
    expect(error.code).toBe('ERR_TANDEM_INVALID_OPTION');
    expect(error.option).toBe(option);
  });

  it('a wrong resource limit is named inside resourceLimits', () => {
    const error = thrown(() => new Pool({ resourceLimits: { maxOldGenerationSizeMb: -5 } }));
    expect(error.code).toBe('ERR_TANDEM_INVALID_OPTION');
    expect(error.option).toMatch(/maxOldGenerationSizeMb/);
  });

  it('defaults work, and every documented option is accepted', async () => {
    const pool = makePool({});
    expect(await pool.run(echo, 'default')).toBe('default');
    const full = makePool({
      backend: 'thread',
      size: 2,
      minSize: 1,
      idleTimeout: 1_000,
      concurrencyPerWorker: 2,
      maxTasksPerWorker: 100,
      resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
      maxQueue: 100,
      retries: 1,
      env: { TANDEM_TEST: '1' },
    });
    expect(await full.run(echo, 'full')).toBe('full');
  });
});

describe.each(allBackends)('call options (%s)', (backend) => {
  it.each([
    [{ timeout: -1 }, 'timeout'],
    [{ timeout: 'soon' }, 'timeout'],
    [{ priority: Number.NaN }, 'priority'],
    [{ signal: {} }, 'signal'],
    [{ transfer: 'x' }, 'transfer'],
  ])('submit(task, args, %j) throws InvalidOptionError naming %s', (options, option) => {
    const pool = makePool({ backend, size: 1 });
    const error = thrown(() => pool.submit(echo, [1], options as never));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.option).toBe(option);
    expect(pool.stats().queued).toBe(0);
  });

  it.each([
    [{ chunksize: 0 }, 'chunksize'],
    [{ chunksize: 2.5 }, 'chunksize'],
    [{ chunksize: 'big' }, 'chunksize'],
    [{ timeout: -1 }, 'timeout'],
  ])('map(task, items, %j) rejects with InvalidOptionError naming %s', async (options, option) => {
    const pool = makePool({ backend, size: 1 });
    const error = await rejection(pool.map(square, [1, 2], options as never));
    expect(error.code).toBe('ERR_TANDEM_INVALID_OPTION');
    expect(error.option).toBe(option);
  });

  it.each([
    [{ ordered: 'yes' }, 'ordered'],
    [{ chunksize: 0 }, 'chunksize'],
  ])('imap(task, items, %j) fails with InvalidOptionError naming %s', async (options, option) => {
    const pool = makePool({ backend, size: 1 });
    const error = await failure(() => pool.imap(square, [1, 2], options as never));
    expect(error.code).toBe('ERR_TANDEM_INVALID_OPTION');
    expect(error.option).toBe(option);
  });
});
