// Pools for the sync and shared-memory tests; closePools() (afterEach) terminates them all.
import { expect } from 'vitest';
import { Barrier, Lock, Pool } from 'tandem';
import { transfer } from '../fixtures/sync-deadlock.mjs';

const pools = new Set<Pool>();

export function threadPool(size: number): Pool {
  return syncPool('thread', size);
}

/** The backends a suite of worker tests runs on: shared objects reach both (process workers through the caller). */
export const syncBackends = ['thread', 'process'] as const;

export function syncPool(backend: (typeof syncBackends)[number], size: number): Pool {
  const pool = new Pool({ backend, size });
  pools.add(pool);
  return pool;
}

export async function closePools(): Promise<void> {
  await Promise.all([...pools].map((pool) => pool.terminate()));
  pools.clear();
}

/** What an error looks like once a task returned it as data: its class name, code and fields. */
export interface ErrorReport {
  name: string;
  code?: string;
  [key: string]: unknown;
}

/** A link of a DeadlockError's cycle, as tests read it (src/errors.ts's DeadlockLink, which tandem does not export). */
export interface CycleLink {
  thread: string;
  holds: string;
  waitsFor: string;
  task?: { name: string; callId?: number };
}

/**
 * Two transfers on `pool` taking locks 'a' and 'b' in opposite order: one gets
 * DeadlockError naming both locks and two distinct threads named like `thread`,
 * the other goes through, and both locks end free. Returns the cycle and the
 * two calls' ids, for what a backend adds to it.
 */
export async function expectOppositeOrderDeadlock(
  pool: Pool,
  thread: RegExp,
  timeout = 20_000,
): Promise<{ cycle: CycleLink[]; callIds: number[] }> {
  const a = new Lock({ name: 'a' });
  const b = new Lock({ name: 'b' });
  const barrier = new Barrier(2);
  const calls = [pool.submit(transfer, [a, b, barrier, timeout]), pool.submit(transfer, [b, a, barrier, timeout])];
  const outcomes = await Promise.all(calls);
  const failed = outcomes.filter((o) => o.outcome === 'deadlock');
  expect(failed).toHaveLength(1);
  expect(outcomes.filter((o) => o.outcome === 'transferred')).toHaveLength(1);
  const cycle = failed[0]?.error?.cycle as CycleLink[];
  expect(cycle.map((link) => [link.holds, link.waitsFor]).sort()).toEqual([
    ['a', 'b'],
    ['b', 'a'],
  ]);
  const names = cycle.map((link) => link.thread);
  expect(new Set(names).size).toBe(2);
  for (const name of names) expect(name).toMatch(thread);
  expect(a.locked() || b.locked()).toBe(false);
  return { cycle, callIds: calls.map((call) => call.id) };
}
