// A module that declares tasks and starts a pool at its top level needs the
// `if (!isWorker())` guard: workers import it again. Without the guard, a
// worker that is loading it refuses to start the pool (UnguardedPoolError),
// and the caller's call fails with that error, instead of every worker
// starting pools of its own without end. A task may still start a pool in its
// body, even while another module loads in the same worker.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, makePool, runScript, settles, workerBackends } from '../helpers.js';
import { squareOnOwnPool, squareWhileAnotherLoads } from '../fixtures/pool-in-task.mjs';
import { loaded } from '../fixtures/slow-load.mjs';

afterEach(cleanup);

const scripts = {
  'an ES module': fileURLToPath(new URL('../fixtures/unguarded-pool.mjs', import.meta.url)),
  'a CommonJS module': fileURLToPath(new URL('../fixtures/unguarded-pool.cjs', import.meta.url)),
};

describe.each(Object.entries(scripts))('%s that starts a pool at its top level without the guard', (_, script) => {
  it.each([...workerBackends, 'auto'])(
    'run as a script (%s): its call fails with UnguardedPoolError and the script exits',
    { timeout: 60_000 },
    async (backend) => {
      // Before the fix this script never exits: each worker starts a pool of its own.
      const run = await runScript(script, { env: { TANDEM_TEST_BACKEND: backend }, deadlineMs: 30_000 });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout) as { code: string; isClass: boolean; module: string; workers: number };
      expect(report.code).toBe('ERR_TANDEM_UNGUARDED_POOL');
      expect(report.isClass).toBe(true);
      expect([script, pathToFileURL(script).href]).toContain(report.module);
      expect(report.workers).toBeLessThanOrEqual(1);
    },
  );
});

describe.each(workerBackends)('a task that starts a pool in its body (%s)', (backend) => {
  it.each(['inline', 'thread'] as const)('runs it on its own %s pool and returns the result', async (inner) => {
    const pool = makePool({ backend, size: 1 });
    expect(await settles(pool.run(squareOnOwnPool, inner, 6), 'the call')).toBe(36);
  });

  it('may do so while another task module is loading in the same worker', async () => {
    const pool = makePool({ backend, size: 1, concurrencyPerWorker: 2 });
    // The first call waits until the second call's module is loading, then starts a pool;
    // that module finishes loading only once the pool has been started and closed.
    const first = pool.run(squareWhileAnotherLoads, 'inline', 7);
    const second = pool.run(loaded);
    expect(await settles(first, 'the call that starts a pool')).toBe(49);
    expect(await settles(second, 'the call of the module that was loading')).toBe('loaded');
  });
});
