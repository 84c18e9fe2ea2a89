import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool, type PoolOptions } from 'tandem';

export const allBackends = ['thread', 'process', 'inline'] as const;
export const workerBackends = ['thread', 'process'] as const;

const pools = new Set<Pool>();
const dirs: string[] = [];

/** A pool that `cleanup()` terminates, whatever the test did. */
export function makePool(options: PoolOptions): Pool {
  const pool = new Pool(options);
  pools.add(pool);
  return pool;
}

/** A fresh temporary folder, removed by `cleanup()`. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-test-'));
  dirs.push(dir);
  return dir;
}

export function openGate(path: string): void {
  writeFileSync(path, '');
}

export async function cleanup(): Promise<void> {
  await Promise.all([...pools].map((pool) => pool.terminate()));
  pools.clear();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Polls `condition` until it holds; fails after `deadlineMs` (a deadline, never a speed assertion). */
export async function eventually(condition: () => boolean, what: string, deadlineMs = 15_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function exists(path: string): boolean {
  return existsSync(path);
}

/** Rejection of a promise, or a failure if it fulfils. */
export async function rejection(promise: PromiseLike<unknown>): Promise<any> {
  try {
    const value = await promise;
    throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
  } catch (error) {
    return error;
  }
}
