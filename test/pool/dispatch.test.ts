// Where calls go (issue 8, "Parallelism and latency"): a call never waits
// behind a busy worker while another worker is idle or could be started,
// whatever ran before; a finished call's result never waits for another call;
// a call cancelled while pending never runs, even once the pool sends calls
// ahead to its workers.
//
// Parallelism is proved with latches (every call waits until all have
// started, with a deadline), never by timing.
import { afterEach, describe, expect, it } from 'vitest';
import { Barrier, Event, type Pool } from 'tandem';
import { cleanup, eventually, makePool, probe, rejection, workerBackends } from '../helpers.js';
import { count, echo, gated } from '../fixtures/tasks.mjs';
import { blockUntilGate, countThenBlock, meetAt, rendezvous, waitForEvent } from '../fixtures/core-tasks.mjs';
import { warmUp, warmUpOneByOne } from './watch.js';

afterEach(cleanup);

// Long enough for a slow machine to start three more workers; a pool that
// runs the calls one after another meets none of them before it.
const MEET_DEADLINE_MS = 20_000;

/**
 * A pool that has loaded `blockUntilGate` on its workers (so a call of it does
 * not wait for its module) and has learnt from short calls that calls are
 * short: a pool that pipelines then sends calls ahead to its workers. Short
 * calls sent together start more workers; sent one by one, a single worker.
 */
async function pipeliningPool(
  backend: (typeof workerBackends)[number],
  size = 1,
  warm: 'together' | 'one by one' = 'together',
): Promise<Pool> {
  const pool = makePool({ backend, size });
  const open = probe(backend);
  open.open();
  expect(await pool.run(blockUntilGate, open.arg, 10_000)).toBe('opened');
  if (warm === 'together') await warmUp(pool, 300);
  else await warmUpOneByOne(pool, 20);
  return pool;
}

describe.each(workerBackends)('no call waits behind a busy worker (%s)', (backend) => {
  it.each([
    ['one short call', 1],
    ['twenty short calls one by one', 20],
  ])(
    'after %s, a burst of four blocking calls runs on four workers at once',
    async (_, warm) => {
      const pool = makePool({ backend, size: 4 });
      await warmUpOneByOne(pool, warm);
      const latch = probe(backend);
      const calls = Array.from({ length: 4 }, () => pool.submit(rendezvous, [latch.arg, 4, MEET_DEADLINE_MS]));
      await eventually(() => latch.started() >= 4, 'four calls running at once', MEET_DEADLINE_MS - 2_000);
      const results = await Promise.all(calls);
      expect(results.map((r) => r.met)).toEqual([true, true, true, true]);
    },
    60_000,
  );

  it('calls sent ahead behind a blocked call are run by a worker that is free', async () => {
    const pool = await pipeliningPool(backend, 2);
    const gate = probe(backend);
    const blocker = pool.submit(blockUntilGate, [gate.arg, 60_000]);
    const others = Array.from({ length: 20 }, (_, i) => pool.submit(echo, [i]));
    await gate.untilStarted();
    await eventually(() => others.every((f) => f.done()), 'the other calls to finish while one worker is blocked', 15_000);
    expect(await Promise.all(others)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    gate.open();
    expect(await blocker).toBe('opened');
  }, 60_000);

  it('a call submitted while the only started worker is blocked starts on another worker', async () => {
    const pool = await pipeliningPool(backend, 2, 'one by one');
    expect(pool.stats().workers).toBe(1);
    const gate = probe(backend);
    const blocker = pool.submit(blockUntilGate, [gate.arg, 60_000]);
    await gate.untilStarted();
    const other = pool.submit(echo, ['other']);
    await eventually(() => other.done(), 'the second call to finish on a second worker', 15_000);
    expect(await other).toBe('other');
    gate.open();
    expect(await blocker).toBe('opened');
  }, 60_000);
});

describe('calls that wait on each other are not queued behind a busy worker (thread)', () => {
  it.each([
    ['one short call', 8, 1],
    ['twenty short calls one by one', 60, 20],
  ])(
    'after %s, %i calls waiting on one Event: four wait at once on a pool of four, then all see it set',
    async (_, calls, warm) => {
      const pool = makePool({ backend: 'thread', size: 4 });
      await warmUpOneByOne(pool, warm);
      const event = new Event();
      const started = probe('thread');
      const waits = Array.from({ length: calls }, () => pool.submit(waitForEvent, [event, started.arg, 30_000]));
      await eventually(() => started.started() >= 4, 'four of the calls to wait at once', 15_000);
      event.set();
      expect(await Promise.all(waits)).toEqual(Array.from({ length: calls }, () => true));
    },
    60_000,
  );

  it('two calls meeting at a Barrier(2) both pass', async () => {
    const pool = makePool({ backend: 'thread', size: 4 });
    await warmUpOneByOne(pool, 20);
    const barrier = new Barrier(2);
    const indexes = await Promise.allSettled([pool.submit(meetAt, [barrier, 15_000]), pool.submit(meetAt, [barrier, 15_000])]);
    expect(indexes.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(indexes.map((r) => (r as PromiseFulfilledResult<number>).value).sort()).toEqual([0, 1]);
  }, 60_000);
});

describe.each(workerBackends)("a finished call's result does not wait for the next call (%s)", (backend) => {
  it('a quick call settles while the blocking call sent after it to the same worker still runs', async () => {
    const pool = await pipeliningPool(backend);
    const gate = probe(backend);
    const quick = pool.submit(echo, ['quick']);
    const blocker = pool.submit(blockUntilGate, [gate.arg, 60_000]);
    await eventually(() => quick.done(), 'the quick call to settle while the gate is closed', 15_000);
    expect(await quick).toBe('quick');
    expect(blocker.done()).toBe(false);
    gate.open();
    expect(await blocker).toBe('opened');
  }, 60_000);
});

describe.each(workerBackends)('a call cancelled while pending never runs (%s)', (backend) => {
  it('behind a blocking call, after the pool has learnt to send calls ahead', async () => {
    const pool = await pipeliningPool(backend);
    const gate = probe(backend);
    const blocker = pool.submit(blockUntilGate, [gate.arg, 60_000]);
    const behind = Array.from({ length: 5 }, (_, i) => pool.submit(count, [gate.arg, i]));
    await gate.untilStarted();
    for (const future of behind) expect(future.state).toBe('pending');
    for (const future of behind) expect(future.cancel()).toBe(true);
    for (const future of behind) expect((await rejection(future)).code).toBe('ERR_TANDEM_CANCELLED');
    gate.open();
    expect(await blocker).toBe('opened');
    expect(await pool.run(count, gate.arg, 'after')).toBe('after');
    expect(gate.ran()).toBe(1);
    expect(pool.stats().cancelled).toBe(5);
  }, 60_000);

  it('behind a burst of 1 ms calls sent in the same batch', async () => {
    const pool = await pipeliningPool(backend);
    const burstRuns = probe(backend);
    const watch = probe(backend);
    // Calls too short for the worker to stop between them and read its
    // messages: the cancel reaches it only after the whole burst, unless the
    // last call was never sent ahead. (Sizes that a pipelining pool sends in
    // one batch: a file probe makes each process call slower.)
    const size = backend === 'thread' ? 30 : 60;
    const burst = Array.from({ length: size }, (_, i) => pool.submit(countThenBlock, [burstRuns.arg, 1, i]));
    const last = pool.submit(count, [watch.arg, 'last']);
    await eventually(() => burstRuns.ran() >= 5, 'the burst to start');
    expect(last.state).toBe('pending');
    expect(last.cancel()).toBe(true);
    expect((await rejection(last)).code).toBe('ERR_TANDEM_CANCELLED');
    expect(await Promise.all(burst)).toEqual(Array.from({ length: size }, (_, i) => i));
    expect(await pool.run(echo, 'after')).toBe('after');
    expect(watch.ran()).toBe(0);
  }, 60_000);

  it('a call its worker has started is not reported pending (a cancel would then not keep it from running)', async () => {
    const pool = await pipeliningPool(backend);
    const gate = probe(backend);
    const quick = pool.submit(echo, ['quick']);
    const blocker = pool.submit(blockUntilGate, [gate.arg, 60_000]);
    await gate.untilStarted();
    expect(blocker.state).toBe('running');
    gate.open();
    expect(await quick).toBe('quick');
    expect(await blocker).toBe('opened');
  }, 60_000);

  it('behind an async call, after the pool has learnt to send calls ahead', async () => {
    const pool = await pipeliningPool(backend);
    const gate = probe(backend);
    const blocker = pool.submit(gated, [gate.arg, 'blocker']);
    const behind = pool.submit(count, [gate.arg, 'behind']);
    await gate.untilStarted();
    expect(behind.state).toBe('pending');
    expect(behind.cancel()).toBe(true);
    gate.open();
    expect(await blocker).toBe('blocker');
    expect(await pool.run(count, gate.arg, 'after')).toBe('after');
    expect(gate.ran()).toBe(1);
  }, 60_000);
});
