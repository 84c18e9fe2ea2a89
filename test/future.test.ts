import { afterEach, describe, expect, it } from 'vitest';
import { asCompleted, wait } from 'tandem';
import { cleanup, makePool, openGate, tempDir } from './helpers.js';
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
});
