// Timeouts that keep their promise (issue 8, "Crashes and timeouts"): a
// timeout still stops a call that was cancelled while running; a call that
// fails when its batch is sent leaves no stale deadline behind; the clock
// starts when the call starts, not while its task module loads; and a huge
// timeout is a long timer, not a warning every millisecond.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, SerializationError } from 'tandem';
import { cleanup, eventually, makePool, probe, rejection, workerBackends } from '../helpers.js';
import { add, byteSum, echo, whoAmI } from '../fixtures/tasks.mjs';
import { blockForever } from '../fixtures/core-tasks.mjs';
import { IMPORT_MS, loaded } from '../fixtures/slow-import-tasks.mjs';
import { within } from './watch.js';

afterEach(cleanup);

/** Lets `ms` of wall time pass: for tests whose point is that a deadline went by (never a speed assertion). */
async function letTimePass(ms: number): Promise<void> {
  const from = Date.now();
  await eventually(() => Date.now() - from > ms, `${ms} ms to pass`);
}

describe.each(workerBackends)('timeouts (%s)', (backend) => {
  it('cancelling a running call that has a timeout still stops its worker at the timeout: the next call runs, close() ' +
    'returns', async () => {
    const pool = makePool({ backend, size: 1 });
    const watch = probe(backend);
    const stuck = pool.submit(blockForever, [watch.arg], { timeout: 500 });
    await watch.untilStarted();
    expect(stuck.cancel()).toBe(true);
    expect(await rejection(stuck)).toBeInstanceOf(CancelledError);
    const next = pool.submit(echo, ['next']);
    expect(await within(next, 15_000, 'the call after the cancelled one')).toBe('next');
    await within(pool.close(), 15_000, 'close()');
  }, 60_000);

  it('a call whose argument cannot be sent (detached after submit) fails once; its timeout kills no healthy worker', async () => {
    const pool = makePool({ backend, size: 1 });
    const worker = await pool.run(whoAmI);
    const buffer = new ArrayBuffer(8);
    const bad = pool.submit(byteSum, [buffer], { timeout: 300 });
    // Detached in the same tick, before the batch that carries the call is sent.
    structuredClone(buffer, { transfer: [buffer] });
    const error = await rejection(bad);
    expect(error).toBeInstanceOf(SerializationError);
    // The point: the call's deadline passes while nothing of it runs anywhere.
    await letTimePass(1_000);
    let stats = pool.stats();
    expect(stats).toMatchObject({ failed: 1, running: 0, queued: 0, workers: 1 });
    expect(await within(pool.run(whoAmI), 15_000, 'the call after the unsendable one')).toBe(worker);
    expect(await pool.run(add, 1, 1)).toBe(2);
    stats = pool.stats();
    expect(stats).toMatchObject({ failed: 1, running: 0, queued: 0, completed: 3 });
    await within(pool.close(), 15_000, 'close()');
  }, 60_000);

  it('the timeout does not count the time the task module takes to load', async () => {
    const pool = makePool({ backend, size: 1 });
    await pool.ready();
    // The module takes IMPORT_MS to load; the task itself returns at once.
    const timeout = Math.round(IMPORT_MS / 2);
    expect(await pool.submit(loaded, [], { timeout })).toBe('loaded');
  }, 60_000);
});

describe('arguments that fail when sent (thread)', () => {
  it('two calls with a timeout that transfer the same buffer in one tick: neither runs on an emptied buffer; no stale ' +
    'deadline', async () => {
    const pool = makePool({ backend: 'thread', size: 1 });
    const worker = await pool.run(whoAmI);
    expect(await pool.run(byteSum, new ArrayBuffer(1))).toBe(0);
    const buffer = new Uint8Array([1, 2, 3]).buffer;
    const first = pool.submit(byteSum, [buffer], { transfer: [buffer], timeout: 300 });
    const second = pool.submit(byteSum, [buffer], { transfer: [buffer], timeout: 300 });
    const outcomes = await Promise.allSettled([first, second]);
    // The second call cannot have the buffer the first took: it fails, or it got a copy; never an empty buffer.
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') expect(outcome.value).toBe(6);
      else expect(outcome.reason).toBeInstanceOf(SerializationError);
    }
    await letTimePass(1_000);
    const failed = outcomes.filter((outcome) => outcome.status === 'rejected').length;
    expect(pool.stats()).toMatchObject({ failed, running: 0, queued: 0, workers: 1 });
    expect(await within(pool.run(whoAmI), 15_000, 'the call after them')).toBe(worker);
    await within(pool.close(), 15_000, 'close()');
  }, 60_000);
});

describe('huge timeouts', () => {
  it('a timeout and an idleTimeout of 1e10 ms print no TimeoutOverflowWarning', async () => {
    const script = fileURLToPath(new URL('../fixtures/huge-timeouts.mjs', import.meta.url));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const code = await within(new Promise<number | null>((resolve) => child.once('exit', resolve)), 30_000, 'the script to end');
      expect(stdout).toBe('done\n');
      expect(code).toBe(0);
      expect(stderr).not.toMatch(/TimeoutOverflowWarning/);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
