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

/** Voluntary context switches of each thread of `pid` so far (each is a sleep the thread woke from), by thread id and name. */
function wakeUps(pid: number): Map<string, number> {
  const threads = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const name = /Name:\s+(.*)/.exec(status)?.[1] ?? '?';
      threads.set(`${tid} (${name})`, Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return threads;
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
    // Each thread on its own: a watcher polling every 5 ms would wake ~200 times here, and the parent check
    // runs every 500 ms. The runtime's own threads wake too, but not that often (Bun's heap helper and
    // allocator threads, 25-35 times a second between them, ~15 the busiest).
    const woke = [...wakeUps(pid)].map(([thread, count]) => [thread, count - (before.get(thread) ?? 0)] as const);
    const [busiest, count] = woke.reduce((most, next) => (next[1] > most[1] ? next : most));
    expect(count, `wake-ups of thread ${busiest} in 1 s (all: ${JSON.stringify(Object.fromEntries(woke))})`).toBeLessThan(50);
  });
});
