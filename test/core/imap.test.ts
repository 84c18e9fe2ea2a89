import { afterEach, describe, expect, it } from 'vitest';
import { allBackends, cleanup, makePool, rejection } from './helpers.js';
import { failOn, square } from './fixtures/tasks.mjs';

afterEach(cleanup);

describe.each(allBackends)('imap backpressure (%s)', (backend) => {
  it('pulls a bounded amount of an endless sync input and closes it when the consumer stops', async () => {
    const pool = makePool({ backend, size: 2 });
    let pulled = 0;
    let closed = false;
    function* endless() {
      try {
        for (let i = 0; ; i++) {
          pulled++;
          yield i;
        }
      } finally {
        closed = true;
      }
    }
    const seen: number[] = [];
    for await (const value of pool.imap(square, endless())) {
      seen.push(value);
      if (seen.length === 10) break;
    }
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => i * i));
    expect(closed).toBe(true);
    expect(pulled).toBeLessThan(5000);
    const pulledAtStop = pulled;
    expect(await pool.run(square, 3)).toBe(9);
    expect(pulled).toBe(pulledAtStop);
  });

  it('does the same for an endless async input', async () => {
    const pool = makePool({ backend, size: 2 });
    let pulled = 0;
    let closed = false;
    async function* endless() {
      try {
        for (let i = 0; ; i++) {
          pulled++;
          yield i;
        }
      } finally {
        closed = true;
      }
    }
    let count = 0;
    for await (const _ of pool.imap(square, endless(), { ordered: false })) {
      if (++count === 10) break;
    }
    expect(closed).toBe(true);
    expect(pulled).toBeLessThan(5000);
  });

  it('throws the first task error and closes the input', async () => {
    const pool = makePool({ backend, size: 2 });
    let closed = false;
    function* input() {
      try {
        for (let i = 0; i < 100; i++) yield i;
      } finally {
        closed = true;
      }
    }
    const error = await rejection(
      (async () => {
        for await (const _ of pool.imap(failOn, input(), { chunksize: 1 })) {
          // consume
        }
      })(),
    );
    expect(error.code).toBe('ERR_TANDEM_TASK');
    expect(error.message).toContain('unlucky');
    expect(closed).toBe(true);
  });
});
