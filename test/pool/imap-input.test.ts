// imap over an input that fails, or with a signal that has already aborted:
// the error comes out of next() (never a next() that does not settle), after
// the results of the items pulled before it when ordered, and the iterator is
// done afterwards. `auto` is here too: its first items take another path (the
// probe calls that measure the task).
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError } from 'tandem';
import { allBackends, cleanup, makePool, probe, rejection, settles } from '../helpers.js';
import { countRun, square } from '../fixtures/tasks.mjs';

afterEach(cleanup);

const backends = [...allBackends, 'auto'] as const;

class InputBroke extends Error {}

/** Where the input fails: a sync or async iterable that throws on its first item, on a later one, or from [Symbol.iterator]() itself. */
const failingInputs = {
  'a sync generator that throws on its first item': (error: Error) => ({
    // biome-ignore lint/correctness/useYield: a generator that fails before its first item, on purpose
    input: (function* (): Generator<number> {
      throw error;
    })(),
    before: [] as number[],
  }),
  'a sync generator that throws after three items': (error: Error) => ({
    input: (function* (): Generator<number> {
      yield 1;
      yield 2;
      yield 3;
      throw error;
    })(),
    before: [1, 2, 3],
  }),
  'a sync iterable whose [Symbol.iterator]() throws': (error: Error) => ({
    input: {
      [Symbol.iterator](): Iterator<number> {
        throw error;
      },
    },
    before: [] as number[],
  }),
  'an async generator that throws on its first item': (error: Error) => ({
    // biome-ignore lint/correctness/useYield: a generator that fails before its first item, on purpose
    input: (async function* (): AsyncGenerator<number> {
      throw error;
    })(),
    before: [] as number[],
  }),
  'an async generator that throws after three items': (error: Error) => ({
    input: (async function* (): AsyncGenerator<number> {
      yield 1;
      yield 2;
      yield 3;
      throw error;
    })(),
    before: [1, 2, 3],
  }),
  'an async iterable whose [Symbol.asyncIterator]() throws': (error: Error) => ({
    input: {
      [Symbol.asyncIterator](): AsyncIterator<number> {
        throw error;
      },
    },
    before: [] as number[],
  }),
  'an async iterator whose next() returns a rejected promise after two items': (error: Error) => {
    let pulled = 0;
    return {
      input: {
        [Symbol.asyncIterator]: (): AsyncIterator<number> => ({
          next: () => (++pulled <= 2 ? Promise.resolve({ done: false, value: pulled }) : Promise.reject(error)),
        }),
      },
      before: [1, 2],
    };
  },
  'a sync iterator whose next() throws on its first item': (error: Error) => ({
    input: {
      [Symbol.iterator]: (): Iterator<number> => ({
        next: () => {
          throw error;
        },
      }),
    },
    before: [] as number[],
  }),
};

describe.each(backends)('imap (%s) over an input that fails', (backend) => {
  describe.each(Object.entries(failingInputs))('%s', (_, make) => {
    it.each([true, false])(
      'ordered: %s — next() rejects with its error, after the items before it when ordered, then the iterator is done',
      async (ordered) => {
        const pool = makePool({ backend, size: 2 });
        const error = new InputBroke('input broke');
        const { input, before } = make(error);
        const iterator = pool.imap(square, input, { ordered, chunksize: 2 });
        const seen: number[] = [];
        let thrown: unknown = null;
        for (;;) {
          try {
            const step = await settles(iterator.next(), 'next()');
            if (step.done) break;
            seen.push(step.value);
          } catch (caught) {
            thrown = caught;
            break;
          }
        }
        expect(thrown).toBe(error);
        const expected = before.map((n) => n * n);
        if (ordered) expect(seen).toEqual(expected);
        else expect(seen.every((value) => expected.includes(value))).toBe(true);
        expect(await settles(iterator.next(), 'next() after the error')).toEqual({ done: true, value: undefined });
        // The pool still serves.
        expect(await pool.run(square, 4)).toBe(16);
      },
    );
  });

  it('a source iterator whose next() threw is not closed again (as for-of does not close it)', async () => {
    const pool = makePool({ backend, size: 2 });
    const error = new InputBroke('input broke');
    let returned = 0;
    const input = {
      [Symbol.iterator]: (): Iterator<number> => ({
        next: () => {
          throw error;
        },
        return: () => {
          returned++;
          return { done: true, value: undefined };
        },
      }),
    };
    expect(await settles(rejection(pool.imap(square, input).next()), 'next()')).toBe(error);
    expect(returned).toBe(0);
  });
});

describe.each(backends)('imap (%s) with a signal that has already aborted', (backend) => {
  it.each([true, false])(
    'ordered: %s — the first next() rejects with CancelledError, nothing runs, and the input is closed',
    async (ordered) => {
      const pool = makePool({ backend, size: 1 });
      const ran = probe(backend === 'process' ? 'process' : 'thread');
      let pulled = 0;
      function* input(): Generator<SharedArrayBuffer | string> {
        for (let i = 0; i < 5; i++) {
          pulled++;
          yield ran.arg;
        }
      }
      const source = input();
      const controller = new AbortController();
      controller.abort(new Error('the user gave up'));
      const iterator = pool.imap(countRun, source, { ordered, signal: controller.signal });
      const error = await settles(rejection(iterator.next()), 'the first next()');
      expect(error).toBeInstanceOf(CancelledError);
      expect(await iterator.next()).toEqual({ done: true, value: undefined });
      expect(pulled).toBe(0);
      // Closed: a generator closed before it started never runs.
      expect(source.next()).toEqual({ done: true, value: undefined });
      expect(pulled).toBe(0);
      // The one worker runs this call after anything queued before it: only this call ran.
      await pool.run(countRun, ran.arg);
      expect(ran.ran()).toBe(1);
    },
  );
});
