// Pools for the sync and shared-memory tests; closePools() (afterEach) terminates them all.
import { Pool } from 'tandem';

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
