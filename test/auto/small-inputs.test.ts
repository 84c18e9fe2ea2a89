// backend: 'auto' measures a task's first calls (its probes) before it places
// the task. Inputs shorter than the probes, probes that fail, and a consumer
// that is given the rest of the input must all end as on a fixed backend.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, type Pool, TaskError } from 'tandem';
import { type Probe, cleanup, eventually, makePool, probe, rejection, runScript, settles } from '../helpers.js';
import { add, countRun, square } from '../fixtures/tasks.mjs';
import { failOrGate } from '../fixtures/auto-tasks.mjs';

afterEach(cleanup);

const script = fileURLToPath(new URL('../fixtures/auto-small-inputs.mjs', import.meta.url));

describe("backend: 'auto' with fewer items than its probe calls", () => {
  it('a script mapping over 0, 1 and 2 items exits with the results (the README starmap example too)', { timeout: 60_000 }, async () => {
    const run = await runScript(script, { deadlineMs: 40_000 });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      map0: [],
      starmap0: [],
      imap0: [],
      map1: [1],
      starmap1: [11],
      imap1: [1],
      map2: [1, 4],
      starmap2: [11, 12],
      imap2: [1, 4],
      readme: [3, 7],
    });
  });

  it.each([0, 1, 2])('map and starmap over %i items resolve in this process, and the task is placed later', async (n) => {
    const pool = makePool({ backend: 'auto', size: 2 });
    const items = Array.from({ length: n }, (_, i) => i + 1);
    expect(await settles(pool.map(square, items), `map over ${n} items`)).toEqual(items.map((i) => i * i));
    expect(
      await settles(
        pool.starmap(
          add,
          items.map((i) => [i, 1] as [number, number]),
        ),
        `starmap over ${n} items`,
      ),
    ).toEqual(items.map((i) => i + 1));
    const streamed: number[] = [];
    for await (const value of pool.imap(square, items)) streamed.push(value);
    expect(streamed).toEqual(items.map((i) => i * i));
    // Enough calls later, the task is measured and placed as usual.
    expect(await settles(pool.map(square, [1, 2, 3, 4, 5]), 'map over 5 items')).toEqual([1, 4, 9, 16, 25]);
    expect(pool.explain(square).backend).not.toBe('undecided');
  });

  /**
   * The pool has two workers: probes that were not cancelled would hold both
   * (they wait for a gate nobody opens) and the call after them would hang.
   */
  async function expectProbesCancelled(pool: Pool, gate: Probe): Promise<void> {
    expect(await settles(pool.run(square, 3), 'a call after the failed one')).toBe(9);
    // At most the two probes besides the failing one started; the rest of the input never did.
    expect(gate.started()).toBeLessThanOrEqual(2);
    await eventually(() => gate.aborted() === gate.started(), 'every probe that started to see its signal abort');
  }

  it('a probe call that fails rejects the map, cancels the other probes and runs none of the rest', async () => {
    const pool = makePool({ backend: 'auto', size: 2 });
    const gate = probe('thread');
    const items = ['fail', 'wait', 'wait', 'wait', 'wait'].map((what) => ({ probe: gate.arg, what }));
    const error = await settles(rejection(pool.map(failOrGate, items)), 'the map');
    expect(error).toBeInstanceOf(TaskError);
    await expectProbesCancelled(pool, gate);
  });

  it('the same for imap: the failing probe ends the loop, cancels the other probes and closes the input', async () => {
    const pool = makePool({ backend: 'auto', size: 2 });
    const gate = probe('thread');
    const state = { pulled: 0, closed: false };
    function* input(): Generator<{ probe: SharedArrayBuffer | string; what: string }> {
      try {
        for (;;) yield { probe: gate.arg, what: state.pulled++ === 0 ? 'fail' : 'wait' };
      } finally {
        state.closed = true;
      }
    }
    const iterator = pool.imap(failOrGate, input());
    expect(await settles(rejection(iterator.next()), 'the first next()')).toBeInstanceOf(TaskError);
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    expect(state.closed).toBe(true);
    await expectProbesCancelled(pool, gate);
  });

  it('imap: probes that fail while nobody reads are thrown in order when reading reaches them, not reported as unhandled', async () => {
    const pool = makePool({ backend: 'auto', size: 2 });
    const gate = probe('thread');
    gate.open();
    const items = ['ok', 'fail', 'fail', 'ok'].map((what) => ({ probe: gate.arg, what }));
    const iterator = pool.imap(failOrGate, items);
    expect(await settles(iterator.next(), 'the first next()')).toEqual({ done: false, value: 'ok' });
    await eventually(() => pool.stats().failed === 2, 'both failing probes to fail');
    expect(await settles(rejection(iterator.next()), 'the second next()')).toBeInstanceOf(TaskError);
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it('an aborted signal fails map and imap at once, with nothing run', async () => {
    const pool = makePool({ backend: 'auto', size: 1 });
    const ran = probe('thread');
    const controller = new AbortController();
    controller.abort();
    for (const n of [0, 2, 5]) {
      const items = Array(n).fill(ran.arg);
      expect(await settles(rejection(pool.map(countRun, items, { signal: controller.signal })), `map over ${n}`)).toBeInstanceOf(
        CancelledError,
      );
      expect(await settles(rejection(pool.imap(countRun, items, { signal: controller.signal }).next()), `imap over ${n}`)).toBeInstanceOf(
        CancelledError,
      );
    }
    // A later call on the one worker runs after anything queued before it.
    await pool.run(countRun, ran.arg);
    expect(ran.ran()).toBe(1);
  });
});
