// A worker that dies fails only the call it ran, with WorkerCrashedError; the
// pool replaces it, runs what was queued alongside, and keeps serving.
import { afterEach, describe, expect, it } from 'vitest';
import { type PoolOptions, TandemError, WorkerCrashedError } from 'tandem';
import { cleanup, makePool, rejection, runtime, tempDir, workerBackends, type BackendName } from '../helpers.js';
import { add, allocateForever, crashFirstTimes, echo, exitWith, killSelf, uncaughtLater } from '../fixtures/tasks.mjs';

afterEach(cleanup);

interface CrashKind {
  name: string;
  backends: readonly BackendName[];
  options: (backend: BackendName) => PoolOptions;
  crash: (pool: ReturnType<typeof makePool>) => Promise<unknown>;
  check: (error: WorkerCrashedError, backend: BackendName) => void;
}

const crashKinds: CrashKind[] = [
  {
    name: 'process.exit(7) inside a task',
    backends: workerBackends,
    options: () => ({}),
    crash: (pool) => pool.submit(exitWith, [7]),
    check: (error) => {
      expect(error.reason).toBe('exit');
      expect(error.exitCode).toBe(7);
      expect(error.signal).toBeNull();
    },
  },
  {
    name: 'an uncaught error thrown from a timer',
    backends: workerBackends,
    options: () => ({}),
    crash: (pool) => pool.submit(uncaughtLater, []),
    check: (error) => expect(error.reason).toBe('uncaught'),
  },
  {
    name: 'out of memory',
    // Bun holds no worker to a heap limit, Deno no thread: test/runtimes/differences.test.ts asserts what they do instead.
    backends: workerBackends.filter((backend) => runtime === 'node' || (runtime === 'deno' && backend === 'process')),
    options: (backend) =>
      backend === 'thread' ? { resourceLimits: { maxOldGenerationSizeMb: 16 } } : { execArgv: ['--max-old-space-size=16'] },
    crash: (pool) => pool.submit(allocateForever, []),
    check: (error, backend) => {
      if (backend === 'thread') expect(error.reason).toBe('out-of-memory');
      // A process that runs out of heap aborts: some exit code or signal says so.
      else expect(error.exitCode !== null || error.signal !== null).toBe(true);
    },
  },
  {
    name: 'SIGKILL',
    backends: ['process'],
    options: () => ({}),
    crash: (pool) => pool.submit(killSelf, []),
    check: (error) => {
      expect(error.reason).toBe('killed');
      expect(error.signal).toBe('SIGKILL');
    },
  },
];

describe.each(workerBackends)('a worker that dies (%s)', (backend) => {
  const kinds = crashKinds.filter((kind) => kind.backends.includes(backend));

  it.each(kinds.map((kind) => [kind.name, kind] as const))(
    '%s: fails only its call, queued calls still run, the pool keeps serving',
    async (_, kind) => {
      const pool = makePool({ backend, size: 1, ...kind.options(backend) });
      const before = pool.submit(echo, ['before']);
      const crash = kind.crash(pool) as ReturnType<typeof pool.submit>;
      const queued = [pool.submit(echo, ['a']), pool.submit(add, [1, 2])];
      expect(await before).toBe('before');
      const error = await rejection(crash);
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error).toBeInstanceOf(TandemError);
      expect(error.code).toBe('ERR_TANDEM_WORKER_CRASHED');
      expect(typeof error.workerId).toBe('number');
      expect(error.taskId).toBe(crash.id);
      expect(crash.state).toBe('rejected');
      kind.check(error, backend);
      expect(await Promise.all(queued)).toEqual(['a', 3]);
      expect(await pool.run(add, 2, 2)).toBe(4);
      expect(pool.stats().failed).toBe(1);
    },
    60_000,
  );

  it('a crash fails only the call on the dead worker, not calls running on others', async () => {
    const pool = makePool({ backend, size: 2 });
    await pool.ready();
    const results = await Promise.allSettled([pool.run(exitWith, 7), ...Array.from({ length: 20 }, (_, i) => pool.run(add, i, i))]);
    expect(results[0].status).toBe('rejected');
    expect(results.slice(1)).toEqual(Array.from({ length: 20 }, (_, i) => ({ status: 'fulfilled', value: 2 * i })));
  });

  it('with retries: 2 a call that crashes its worker once runs again and succeeds', async () => {
    const pool = makePool({ backend, size: 1, retries: 2 });
    const dir = tempDir();
    expect(await pool.run(crashFirstTimes, dir, 1)).toBe(2);
    expect(await pool.run(echo, 'after')).toBe('after');
  });

  it('with retries: 2 a call that always crashes fails after three attempts', async () => {
    const pool = makePool({ backend, size: 1, retries: 2 });
    const dir = tempDir();
    const error = await rejection(pool.run(crashFirstTimes, dir, 100));
    expect(error.code).toBe('ERR_TANDEM_WORKER_CRASHED');
    expect(error.exitCode).toBe(3);
    expect(await pool.run(crashFirstTimes, dir, 0)).toBe(4); // it ran exactly 3 times before
  });

  it('without retries a crash is reported at once', async () => {
    const pool = makePool({ backend, size: 1 });
    const dir = tempDir();
    expect((await rejection(pool.run(crashFirstTimes, dir, 1))).code).toBe('ERR_TANDEM_WORKER_CRASHED');
    expect(await pool.run(crashFirstTimes, dir, 1)).toBe(2);
  });
});
