import { afterEach, describe, expect, it } from 'vitest';
import { WorkerCrashedError } from 'tandem';
import { cleanup, makePool, rejection, tempDir, workerBackends } from './helpers.js';
import { add, allocateForever, crashOnce, echo, exitWith, killSelf, uncaughtLater } from './fixtures/tasks.mjs';

afterEach(cleanup);

describe.each(workerBackends)('a worker that dies (%s)', (backend) => {
  it('exit: fails only its call with exit code, then the pool serves on', async () => {
    const pool = makePool({ backend, size: 1 });
    const before = pool.submit(echo, ['before']);
    const crash = pool.submit(exitWith, [7]);
    const after = [pool.submit(echo, ['a']), pool.submit(echo, ['b'])];
    expect(await before).toBe('before');
    const error = await rejection(crash);
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error.code).toBe('ERR_TANDEM_WORKER_CRASHED');
    expect(error.reason).toBe('exit');
    expect(error.exitCode).toBe(7);
    expect(error.taskId).toBe(crash.id);
    expect(await Promise.all(after)).toEqual(['a', 'b']);
    expect(await pool.run(add, 1, 2)).toBe(3);
  });

  it('uncaught error outside a task: reason uncaught', async () => {
    const pool = makePool({ backend, size: 1 });
    const error = await rejection(pool.run(uncaughtLater));
    expect(error.code).toBe('ERR_TANDEM_WORKER_CRASHED');
    expect(error.reason).toBe('uncaught');
    expect(error.cause).toBeInstanceOf(Error);
    expect(await pool.run(add, 2, 2)).toBe(4);
  });

  it('out of memory: reason out-of-memory', async () => {
    const pool = makePool({ backend, size: 1, resourceLimits: { maxOldGenerationSizeMb: 24, maxYoungGenerationSizeMb: 4 } });
    const error = await rejection(pool.run(allocateForever));
    expect(error.code).toBe('ERR_TANDEM_WORKER_CRASHED');
    expect(error.reason).toBe('out-of-memory');
    expect(await pool.run(add, 3, 3)).toBe(6);
  }, 60_000);

  if (backend === 'process') {
    it('killed by a signal: signal SIGKILL', async () => {
      const pool = makePool({ backend, size: 1 });
      const error = await rejection(pool.run(killSelf));
      expect(error.code).toBe('ERR_TANDEM_WORKER_CRASHED');
      expect(error.signal).toBe('SIGKILL');
      expect(error.reason).toBe('killed');
      expect(await pool.run(add, 4, 4)).toBe(8);
    });
  }

  it('retries a crashed call when retries allows', async () => {
    const pool = makePool({ backend, size: 1, retries: 2 });
    const marker = `${tempDir()}/crashed-once`;
    expect(await pool.run(crashOnce, marker)).toBe('second try');
    const without = makePool({ backend, size: 1 });
    const second = `${tempDir()}/crashed-once`;
    expect((await rejection(without.run(crashOnce, second))).code).toBe('ERR_TANDEM_WORKER_CRASHED');
  });
});
