// A model test of SharedQueue streams from process workers (src/share/queue-side.ts): random scripts of
// puts and gets (Sync, async, several at once, tryGet, gets that time out) run as calls on two process
// workers at once, a call after another on the same worker (a settle between them). Against a multiset:
// every value whose put returned is used exactly once or is still in the queue. (Not checked: that one
// consumer sees one producer's values in order — values another call took ahead come back to the front
// at its settle, after later ones were used: [[["put",18],["getSync",4]],[["get",50]]] shows 13 then 7.)
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { SharedQueue } from 'tandem';
import { queueScript } from '../fixtures/queue-stream.mjs';
import { closePools, syncPool } from '../sync/pools.js';

afterEach(closePools);

const RUNS = Number(process.env.TANDEM_MODEL_RUNS) || 12;
const SEED = process.env.TANDEM_MODEL_SEED === 'random' ? undefined : Number(process.env.TANDEM_MODEL_SEED ?? 2026);

type Op = [op: 'put' | 'putAwait' | 'getSync' | 'get' | 'tryGet' | 'gets', count: number];

const op: fc.Arbitrary<Op> = fc.tuple(
  fc.constantFrom('put', 'putAwait', 'getSync', 'get', 'tryGet', 'gets'),
  fc.integer({ min: 1, max: 300 }),
) as fc.Arbitrary<Op>;
/** Scripts of one run: each a call, its values numbered from its own base. */
const scripts = fc.array(fc.array(op, { minLength: 1, maxLength: 6 }), { minLength: 2, maxLength: 5 });

/** Values apart per script: a value's script is value / SPAN. */
const SPAN = 1_000_000;

describe('SharedQueue streams, model', () => {
  it('values put by process calls are used once or still there', async () => {
    const pool = syncPool('process', 2);
    await fc.assert(
      fc.asyncProperty(scripts, fc.constantFrom(1, 20), async (runs, ms) => {
        const queue = new SharedQueue<number>({ byteLength: 1 << 20 });
        const outcomes = await Promise.all(runs.map((ops, i) => pool.run(queueScript, queue, ops, i * SPAN, ms)));
        const put = outcomes.flatMap(([values]) => values as number[]);
        const left: number[] = [];
        for (let next = queue.tryGet(); next; next = queue.tryGet()) left.push(next.value);
        const used = outcomes.flatMap(([, values]) => values as number[]);
        expect([...used, ...left].sort((a, b) => a - b)).toEqual([...put].sort((a, b) => a - b));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  }, 600_000);
});
