// What each runtime does where runtimes differ, asserted on the runtime the
// suite runs under (CI runs it under Node, Bun and Deno). An option a runtime
// cannot honour is refused at `new Pool` with UnsupportedRuntimeError; a flag
// the runtime itself treats differently is shown doing what docs/runtimes.md
// says. Tests elsewhere that need what a runtime lacks name this file.
import { afterEach, describe, expect, it } from 'vitest';
import { type PoolOptions, UnsupportedRuntimeError, TandemError } from 'tandem';
import { cleanup, eventually, makePool, rejection, runtime } from '../helpers.js';
import { add } from '../fixtures/tasks.mjs';
import { countUntilTold, heapLimitMb } from '../fixtures/runtime-tasks.mjs';

afterEach(cleanup);

const limits = { maxOldGenerationSizeMb: 64 };
const pools: [string, PoolOptions][] = [
  ['thread', { backend: 'thread' }],
  ['process', { backend: 'process' }],
  ['auto', { backend: 'auto' }],
  ['auto with isolate', { backend: 'auto', isolate: true }],
];
/** Where resourceLimits cannot hold a worker: Bun enforces none, Deno's threads hang at the limit. */
const refused: Record<typeof runtime, string[]> = {
  node: [],
  bun: ['thread', 'process', 'auto', 'auto with isolate'],
  deno: ['thread', 'auto'],
};

describe(`resourceLimits on ${runtime}`, () => {
  it.each(pools)('%s', async (name, options) => {
    const make = (): unknown => makePool({ ...options, size: 1, resourceLimits: limits });
    if (refused[runtime].includes(name)) {
      let error: unknown;
      try {
        make();
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(UnsupportedRuntimeError);
      expect(error).toBeInstanceOf(TandemError);
      expect(error).toMatchObject({ code: 'ERR_TANDEM_UNSUPPORTED_RUNTIME', feature: expect.stringContaining('resourceLimits') });
      expect((error as UnsupportedRuntimeError).runtime.toLowerCase()).toContain(runtime);
    } else {
      const pool = make() as ReturnType<typeof makePool>;
      expect(await pool.run(add, 1, 2)).toBe(3);
      // test/pool/crash.test.ts shows a worker held to its limit failing with out-of-memory.
      if (name !== 'auto') expect(await pool.run(heapLimitMb)).toBeLessThan(512);
    }
  });
});

describe(`execArgv on ${runtime}`, () => {
  it.each(['thread', 'process'] as const)(
    'a flag the runtime does not know (%s): Node and Deno refuse to start the worker, Bun ignores it',
    async (backend) => {
      const pool = makePool({ backend, size: 1, execArgv: ['--no-such-flag'] });
      if (runtime === 'bun') expect(await pool.run(add, 2, 2)).toBe(4);
      else expect(await rejection(pool.run(add, 2, 2))).toMatchObject({ code: 'ERR_TANDEM_WORKER_CRASHED' });
    },
  );

  it('a V8 heap flag for process workers: Node and Deno apply it, Bun (JavaScriptCore) ignores it', async () => {
    const pool = makePool({ backend: 'process', size: 1, execArgv: ['--max-old-space-size=64'] });
    const limit = await pool.run(heapLimitMb);
    if (runtime === 'bun') expect(limit).toBeGreaterThan(64);
    else expect(limit).toBeLessThan(512);
  });
});

describe(`stopping a thread deep in synchronous code, on ${runtime}`, () => {
  it('a call past its timeout: Node and Bun stop its thread; Deno cannot, and the thread counts on after close()', async () => {
    const shared = new SharedArrayBuffer(8);
    const slots = new Int32Array(shared);
    try {
      const pool = makePool({ backend: 'thread', size: 1 });
      expect(await rejection(pool.submit(countUntilTold, [shared], { timeout: 200 }))).toMatchObject({ code: 'ERR_TANDEM_TASK_TIMEOUT' });
      await pool.close();
      const after = Atomics.load(slots, 0);
      if (runtime === 'deno') {
        await eventually(() => Atomics.load(slots, 0) > after, 'the thread the timeout meant to stop to go on counting');
      } else {
        // Stopped: nothing counts any more, however long one waits (a while is enough to see it).
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(Atomics.load(slots, 0)).toBe(after);
      }
    } finally {
      // Ends the loop wherever it still runs.
      Atomics.store(slots, 1, 1);
    }
  });
});
