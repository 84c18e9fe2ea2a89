// The same primitives from thread and process workers: one behaviour suite per
// backend, the classic problems, and process workers that die holding them.
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { Barrier, BoundedSemaphore, Condition, Event, Lock, Pool, RLock, Semaphore, SharedArray, SharedQueue, SharedValue } from 'tandem';
import { alive, cleanup, eventually, makePool } from '../helpers.js';
import { expectOppositeOrderDeadlock } from './pools.js';
import { acquireForMain, asyncIncrement, lockedIncrement, tryRelease } from '../fixtures/sync-locks.mjs';
import { addMany, consumeAll, produceInto } from '../fixtures/sync-shared.mjs';
import { meet } from '../fixtures/sync-classic.mjs';
import { transfer, acquireTwice } from '../fixtures/sync-deadlock.mjs';
import { acquireAfterDeath, acquirePermit, countUnderLock } from '../fixtures/sync-death.mjs';
import {
  abortWhileWaiting,
  getWhileLoopBlocked,
  giveBack,
  holdAndExit,
  leasedIncrement,
  leaseThenDie,
  leaseThenSpin,
  leaseThenWait,
  leaseThenWaitFor,
  passOn,
  produceNumbers,
  useCounters,
  useEventAndBarrier,
  useNumbers,
  waitForFlag,
  whereAmI,
} from '../fixtures/sync-across.mjs';

afterEach(cleanup);

const backends = ['thread', 'process'] as const;

describe.each(backends)('shared objects on the %s backend', (backend) => {
  const pool = (size: number): Pool => makePool({ backend, size });

  it('a counter under a Lock from two workers (Sync and async forms) loses no update and leaves the lock free', async () => {
    const p = pool(2);
    const lock = new Lock({ name: 'counter' });
    const counter = new SharedValue('int32', 0);
    const barrier = new Barrier(2);
    await Promise.all([p.run(lockedIncrement, lock, counter, barrier, 100), p.run(lockedIncrement, lock, counter, barrier, 100)]);
    await Promise.all([p.run(asyncIncrement, lock, counter, 100), p.run(asyncIncrement, lock, counter, 100)]);
    expect(counter.value).toBe(400);
    expect(lock.locked()).toBe(false);
  });

  it('release of a free Lock throws LockNotHeldError in the worker', async () => {
    const report = await pool(1).run(tryRelease, new Lock());
    expect(report).toMatchObject({ name: 'LockNotHeldError', code: 'ERR_TANDEM_LOCK_NOT_HELD' });
  });

  it('SharedValue and SharedArray: every method, with the same results as in the caller', async () => {
    const value = new SharedValue('float64', 0);
    const array = new SharedArray('int32', [0, 1, 2, 3]);
    const out = await pool(1).run(useNumbers, value, array);
    expect(out).toMatchObject({
      afterSet: 5,
      addReturned: 5,
      subReturned: 8,
      exchangeReturned: 7,
      casMiss: 10,
      casHit: 10,
      value: 11,
      type: 'float64',
      load: 7,
      arrayAdd: 1,
      arrayExchange: 2,
      arrayCas: 3,
      toArray: [7, 3, 4, 3],
      iterated: [7, 3, 4, 3],
      length: 4,
      badIndex: { code: 'ERR_TANDEM_INVALID_OPTION' },
    });
    expect(value.value).toBe(11);
    expect(array.toArray()).toEqual([7, 3, 4, 3]);
    // A process sees no view: the memory stays in the caller; threads see it.
    if (backend === 'process')
      expect(out.view).toMatchObject({ name: 'SharedObjectUnavailableError', code: 'ERR_TANDEM_SHARED_OBJECT_UNAVAILABLE' });
    else expect(out.viewLength).toBe(4);
  });

  it('Event and Barrier: state, set/clear, abort and reset from a worker', async () => {
    const event = new Event();
    const barrier = new Barrier(3);
    const out = await pool(1).run(useEventAndBarrier, event, barrier);
    expect(out).toMatchObject({
      before: false,
      afterSet: true,
      waitSet: true,
      afterClear: false,
      waitCleared: false,
      parties: 3,
      nWaiting: 0,
      broken: false,
      brokenAfterAbort: true,
      waitBroken: { name: 'BrokenBarrierError', code: 'ERR_TANDEM_BROKEN_BARRIER' },
      brokenAfterReset: false,
    });
    expect(event.isSet()).toBe(false);
    expect(barrier.broken).toBe(false);
  });

  it('Semaphore, BoundedSemaphore and RLock: permits, timeouts, over-release, re-entry and wrong use', async () => {
    const semaphore = new Semaphore(2);
    const bounded = new BoundedSemaphore(1);
    const rlock = new RLock({ name: 'again' });
    const out = await pool(1).run(useCounters, semaphore, bounded, rlock);
    expect(out).toMatchObject({
      value: 2,
      try1: true,
      try2: true,
      timedOut: false,
      asyncTimedOut: false,
      afterRelease: 2,
      overRelease: { name: 'SemaphoreOverReleaseError', code: 'ERR_TANDEM_SEMAPHORE_OVER_RELEASE' },
      depth: 2,
      held: true,
      lockedAfter: false,
      notHeld: { name: 'LockNotHeldError' },
      badTimeout: { name: 'InvalidOptionError', code: 'ERR_TANDEM_INVALID_OPTION' },
    });
    expect(semaphore.value).toBe(2);
    expect(rlock.locked()).toBe(false);
  });

  it.each([false, true])('a Condition wakes a worker waiting with waitFor (Sync form: %s) when the caller notifies', async (sync) => {
    const cond = new Condition();
    const flag = new SharedValue('int32', 0);
    const waiting = new Event();
    const woke = pool(1).run(waitForFlag, cond, flag, waiting, sync);
    expect(await waiting.wait({ timeout: 20_000 })).toBe(true);
    await cond.withLock(() => {
      flag.value = 1;
      cond.notifyAll();
    });
    expect(await woke).toBe(true);
    expect(cond.lock.locked()).toBe(false);
  });

  it('producer/consumer over a SharedQueue between two workers, and the caller', async () => {
    const p = pool(3);
    const queue = new SharedQueue<unknown>({ maxSize: 8 });
    const consumer = p.run(consumeAll, queue);
    await Promise.all([p.run(produceInto, queue, 'a', 50), p.run(produceNumbers, queue, 0, 50, false)]);
    queue.close();
    const { got } = (await consumer) as { got: unknown[] };
    expect(got).toHaveLength(100);
    const fromA = got.filter((v) => typeof v === 'object') as { producer: string; i: number; at: Date; tags: Set<string> }[];
    expect(fromA.map((v) => v.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(fromA[0].at).toBeInstanceOf(Date);
    expect(fromA[0].tags).toEqual(new Set(['a']));
    expect(got.filter((v) => typeof v === 'number')).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('a Barrier over rounds: no party ever sees another one round behind', async () => {
    const p = pool(3);
    const barrier = new Barrier(3);
    const progress = new SharedArray('int32', 3);
    const lagging = new SharedValue('int32', 0);
    const indexes = await Promise.all([0, 1, 2].map((party) => p.run(meet, party, barrier, progress, lagging, 20)));
    expect(lagging.value).toBe(0);
    // How many distinct arrival indexes each party got: which it gets depends on who comes first.
    for (const seen of indexes) expect(seen).toBeGreaterThanOrEqual(1);
    expect(progress.toArray()).toEqual([20, 20, 20]);
  });

  it('taking two locks in opposite order: one of the two tasks gets DeadlockError naming both locks, the other goes on', async () => {
    const { cycle, callIds } = await expectOppositeOrderDeadlock(pool(2), backend === 'process' ? /^process \d+$/ : /^worker \d+$/);
    // Each wait names the task and its call (a process worker's requests carry them; a thread worker's
    // Sync acquire reads them where it runs).
    const tasks = cycle.map((link) => link.task);
    expect(tasks.map((task) => task?.name)).toEqual(['transfer', 'transfer']);
    expect(tasks.map((task) => task?.callId).sort()).toEqual(callIds.sort());
  });

  it('a Sync acquire of a Lock its own worker holds is a deadlock, reported at once', async () => {
    const out = await pool(1).run(acquireTwice, new Lock({ name: 'twice' }));
    expect(out).toMatchObject({ outcome: 'deadlock', error: { name: 'DeadlockError' } });
  });

  it('an async acquire aborted while it waits rejects with CancelledError and leaves no acquire behind', async () => {
    const lock = new Lock({ name: 'contended' });
    await lock.acquire();
    const waiting = new Event();
    const outcome = pool(1).run(abortWhileWaiting, lock, waiting);
    expect(await waiting.wait({ timeout: 20_000 })).toBe(true);
    expect(await outcome).toMatchObject({ outcome: 'error', error: { name: 'CancelledError', code: 'ERR_TANDEM_CANCELLED' } });
    lock.release();
    // Had the withdrawn request lingered, it would take the lock now.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lock.locked()).toBe(false);
  });
});

describe('process workers and shared objects', () => {
  it('two process workers and a thread pool share one Lock and one SharedValue at the same time', async () => {
    const processes = makePool({ backend: 'process', size: 2 });
    const threads = makePool({ backend: 'thread', size: 2 });
    const lock = new Lock({ name: 'shared counter' });
    const counter = new SharedValue('int32', 0);
    await Promise.all([
      processes.run(countUnderLock, lock, counter, 150),
      processes.run(countUnderLock, lock, counter, 150),
      threads.run(countUnderLock, lock, counter, 150),
      threads.run(countUnderLock, lock, counter, 150),
      threads.run(addMany, counter, 1, 0),
    ]);
    expect(counter.value).toBe(600);
    expect(lock.locked()).toBe(false);
  });

  it("a shared object a process worker returns is the caller's own object again", async () => {
    const lock = new Lock({ name: 'round trip' });
    const queue = new SharedQueue();
    const back = await makePool({ backend: 'process', size: 1 }).run(giveBack, { lock, queue, list: [lock] });
    expect(back.lock).toBe(lock);
    expect(back.queue).toBe(queue);
    expect(back.list[0]).toBe(lock);
  });

  // As async tasks of one thread share the thread: one owner, no false deadlock.
  it("an object a process worker received is refused at submit to that worker's own thread and process pools, usable inline", async () => {
    const p = makePool({ backend: 'process', size: 1 });
    const lock = new Lock({ name: 'passed on' });
    const refused = { name: 'SerializationError', code: 'ERR_TANDEM_SERIALIZATION', argumentIndex: 0 };
    expect(await p.run(passOn, lock, 'thread')).toEqual(refused);
    expect(await p.run(passOn, lock, 'process')).toEqual(refused);
    expect(await p.run(passOn, lock, 'inline')).toBe('ok');
    expect(lock.locked()).toBe(false);
  });

  it('several async tasks of one process worker share its server thread', async () => {
    const one = makePool({ backend: 'process', size: 1, concurrencyPerWorker: 3 });
    const lock = new Lock({ name: 'one process' });
    const counter = new SharedValue('int32', 0);
    const pids = new Set((await Promise.all([one.run(whereAmI), one.run(whereAmI)])).map((where) => where.pid));
    expect(pids.size).toBe(1);
    await Promise.all([
      one.run(asyncIncrement, lock, counter, 100),
      one.run(asyncIncrement, lock, counter, 100),
      one.run(asyncIncrement, lock, counter, 100),
    ]);
    expect(counter.value).toBe(300);
    expect(lock.locked()).toBe(false);
  });

  it("backend 'auto' with isolate (every call in a child process) shares a Lock and a SharedValue the same way", async () => {
    const auto = makePool({ backend: 'auto', isolate: true, size: 2 });
    const lock = new Lock({ name: 'auto' });
    const counter = new SharedValue('int32', 0);
    const where = await auto.run(whereAmI);
    expect(where.pid).not.toBe(process.pid);
    await Promise.all([auto.run(countUnderLock, lock, counter, 50), auto.run(countUnderLock, lock, counter, 50)]);
    expect(counter.value).toBe(100);
    expect(lock.locked()).toBe(false);
  });

  // Each takes the left fork first.
  it('dining philosophers in five processes: the cycle is reported as DeadlockError naming processes and forks', async () => {
    const philosophers = makePool({ backend: 'process', size: 5 });
    const forks = Array.from({ length: 5 }, (_, i) => new Lock({ name: `fork ${i}` }));
    const seated = new Barrier(5);
    // A philosopher is a transfer: takes the left fork, meets the others (all hold one), reaches for the right.
    const calls = [0, 1, 2, 3, 4].map((seat) => philosophers.submit(transfer, [forks[seat], forks[(seat + 1) % 5], seated, 20_000]));
    const outcomes = await Promise.all(calls);
    const deadlocked = outcomes.filter((o) => o.outcome === 'deadlock');
    expect(deadlocked).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'transferred')).toHaveLength(4);
    const cycle = deadlocked[0]?.error?.cycle as { thread: string; holds: string; waitsFor: string }[];
    expect(cycle).toHaveLength(5);
    expect(new Set(cycle.map((link) => link.thread)).size).toBe(5);
    for (const link of cycle) expect(link.thread).toMatch(/^process \d+$/);
    const callIds = cycle.map((link) => (link as { task?: { name: string; callId: number } }).task?.callId);
    expect(callIds.sort()).toEqual(calls.map((call) => call.id).sort());
    expect(deadlocked[0]?.error?.message).toMatch(/process \d+ \(task 'transfer', call \d+\) holds 'fork \d'/);
    expect(cycle.map((link) => link.holds).sort()).toEqual(forks.map((fork) => fork.name));
    expect(forks.some((fork) => fork.locked())).toBe(false);
  });

  it('a Sync wait in a child whose event loop is blocked gets its value', async () => {
    const queue = new SharedQueue<string>();
    const started = new Event();
    const result = makePool({ backend: 'process', size: 1 }).run(getWhileLoopBlocked, queue, started);
    expect(await started.wait({ timeout: 20_000 })).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await queue.put('late');
    expect(await result).toEqual({ value: 'late', timerFired: false });
  });

  describe.each(['exit', 'sigkill'] as const)('a process worker that dies (%s) holding', (how) => {
    /** A process task takes `held` and dies (`how`) holding it: resolves once it holds it, with its pid and its call's outcome. */
    async function dieHolding(held: Lock | RLock | Condition | Semaphore) {
      const who = new SharedValue('int32', 0);
      const ready = new Event();
      const death = makePool({ backend: 'process', size: 1 })
        .run(holdAndExit, held, how, who, ready)
        .catch((error: unknown) => error);
      expect(await ready.wait({ timeout: 20_000 })).toBe(true);
      return { pid: who.value, death };
    }

    it.each(['Lock', 'RLock', 'Condition'] as const)('a %s: the next acquirer gets it and learns the owner died', async (kind) => {
      const held = kind === 'Lock' ? new Lock({ name: 'held' }) : kind === 'RLock' ? new RLock({ name: 'held' }) : new Condition();
      const { pid, death } = await dieHolding(held);
      // The caller's main thread waits for it (async)...
      expect(await held.acquire({ timeout: 20_000 })).toBe(true);
      expect(held.ownerDied).toEqual({ owner: `process ${pid}` });
      held.release();
      expect(held.ownerDied).toBeNull();
      expect(await death).toMatchObject({ name: 'WorkerCrashedError' });
      // ...and another process worker takes it as usual afterwards.
      const next = await makePool({ backend: 'process', size: 1 }).run(
        acquireAfterDeath,
        kind === 'Condition' ? (held as Condition).lock : held,
        20_000,
      );
      expect(next).toMatchObject({ acquired: true, ownerDied: null, lockedAfter: false });
    });

    it('a Semaphore permit: the permit is not given back (no owner), so waits with a timeout end false', async () => {
      const semaphore = new Semaphore(1);
      const { death } = await dieHolding(semaphore);
      expect(await death).toMatchObject({ name: 'WorkerCrashedError' });
      expect(await makePool({ backend: 'process', size: 1 }).run(acquirePermit, semaphore, 200)).toBe(false);
      expect(semaphore.value).toBe(0);
    });

    it('a BoundedSemaphore permit: it comes back to the next acquirer, which learns the holder died', async () => {
      const semaphore = new BoundedSemaphore(1, { name: 'bounded' });
      const { pid, death } = await dieHolding(semaphore);
      expect(await semaphore.acquire({ timeout: 20_000 })).toBe(true);
      expect(semaphore.ownerDied).toEqual({ owner: `process ${pid}` });
      semaphore.release();
      expect(semaphore.ownerDied).toBeNull();
      expect(semaphore.value).toBe(1);
      expect(await death).toMatchObject({ name: 'WorkerCrashedError' });
      expect(await makePool({ backend: 'process', size: 1 }).run(acquirePermit, semaphore, 20_000)).toBe(true);
    });
  });

  it('pool.close() leaves no child process, no server thread (a lock a task left held is free) and no socket', async () => {
    const mine = () => readdirSync(tmpdir()).filter((name) => name.startsWith(`tandem-${process.pid}-`));
    const before = new Set(mine());
    const pool = new Pool({ backend: 'process', size: 2 });
    const lock = new Lock({ name: 'left held' });
    const counter = new SharedValue('int32', 0);
    const pids = await Promise.all([pool.run(whereAmI), pool.run(whereAmI)]);
    await Promise.all([pool.run(countUnderLock, lock, counter, 10), pool.run(countUnderLock, lock, counter, 10)]);
    // A task that returns still holding the lock: its process holds it until it ends.
    expect(await pool.run(acquireForMain, lock)).toBe(true);
    expect(lock.locked()).toBe(true);
    await pool.close();
    for (const { pid } of pids) await eventually(() => !alive(pid), `process ${pid} to exit`);
    // Only the end of the server thread that held it for the child frees it.
    expect(await lock.acquire({ timeout: 20_000 })).toBe(true);
    expect(lock.ownerDied?.owner).toMatch(/^process \d+$/);
    lock.release();
    await eventually(() => mine().filter((name) => !before.has(name)).length === 0, 'no socket of this pool to remain');
  });
});

// An uncontended Lock stays leased to the process worker that took it (src/share/lease.ts).
describe('lock leases of process workers', () => {
  it("the caller's main thread, a thread worker and two process workers increment under one Lock: no update is lost", async () => {
    const processes = makePool({ backend: 'process', size: 2 });
    const threads = makePool({ backend: 'thread', size: 1 });
    const lock = new Lock({ name: 'leased counter' });
    const counter = new SharedValue('int32', 0);
    const fromMain = async (): Promise<void> => {
      for (let round = 0; round < 200; round++) {
        await lock.withLock(() => {
          const seen = counter.value;
          counter.value = seen + 1;
        });
      }
    };
    await Promise.all([
      processes.run(leasedIncrement, lock, counter, 200),
      processes.run(leasedIncrement, lock, counter, 200),
      threads.run(leasedIncrement, lock, counter, 200),
      fromMain(),
    ]);
    expect(counter.value).toBe(800);
    expect(lock.locked()).toBe(false);
  });

  it.each(['Sync wait', 'CPU loop'] as const)(
    'a lessee whose task is in a %s gives a free lease back when the caller asks',
    async (where) => {
      const p = makePool({ backend: 'process', size: 1 });
      const lock = new Lock({ name: 'leased' });
      const ready = new Event();
      const go = new Event();
      const flag = new SharedValue('int32', 0);
      const result = where === 'Sync wait' ? p.run(leaseThenWait, lock, ready, go) : p.run(leaseThenSpin, lock, ready, flag);
      expect(await ready.wait({ timeout: 20_000 })).toBe(true);
      // Leased, held by no task: unlocked, but only its lessee takes it at once; a try asks for it back.
      expect(lock.locked()).toBe(false);
      expect(lock.tryAcquire()).toBe(false);
      // The task only ends once the caller holds the lock: its link thread must give the lease back on its own.
      expect(await lock.acquire({ timeout: 20_000 })).toBe(true);
      expect(lock.ownerDied).toBeNull();
      go.set();
      flag.value = 1;
      expect(await result).toBe(true);
      lock.release();
      expect(lock.locked()).toBe(false);
    },
  );

  // The caller waits for the leased lock while the lessee waits for the caller's lock: no cycle.
  it('a lease no task holds is no held lock to the deadlock detector', async () => {
    const p = makePool({ backend: 'process', size: 1 });
    const a = new Lock({ name: 'a (leased)' });
    const b = new Lock({ name: 'b (caller)' });
    const ready = new Event();
    await b.acquire();
    const result = p.run(leaseThenWaitFor, a, b, ready);
    expect(await ready.wait({ timeout: 20_000 })).toBe(true);
    // The task's wait for b is under way once b's word says someone waits (WAITERS).
    await eventually(() => (Atomics.load((b as unknown as { words: Int32Array }).words, 0) & 0x40000000) !== 0, 'the task to wait for b');
    expect(await a.acquire({ timeout: 20_000 })).toBe(true);
    a.release();
    b.release();
    expect(await result).toBe('acquired');
  });

  describe.each(['exit', 'sigkill'] as const)('a process worker that dies (%s) with a lease', (how) => {
    it.each([true, false])(
      'held by its task (%s): the next acquirer gets the lock, told the owner died only if it was held',
      async (held) => {
        const lock = new Lock({ name: 'leased' });
        const who = new SharedValue('int32', 0);
        const ready = new Event();
        const death = makePool({ backend: 'process', size: 1 })
          .run(leaseThenDie, lock, held, how, who, ready)
          .catch((error: unknown) => error);
        expect(await ready.wait({ timeout: 20_000 })).toBe(true);
        expect(await lock.acquire({ timeout: 20_000 })).toBe(true);
        expect(lock.ownerDied).toEqual(held ? { owner: `process ${who.value}` } : null);
        lock.release();
        expect(await death).toMatchObject({ name: 'WorkerCrashedError' });
        expect(lock.locked()).toBe(false);
      },
    );
  });
});
