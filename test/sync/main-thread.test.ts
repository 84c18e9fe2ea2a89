// On the main thread, an async wait with a timeout keeps the process alive
// until it ends: a program that does nothing but wait gets its answer at the
// timeout instead of exiting (code 13, "unsettled top-level await"). Seen from
// outside, as a user sees it: a script in a child process.
import { describe, expect, it } from 'vitest';
import { runScript } from '../run-script.js';

function lines(stdout: string): { name: string; result: unknown; elapsed: number }[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

describe('timed waits on the main thread', () => {
  it('every async wait with a timeout returns at its timeout in a program that only waits', { timeout: 60_000 }, async () => {
    const run = await runScript('timed-waits.mjs', ['expire']);
    const results = lines(run.stdout);
    expect(Object.fromEntries(results.map(({ name, result }) => [name, result]))).toEqual({
      'lock.acquire': false,
      'rlock.acquire': false,
      'semaphore.acquire': false,
      'boundedSemaphore.acquire': false,
      'condition.wait': false,
      'condition.waitFor': false,
      'event.wait': false,
      'barrier.wait': 'BrokenBarrierError',
      'queue.get': 'SyncTimeoutError',
      'queue.put': 'SyncTimeoutError',
      'lock.guard': 'SyncTimeoutError',
      'lock.withLock': 'SyncTimeoutError',
    });
    expect(run.code).toBe(0);
    // Not before the timeout (50 ms; a little slack for clock rounding).
    for (const { elapsed } of results) expect(elapsed).toBeGreaterThanOrEqual(45);
  });

  it("a very large timeout (1e10 ms, over setTimeout's limit) prints no TimeoutOverflowWarning", { timeout: 60_000 }, async () => {
    const run = await runScript('timed-waits.mjs', ['huge']);
    expect(run.stderr).not.toMatch(/TimeoutOverflowWarning/);
    expect(run.code).toBe(0);
    expect(lines(run.stdout).map(({ name, result }) => [name, result])).toEqual([
      ['lock.acquire', true],
      ['semaphore.acquire', true],
      ['condition.wait', true],
      ['event.wait', true],
      ['barrier.wait', 0],
      ['queue.get', 'late'],
      ['queue.put', 'put'],
    ]);
  });
});
