import { afterEach, describe, expect, it } from 'vitest';
import { asCompleted, wait, type Future } from 'tandem';
import { cleanup, makePool, openGate, tempDir } from './helpers.js';
import { runScript } from './run-script.js';
import { add, boom, waitForGate } from './fixtures/tasks.mjs';

afterEach(cleanup);

describe('asCompleted and wait', () => {
  it('asCompleted yields futures as they finish', async () => {
    const pool = makePool({ backend: 'inline', size: 4 });
    const dir = tempDir();
    const slow = pool.submit(waitForGate, [`${dir}/gate`]);
    const fast = pool.submit(add, [1, 2]);
    const order: unknown[] = [];
    for await (const future of asCompleted([slow, fast])) {
      order.push(future === fast ? 'fast' : 'slow');
      if (future === fast) openGate(`${dir}/gate`);
    }
    expect(order).toEqual(['fast', 'slow']);
  });

  it('asCompleted throws WaitTimeoutError when time runs out', async () => {
    const pool = makePool({ backend: 'inline', size: 1 });
    const stuck = pool.submit(waitForGate, [`${tempDir()}/never`]);
    const iterator = asCompleted([stuck], { timeout: 20 });
    await expect(iterator.next()).rejects.toMatchObject({ code: 'ERR_TANDEM_WAIT_TIMEOUT' });
    stuck.cancel();
  });

  it('wait splits done and pending by returnWhen', async () => {
    const pool = makePool({ backend: 'thread', size: 2 });
    const dir = tempDir();
    const blocked = pool.submit(waitForGate, [`${dir}/gate`]);
    const failing = pool.submit(boom, ['x']);
    failing.catch(() => {});
    const first = await wait([blocked, failing], { returnWhen: 'first-error' });
    expect([...first.done]).toEqual([failing]);
    expect([...first.pending]).toEqual([blocked]);
    const timedOut = await wait([blocked], { timeout: 20 });
    expect(timedOut.pending.size).toBe(1);
    openGate(`${dir}/gate`);
    const all = await wait([blocked, failing]);
    expect(all.done.size).toBe(2);
    expect(all.pending.size).toBe(0);
  });

  it('done callbacks run once the future settles', async () => {
    const pool = makePool({ backend: 'inline', size: 1 });
    const future = pool.submit(add, [2, 2]);
    const states: string[] = [];
    future.addDoneCallback((f) => states.push(f.state));
    await future;
    future.addDoneCallback((f) => states.push(`late:${f.state}`));
    expect(states).toEqual(['fulfilled', 'late:fulfilled']);
    expect(future.done()).toBe(true);
  });

  it('a throwing done callback is reported the same way whether the future had settled or not', async () => {
    const run = await runScript('done-callbacks.mjs');
    expect(run.code).toBe(0);
    const seen = JSON.parse(run.stdout);
    // Never thrown at the caller, never stops the next callback, always reported as an uncaught error.
    expect(seen.caller).toEqual({ settled: 'returned', pending: 'returned' });
    expect([...seen.ran].sort()).toEqual(['pending next callback', 'settled next callback']);
    expect([...seen.reported].sort()).toEqual(['pending callback failed', 'settled callback failed']);
  });
});

describe('wait and asCompleted with futures already settled', () => {
  /** Two settled futures (one fulfilled, one rejected), one cancelled, and one blocked until `gate` exists. */
  async function mix() {
    const pool = makePool({ backend: 'inline', size: 1 });
    const gate = `${tempDir()}/gate`;
    const fulfilled = pool.submit(add, [1, 2]);
    const rejected = pool.submit(boom, ['x']);
    rejected.catch(() => {});
    await fulfilled;
    await rejected.catch(() => {});
    const blocked = pool.submit(waitForGate, [gate]);
    const queued = pool.submit(add, [3, 4]); // behind `blocked` on the pool's only slot
    queued.cancel();
    const futures = { fulfilled, rejected, cancelled: queued as Future<unknown>, blocked };
    /** The names of a set of these futures, sorted (a diff of futures themselves would print their whole pool). */
    const names = (set: Set<Future<unknown>>): string[] =>
      [...set].map((future) => Object.entries(futures).find(([, f]) => f === future)?.[0] ?? 'another').sort();
    return { pool, gate, names, ...futures };
  }

  it("'first-completed' puts every future that was done at the call in done", async () => {
    const { gate, names, fulfilled, cancelled, blocked } = await mix();
    const { done, pending } = await wait([fulfilled, cancelled, blocked], { returnWhen: 'first-completed' });
    expect(names(done)).toEqual(['cancelled', 'fulfilled']);
    expect(names(pending)).toEqual(['blocked']);
    openGate(gate);
  });

  it("'first-error' returns at once when a future had already rejected, with all the done ones", async () => {
    const { gate, names, fulfilled, rejected, cancelled, blocked } = await mix();
    const { done, pending } = await wait([fulfilled, cancelled, blocked, rejected], { returnWhen: 'first-error' });
    expect(names(done)).toEqual(['cancelled', 'fulfilled', 'rejected']);
    expect(names(pending)).toEqual(['blocked']);
    openGate(gate);
  });

  it("'first-error' does not end on a cancelled future (already cancelled, or cancelled during the wait)", async () => {
    const { pool, gate, names, fulfilled, cancelled, blocked } = await mix();
    const later = pool.submit(add, [5, 6]); // queued behind `blocked`
    const waiting = wait([cancelled, fulfilled, blocked, later], { returnWhen: 'first-error' });
    later.cancel();
    openGate(gate); // only now can every future be done
    const { done, pending } = await waiting;
    expect(names(done)).toEqual(['another', 'blocked', 'cancelled', 'fulfilled']);
    expect(names(pending)).toEqual([]);
  });

  it('asCompleted yields the futures done at the call first, then the others as they finish', async () => {
    const { gate, names, fulfilled, rejected, cancelled, blocked } = await mix();
    const order: string[] = [];
    for await (const future of asCompleted([blocked, fulfilled, rejected, cancelled])) {
      order.push(...names(new Set([future])));
      if (order.length === 3) openGate(gate);
    }
    expect(order).toEqual(['fulfilled', 'rejected', 'cancelled', 'blocked']);
  });

  it("a very large timeout (1e10 ms, over setTimeout's limit) prints no TimeoutOverflowWarning", async () => {
    const run = await runScript('timed-waits.mjs', ['futures']);
    expect(run.stderr).not.toMatch(/TimeoutOverflowWarning/);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ wait: { done: 1, pending: 0 }, asCompleted: 1 });
  });
});
