// imap streams: it pulls its input only as results are consumed (a bounded
// amount ahead), and leaving the loop early closes the input.
import { afterEach, describe, expect, it } from 'vitest';
import { allBackends, cleanup, failure, makePool } from '../helpers.js';
import { failOn, square } from '../fixtures/tasks.mjs';

afterEach(cleanup);

/** Far above any sensible read-ahead, far below "read it all". */
const BOUND = 1000;

function endlessSync(state: { pulled: number; closed: boolean }): Generator<number> {
  return (function* () {
    try {
      for (let i = 0; ; i++) {
        state.pulled++;
        yield i;
      }
    } finally {
      state.closed = true;
    }
  })();
}

function endlessAsync(state: { pulled: number; closed: boolean }): AsyncGenerator<number> {
  return (async function* () {
    try {
      for (let i = 0; ; i++) {
        state.pulled++;
        yield i;
      }
    } finally {
      state.closed = true;
    }
  })();
}

describe.each(allBackends)('imap (%s)', (backend) => {
  describe.each([
    ['sync', endlessSync],
    ['async', endlessAsync],
  ] as const)('an endless %s input', (_, endless) => {
    it.each([true, false])('ordered: %s — pulls a bounded amount and closes the input when the consumer breaks', async (ordered) => {
      const pool = makePool({ backend, size: 2 });
      const state = { pulled: 0, closed: false };
      const seen: number[] = [];
      for await (const value of pool.imap(square, endless(state), { ordered })) {
        seen.push(value);
        if (seen.length === 10) break;
      }
      if (ordered) expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => i * i));
      else expect(new Set(seen).size).toBe(10);
      expect(state.closed).toBe(true);
      expect(state.pulled).toBeLessThan(BOUND);
      // Nothing keeps pulling after the loop ended, and the pool still serves.
      const pulledAtStop = state.pulled;
      expect(await pool.run(square, 3)).toBe(9);
      expect(await pool.map(square, [1, 2])).toEqual([1, 4]);
      expect(state.pulled).toBe(pulledAtStop);
    });
  });

  it('with chunksize 7 an endless input is still pulled a bounded amount', async () => {
    const pool = makePool({ backend, size: 2 });
    const state = { pulled: 0, closed: false };
    let count = 0;
    for await (const _ of pool.imap(square, endlessSync(state), { chunksize: 7 })) {
      if (++count === 10) break;
    }
    expect(state.closed).toBe(true);
    expect(state.pulled).toBeLessThan(BOUND);
  });

  it('a consumer that stops early with return() closes the input', async () => {
    const pool = makePool({ backend, size: 2 });
    const state = { pulled: 0, closed: false };
    const iterator = pool.imap(square, endlessAsync(state));
    expect(await iterator.next()).toEqual({ done: false, value: 0 });
    expect(await iterator.return!()).toEqual({ done: true, value: undefined });
    expect(state.closed).toBe(true);
    expect((await iterator.next()).done).toBe(true);
  });

  it('throws the first task error out of the loop and closes the input', async () => {
    const pool = makePool({ backend, size: 2 });
    const state = { closed: false };
    function* input(): Generator<number> {
      try {
        for (let i = 0; i < 100; i++) yield i;
      } finally {
        state.closed = true;
      }
    }
    const seen: number[] = [];
    const error = await failure(async () => {
      for await (const value of pool.imap(failOn, input(), { chunksize: 1 })) seen.push(value);
    });
    expect(error.code).toBe('ERR_TANDEM_TASK');
    expect(error.message).toContain('unlucky');
    expect(state.closed).toBe(true);
    // In order: everything before the failing item was yielded first.
    expect(seen).toEqual(Array.from({ length: 13 }, (_, i) => i));
  });

  it('an input that throws ends the loop with that error', async () => {
    const pool = makePool({ backend, size: 2 });
    async function* input(): AsyncGenerator<number> {
      yield 1;
      yield 2;
      throw new Error('input broke');
    }
    const seen: number[] = [];
    const error = await failure(async () => {
      for await (const value of pool.imap(square, input())) seen.push(value);
    });
    // The input's own error, not a tandem one (results already yielded may be fewer, read-ahead found it).
    expect(error.message).toBe('input broke');
    expect([1, 4].slice(0, seen.length)).toEqual(seen);
    expect(await pool.run(square, 2)).toBe(4);
  });
});
