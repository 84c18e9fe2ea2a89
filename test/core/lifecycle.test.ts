import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, PoolClosedError, TaskTimeoutError } from 'tandem';
import { allBackends, cleanup, eventually, exists, makePool, openGate, rejection, tempDir, workerBackends } from './helpers.js';
import { add, byteSum, echo, failingInit, hang, mark, readGlobal, setGlobal, spin, waitForGate, whoAmI } from './fixtures/tasks.mjs';

afterEach(cleanup);

describe.each(allBackends)('cancel, close and terminate (%s)', (backend) => {
  it('cancelling a queued call removes it: it never runs', async () => {
    const pool = makePool({ backend, size: 1 });
    const dir = tempDir();
    const blocker = pool.submit(waitForGate, [`${dir}/gate`]);
    const queued = pool.submit(mark, [dir, 'queued']);
    expect(queued.cancel()).toBe(true);
    expect(queued.state).toBe('cancelled');
    expect(await rejection(queued)).toBeInstanceOf(CancelledError);
    openGate(`${dir}/gate`);
    expect(await blocker).toBe('opened');
    expect(await pool.run(mark, dir, 'after')).toBe('after');
    expect(exists(`${dir}/queued`)).toBe(false);
    expect(pool.stats().cancelled).toBe(1);
  });

  it('cancelling a running call rejects at once and aborts the signal the task sees', async () => {
    const pool = makePool({ backend, size: 1 });
    const dir = tempDir();
    await pool.ready();
    const running = pool.submit(waitForGate, [`${dir}/gate`]);
    await eventually(() => exists(`${dir}/gate.started`), 'the call to start');
    expect(running.cancel()).toBe(true);
    expect((await rejection(running)).code).toBe('ERR_TANDEM_CANCELLED');
    await eventually(() => exists(`${dir}/gate.aborted`), 'the task to see its signal aborted');
    expect(await pool.run(add, 1, 1)).toBe(2);
  });

  it('the signal option cancels a call', async () => {
    const pool = makePool({ backend, size: 1 });
    const controller = new AbortController();
    const dir = tempDir();
    const call = pool.submit(waitForGate, [`${dir}/gate`], { signal: controller.signal });
    controller.abort();
    expect((await rejection(call)).code).toBe('ERR_TANDEM_CANCELLED');
    const before = new AbortController();
    before.abort();
    expect((await rejection(pool.submit(add, [1, 2], { signal: before.signal }))).code).toBe('ERR_TANDEM_CANCELLED');
  });

  it('close() finishes accepted calls, then refuses new ones', async () => {
    const pool = makePool({ backend, size: 1 });
    const calls = [pool.submit(add, [1, 1]), pool.submit(add, [2, 2]), pool.submit(add, [3, 3])];
    const closed = pool.close();
    expect(() => pool.submit(add, [0, 0])).toThrow(PoolClosedError);
    expect((await rejection(pool.run(add, 0, 0))).code).toBe('ERR_TANDEM_POOL_CLOSED');
    expect(await Promise.all(calls)).toEqual([2, 4, 6]);
    await closed;
    await pool.close();
    expect(pool.stats().workers).toBe(0);
  });

  it('terminate() stops now: pending calls reject with PoolClosedError', async () => {
    const pool = makePool({ backend, size: 1 });
    const dir = tempDir();
    const running = pool.submit(waitForGate, [`${dir}/gate`]);
    const queued = pool.submit(add, [1, 1]);
    await pool.terminate();
    expect((await rejection(running)).code).toBe('ERR_TANDEM_POOL_CLOSED');
    expect((await rejection(queued)).code).toBe('ERR_TANDEM_POOL_CLOSED');
    expect(() => pool.submit(add, [0, 0])).toThrow(PoolClosedError);
    expect(pool.stats().workers).toBe(0);
  });

  it('maxQueue refuses one call too many, and loses nothing accepted', async () => {
    const pool = makePool({ backend, size: 1, maxQueue: 2 });
    const dir = tempDir();
    await pool.ready();
    const blocker = pool.submit(waitForGate, [`${dir}/gate`]);
    await eventually(() => exists(`${dir}/gate.started`), 'the blocker to start');
    const accepted = [pool.submit(add, [1, 1]), pool.submit(add, [2, 2])];
    expect(() => pool.submit(add, [3, 3])).toThrow(expect.objectContaining({ code: 'ERR_TANDEM_QUEUE_FULL' }));
    openGate(`${dir}/gate`);
    expect(await blocker).toBe('opened');
    expect(await Promise.all(accepted)).toEqual([2, 4]);
  });

  it('init runs once in each worker before its calls', async () => {
    const pool = makePool({ backend, size: 1, init: { task: setGlobal, args: ['ready'] } });
    expect(await pool.run(readGlobal)).toBe('ready');
  });
});

describe.each(workerBackends)('worker lifecycle (%s)', (backend) => {
  it('a timeout rejects with TaskTimeoutError and replaces the worker', async () => {
    const pool = makePool({ backend, size: 1 });
    const first = await pool.run(whoAmI);
    const error = await rejection(pool.submit(spin, [], { timeout: 300 }));
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(error.code).toBe('ERR_TANDEM_TASK_TIMEOUT');
    const second = await pool.run(whoAmI);
    expect(second).not.toBe(first);
  });

  it('maxTasksPerWorker: 1 gives every call a fresh worker', async () => {
    const pool = makePool({ backend, size: 1, maxTasksPerWorker: 1 });
    const ids = [await pool.run(whoAmI), await pool.run(whoAmI), await pool.run(whoAmI)];
    expect(new Set(ids).size).toBe(3);
  });

  it('a failing init rejects waiting calls with WorkerInitError, and does not spin', async () => {
    const pool = makePool({ backend, size: 2, init: failingInit });
    const error = await rejection(pool.run(add, 1, 1));
    expect(error.code).toBe('ERR_TANDEM_WORKER_INIT');
    await eventually(() => pool.stats().workers === 0, 'failed workers to be gone');
  });

  it('a worker that cannot start rejects the waiting calls instead of hanging', async () => {
    const pool = makePool({ backend, size: 2, execArgv: ['--no-such-flag'] });
    const error = await rejection(pool.run(add, 1, 1));
    expect(error.code).toBe('ERR_TANDEM_WORKER_CRASHED');
    expect(error.message).toContain('--no-such-flag');
    await eventually(() => pool.stats().workers === 0, 'the failed workers to be gone');
  });

  it('idle workers above minSize stop after idleTimeout', async () => {
    const pool = makePool({ backend, size: 2, minSize: 1, idleTimeout: 50 });
    const dir = tempDir();
    // Two calls that hold their workers until the gate opens: the pool must have grown to 2.
    const held = [pool.submit(waitForGate, [`${dir}/a`]), pool.submit(waitForGate, [`${dir}/b`])];
    await eventually(() => exists(`${dir}/a.started`) && exists(`${dir}/b.started`), 'both calls to start');
    expect(pool.stats().workers).toBe(2);
    openGate(`${dir}/a`);
    openGate(`${dir}/b`);
    expect(await Promise.all(held)).toEqual(['opened', 'opened']);
    await eventually(() => pool.stats().workers === 1, 'the pool to shrink to minSize');
    expect(await pool.run(add, 3, 3)).toBe(6);
  });
});

describe('inline specifics', () => {
  it('a timeout rejects and aborts the task signal (the event loop cannot be preempted)', async () => {
    const pool = makePool({ backend: 'inline', size: 1 });
    const flag = `${tempDir()}/aborted`;
    expect((await rejection(pool.submit(hang, [flag], { timeout: 50 }))).code).toBe('ERR_TANDEM_TASK_TIMEOUT');
    await eventually(() => exists(flag), 'the task to see the abort');
    expect(await pool.run(echo, 'still serving')).toBe('still serving');
  });
});

describe('transfer', () => {
  it('moves an ArrayBuffer to a thread instead of copying it', async () => {
    const pool = makePool({ backend: 'thread', size: 1 });
    const buffer = new Uint8Array([1, 2, 3, 4]).buffer;
    const sum = pool.submit(byteSum, [buffer], { transfer: [buffer] });
    expect(await sum).toBe(10);
    expect(buffer.byteLength).toBe(0);
  });
});
