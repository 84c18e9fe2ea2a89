// An idle process worker sleeps: none of its threads wakes up every few milliseconds (the keeper looks
// for rescued results only while some wait, src/worker/process-serve.ts). Counted with the kernel's
// per-thread count of voluntary context switches, so Linux only.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Pool } from 'tandem';
import { pidOf } from '../fixtures/core-tasks.mjs';

const pools: Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.terminate()));
});

/** Voluntary context switches of every thread of `pid` so far (each is a sleep the thread woke from). */
function wakeUps(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      total += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return total;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!existsSync('/proc/self/task'))('an idle process worker', () => {
  it('wakes up only now and then, not every few milliseconds', async () => {
    const pool = new Pool({ backend: 'process', size: 1, idleTimeout: Infinity });
    pools.push(pool);
    const pid = (await pool.run(pidOf)) as number;
    // Several calls, so that results were copied for rescue and flushed at least once.
    await Promise.all(Array.from({ length: 20 }, () => pool.run(pidOf)));
    await sleep(100);
    const before = wakeUps(pid);
    await sleep(1_000);
    // A watcher polling every 5 ms would wake ~200 times here; the parent check runs every 500 ms.
    expect(wakeUps(pid) - before).toBeLessThan(40);
  });
});
