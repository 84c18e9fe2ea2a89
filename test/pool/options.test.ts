// Every pool option and call option is checked: a wrong one throws
// InvalidOptionError whose `option` names it, before anything starts.
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, Pool, TandemError } from 'tandem';
import { allBackends, cleanup, failure, makePool, rejection, runtime, thrown } from '../helpers.js';
import { add, byteSum, echo, square } from '../fixtures/tasks.mjs';

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

  // Issue 8: values that used to pass the object checks or fall back to a default.
  it.each([
    [null, 'options'],
    [[], 'options'],
    [{ size: null }, 'size'],
    [{ backend: null }, 'backend'],
    [{ retries: null }, 'retries'],
    [{ env: ['A=1'] }, 'env'],
    [{ maxQueue: 0 }, 'maxQueue'],
    [{ resourceLimits: [] }, 'resourceLimits'],
    [{ resourceLimits: { maxOldGenerationSizeMb: 0 } }, 'resourceLimits.maxOldGenerationSizeMb'],
    [{ resourceLimits: { stackSizeMb: 0 } }, 'resourceLimits.stackSizeMb'],
  ])('new Pool(%j) throws InvalidOptionError naming %s', (options, option) => {
    const error = thrown(() => new Pool(options as never));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.option).toBe(option);
    expect(error.suggestion).toBeUndefined();
  });

  it.each([
    [{ sise: 2 }, 'sise', 'size'],
    [{ maxqueue: 5 }, 'maxqueue', 'maxQueue'],
    [{ concurrency: 4 }, 'concurrency', 'concurrencyPerWorker'],
    [{ workers: 4 }, 'workers', 'size'],
    [{ idleTimout: 100 }, 'idleTimout', 'idleTimeout'],
    [{ resourceLimits: { maxOldGenerationSize: 64 } }, 'resourceLimits.maxOldGenerationSize', 'maxOldGenerationSizeMb'],
  ])('new Pool(%j): the unknown key %s is an error that suggests %s', (options, option, suggestion) => {
    const error = thrown(() => new Pool(options as never));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.option).toBe(option);
    expect(error.suggestion).toBe(suggestion);
    expect(error.message).toContain(`'${suggestion}'`);
  });

  it('an unknown key with nothing close is still an error, without a suggestion', () => {
    const error = thrown(() => new Pool({ colour: 'blue' } as never));
    expect(error.option).toBe('colour');
    expect(error.suggestion).toBeUndefined();
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
      // Bun and Deno refuse limits on threads: test/runtimes/differences.test.ts asserts that.
      ...(runtime === 'node' ? { resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 } } : {}),
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

  // Issue 8: each call takes its own keys; anything else is a mistake to report, not to ignore.
  it.each([
    [{ timout: 5 }, 'timout', 'timeout'],
    [{ priorty: 1 }, 'priorty', 'priority'],
    [{ Timeout: 5 }, 'Timeout', 'timeout'],
    [{ chunksize: 10 }, 'chunksize', undefined],
    [{ ordered: false }, 'ordered', undefined],
  ])('submit(task, args, %j): the key %s is refused (suggesting %s); nothing is queued', (options, option, suggestion) => {
    const pool = makePool({ backend, size: 1 });
    const error = thrown(() => pool.submit(echo, [1], options as never));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.option).toBe(option);
    expect(error.suggestion).toBe(suggestion);
    expect(pool.stats().queued).toBe(0);
  });

  it.each([
    [{ chunkSize: 10 }, 'chunkSize', 'chunksize'],
    [{ timout: 5 }, 'timout', 'timeout'],
    [{ star: true }, 'star', undefined],
    [{ ordered: false }, 'ordered', undefined],
    [{ transfer: [] }, 'transfer', undefined],
  ])('map and starmap(task, items, %j): the key %s is refused (suggesting %s)', async (options, option, suggestion) => {
    const pool = makePool({ backend, size: 1 });
    for (const call of [() => pool.map(square, [1, 2], options as never), () => pool.starmap(add, [[1, 2]], options as never)]) {
      const error = await rejection(call());
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.option).toBe(option);
      expect(error.suggestion).toBe(suggestion);
    }
    expect(pool.stats().queued).toBe(0);
  });

  it.each([
    [{ orderd: false }, 'orderd', 'ordered'],
    [{ chunkSize: 10 }, 'chunkSize', 'chunksize'],
    [{ transfer: [] }, 'transfer', undefined],
  ])('imap(task, items, %j): the key %s is refused (suggesting %s)', async (options, option, suggestion) => {
    const pool = makePool({ backend, size: 1 });
    const error = await failure(() => pool.imap(square, [1, 2], options as never));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.option).toBe(option);
    expect(error.suggestion).toBe(suggestion);
  });

  it('every documented call option is accepted by its call', async () => {
    const pool = makePool({ backend, size: 1 });
    const signal = new AbortController().signal;
    const common = { signal, timeout: 10_000, priority: 1 };
    expect(await pool.submit(echo, [1], { ...common, ...(backend === 'process' ? {} : { transfer: [] }) })).toBe(1);
    expect(await pool.map(square, [1, 2], { ...common, chunksize: 1 })).toEqual([1, 4]);
    const streamed: number[] = [];
    for await (const value of pool.imap(square, [1, 2], { ...common, chunksize: 'auto', ordered: true })) streamed.push(value);
    expect(streamed).toEqual([1, 4]);
  });
});

describe('transfer where nothing can be moved', () => {
  it('a process pool refuses transfer at submit, naming it; the buffer stays with the caller and nothing is queued', () => {
    const pool = makePool({ backend: 'process', size: 1 });
    const buffer = new ArrayBuffer(8);
    const error = thrown(() => pool.submit(echo, [buffer], { transfer: [buffer] }));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.option).toBe('transfer');
    expect(buffer.byteLength).toBe(8);
    expect(pool.stats().queued).toBe(0);
  });

  it('a thread pool moves what transfer lists (the check does not get in its way)', async () => {
    const pool = makePool({ backend: 'thread', size: 1 });
    const buffer = new Uint8Array([1, 2, 3]).buffer;
    expect(await pool.run(byteSum, buffer)).toBe(6);
    const moved = new Uint8Array([4, 5]).buffer;
    expect(await pool.submit(byteSum, [moved], { transfer: [moved] })).toBe(9);
    expect(moved.byteLength).toBe(0);
  });
});
