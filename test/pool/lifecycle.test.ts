// A pool's life: ready, close vs terminate, disposal, maxQueue, init,
// recycling (maxTasksPerWorker), idle shrink, transfer.
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, PoolClosedError, QueueFullError, TandemError, WorkerInitError } from 'tandem';
import { allBackends, cleanup, eventually, failure, makePool, probe, rejection, runtime, thrown, workerBackends } from '../helpers.js';
import {
  add,
  byteSum,
  echo,
  failingInit,
  gated,
  readEnv,
  readExecArgv,
  readGlobal,
  setGlobal,
  setGlobalBare,
  square,
  whoAmI,
} from '../fixtures/tasks.mjs';

afterEach(cleanup);

/** Every way to make a call must fail with PoolClosedError once a pool is closed. */
async function expectRefused(pool: ReturnType<typeof makePool>): Promise<void> {
  const fromSubmit = thrown(() => pool.submit(add, [0, 0]));
  expect(fromSubmit).toBeInstanceOf(PoolClosedError);
  expect(fromSubmit.code).toBe('ERR_TANDEM_POOL_CLOSED');
  // run and map report through their promise.
  expect((await rejection(pool.run(add, 0, 0))).code).toBe('ERR_TANDEM_POOL_CLOSED');
  expect((await rejection(pool.map(square, [1]))).code).toBe('ERR_TANDEM_POOL_CLOSED');
  expect((await rejection(pool.starmap(add, [[1, 1]]))).code).toBe('ERR_TANDEM_POOL_CLOSED');
  expect((await failure(() => pool.imap(square, [1]))).code).toBe('ERR_TANDEM_POOL_CLOSED');
}

describe.each(allBackends)('close and terminate (%s)', (backend) => {
  it('close() finishes every accepted call, running and queued, then refuses new ones', async () => {
    const pool = makePool({ backend, size: 1 });
    const gate = probe(backend);
    const running = pool.submit(gated, [gate.arg, 'running']);
    const queued = [pool.submit(add, [1, 1]), pool.submit(add, [2, 2]), pool.submit(add, [3, 3])];
    const mapped = pool.map(square, [1, 2, 3]);
    await gate.untilStarted();
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    await expectRefused(pool);
    expect(closed).toBe(false);
    gate.open();
    expect(await running).toBe('running');
    expect(await Promise.all(queued)).toEqual([2, 4, 6]);
    expect(await mapped).toEqual([1, 4, 9]);
    await closing;
    expect(pool.stats().workers).toBe(0);
  });

  it('close() on a pool that never ran anything resolves; close() twice is fine', async () => {
    const pool = makePool({ backend, size: 2 });
    await pool.close();
    await pool.close();
    await expectRefused(pool);
  });

  it('close() right after submit, before any worker is ready, still runs the call', async () => {
    const pool = makePool({ backend, size: 1 });
    const future = pool.submit(echo, ['early']);
    const closing = pool.close();
    expect(await future).toBe('early');
    await closing;
  });

  it('terminate() stops now: running and queued calls reject with PoolClosedError', async () => {
    const pool = makePool({ backend, size: 1 });
    const gate = probe(backend);
    const running = pool.submit(gated, [gate.arg, 'running']);
    const queued = pool.submit(add, [1, 1]);
    await gate.untilStarted();
    await pool.terminate();
    const runningError = await rejection(running);
    expect(runningError).toBeInstanceOf(PoolClosedError);
    expect(runningError.code).toBe('ERR_TANDEM_POOL_CLOSED');
    expect((await rejection(queued)).code).toBe('ERR_TANDEM_POOL_CLOSED');
    expect(pool.stats().workers).toBe(0);
    await expectRefused(pool);
    await pool.close();
    await pool.terminate();
  });

  it('terminate() while close() waits settles everything', async () => {
    const pool = makePool({ backend, size: 1 });
    const gate = probe(backend);
    const running = pool.submit(gated, [gate.arg, 'running']);
    await gate.untilStarted();
    const closing = pool.close();
    await pool.terminate();
    expect((await rejection(running)).code).toBe('ERR_TANDEM_POOL_CLOSED');
    // Whether the interrupted close() resolves or rejects is not specified; it must not hang.
    await Promise.allSettled([closing]);
  });

  it('[Symbol.asyncDispose]() closes the pool: accepted work finishes, new calls are refused', async () => {
    const pool = makePool({ backend, size: 1 });
    const accepted = pool.submit(add, [20, 22]);
    await pool[Symbol.asyncDispose]();
    expect(await accepted).toBe(42);
    await expectRefused(pool);
  });

  it('ready() resolves once the workers serve', async () => {
    const pool = makePool({ backend, size: 2 });
    await pool.ready();
    if (backend !== 'inline') expect(pool.stats().workers).toBe(2);
    expect(await pool.run(add, 1, 2)).toBe(3);
  });

  it('maxQueue: one call too many throws QueueFullError; accepted calls are not lost', async () => {
    const pool = makePool({ backend, size: 1, maxQueue: 2 });
    const gate = probe(backend);
    const blocker = pool.submit(gated, [gate.arg, 'blocker']);
    await gate.untilStarted();
    const accepted = [pool.submit(add, [1, 1]), pool.submit(add, [2, 2])];
    const error = thrown(() => pool.submit(add, [3, 3]));
    expect(error).toBeInstanceOf(QueueFullError);
    expect(error).toBeInstanceOf(TandemError);
    expect(error.code).toBe('ERR_TANDEM_QUEUE_FULL');
    expect((await rejection(pool.run(add, 4, 4))).code).toBe('ERR_TANDEM_QUEUE_FULL');
    gate.open();
    expect(await blocker).toBe('blocker');
    expect(await Promise.all(accepted)).toEqual([2, 4]);
    // Room again once the queue drained.
    expect(await pool.submit(add, [5, 5])).toBe(10);
  });

  it('concurrencyPerWorker: 3 runs three async calls at once on one worker; the fourth waits', async () => {
    const pool = makePool({ backend, size: 1, concurrencyPerWorker: 3 });
    const gate = probe(backend);
    const calls = [1, 2, 3, 4].map((n) => pool.submit(gated, [gate.arg, n]));
    await gate.untilStarted(3);
    expect(calls.map((call) => call.state)).toEqual(['running', 'running', 'running', 'pending']);
    expect(pool.stats().queued).toBe(1);
    gate.open();
    expect(await Promise.all(calls)).toEqual([1, 2, 3, 4]);
    expect(gate.started()).toBe(4);
  });

  it('init runs in each worker before its calls', async () => {
    const value = `ready-${backend}-${Math.random()}`;
    const pool = makePool({ backend, size: 2, init: { task: setGlobal, args: [value] } });
    expect(await pool.run(readGlobal)).toBe(value);
    expect(await Promise.all([pool.run(readGlobal), pool.run(readGlobal), pool.run(readGlobal)])).toEqual([value, value, value]);
  });

  it('transfer hands the bytes to the task (a process shares no memory: refused at submit)', async () => {
    const pool = makePool({ backend, size: 1 });
    const buffer = new Uint8Array([1, 2, 3, 4]).buffer;
    if (backend === 'process') {
      const error = thrown(() => pool.submit(byteSum, [buffer], { transfer: [buffer] }));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.option).toBe('transfer');
      expect(pool.stats().accepted).toBe(0);
    } else {
      expect(await pool.submit(byteSum, [buffer], { transfer: [buffer] })).toBe(10);
    }
  });
});

describe.each(workerBackends)('workers (%s)', (backend) => {
  it('maxTasksPerWorker: 1 gives every call a fresh worker', async () => {
    const pool = makePool({ backend, size: 1, maxTasksPerWorker: 1 });
    const ids = [await pool.run(whoAmI), await pool.run(whoAmI), await pool.run(whoAmI)];
    expect(new Set(ids).size).toBe(3);
  });

  it('init runs again in every replacement worker', async () => {
    const pool = makePool({ backend, size: 1, maxTasksPerWorker: 1, init: { task: setGlobal, args: ['again'] } });
    expect([await pool.run(readGlobal), await pool.run(readGlobal)]).toEqual(['again', 'again']);
  });

  it('init may be a bare task, without args', async () => {
    const pool = makePool({ backend, size: 1, init: setGlobalBare });
    expect(await pool.run(readGlobal)).toBe('bare');
  });

  it('a failing init rejects waiting calls with WorkerInitError, and the pool does not spin', async () => {
    const pool = makePool({ backend, size: 2, init: failingInit });
    const error = await rejection(pool.run(add, 1, 1));
    expect(error).toBeInstanceOf(WorkerInitError);
    expect(error).toBeInstanceOf(TandemError);
    expect(error.code).toBe('ERR_TANDEM_WORKER_INIT');
    await eventually(() => pool.stats().workers === 0, 'the failed workers to be gone');
  });

  // Bun ignores flags it does not know, so the worker starts: test/runtimes/differences.test.ts asserts that.
  it.runIf(runtime !== 'bun')('a worker that cannot start rejects the waiting calls with the reason instead of hanging', async () => {
    const pool = makePool({ backend, size: 2, execArgv: ['--no-such-flag'] });
    const error = await rejection(pool.run(add, 1, 1));
    expect(error.code).toBe('ERR_TANDEM_WORKER_CRASHED');
    expect(error.message).toContain('--no-such-flag');
    await eventually(() => pool.stats().workers === 0, 'the failed workers to be gone');
  });

  it('idle workers above minSize stop after idleTimeout', async () => {
    const pool = makePool({ backend, size: 2, minSize: 1, idleTimeout: 50 });
    const gate = probe(backend);
    // Two calls at once, held until both run: both workers are in use.
    const both = [pool.submit(gated, [gate.arg, 1]), pool.submit(gated, [gate.arg, 2])];
    await gate.untilStarted(2);
    expect(pool.stats().workers).toBe(2);
    gate.open();
    expect(await Promise.all(both)).toEqual([1, 2]);
    await eventually(() => pool.stats().workers === 1, 'the pool to shrink to minSize');
    expect(await pool.run(add, 3, 3)).toBe(6);
  });
});

describe('process options', () => {
  it('env and execArgv reach process workers', async () => {
    const pool = makePool({ backend: 'process', size: 1, env: { TANDEM_TEST_ENV: 'from-env' }, execArgv: ['--max-old-space-size=64'] });
    expect(await pool.run(readEnv, 'TANDEM_TEST_ENV')).toBe('from-env');
    // The caller's own environment is inherited under the extra variables.
    expect(await pool.run(readEnv, 'PATH')).toBe(process.env.PATH);
    // Deno turns the flag into its own V8 flags and reports none: test/runtimes/differences.test.ts shows the heap limit it sets.
    if (runtime !== 'deno') expect(await pool.run(readExecArgv)).toContain('--max-old-space-size=64');
  });
});

describe('transfer (thread)', () => {
  it('moves an ArrayBuffer to the worker: the caller is left with a detached buffer', async () => {
    const pool = makePool({ backend: 'thread', size: 1 });
    const buffer = new Uint8Array([1, 2, 3, 4]).buffer;
    const sum = pool.submit(byteSum, [buffer], { transfer: [buffer] });
    expect(await sum).toBe(10);
    expect(buffer.byteLength).toBe(0);
  });
});
