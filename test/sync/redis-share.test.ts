// Shared objects on backend: 'redis': a real redis-server and real `tandem worker`
// hosts (started here on 127.0.0.1, stopped at the end). The caller's objects
// stay the one authority; hosts reach them through Redis.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Barrier, BoundedSemaphore, Condition, Event, Lock, Pool, RLock, Semaphore, SharedArray, SharedQueue, SharedValue } from 'tandem';
import { asyncIncrement, acquireForMain, lockedIncrement, tryRelease } from '../fixtures/sync-locks.mjs';
import { consumeAll, produceInto } from '../fixtures/sync-shared.mjs';
import { dine, meet } from '../fixtures/sync-classic.mjs';
import { transfer } from '../fixtures/sync-deadlock.mjs';
import { acquireAfterDeath, acquirePermit, countUnderLock } from '../fixtures/sync-death.mjs';
import {
  abortWhileWaiting,
  giveBack,
  holdAndExit,
  passOn,
  produceNumbers,
  useCounters,
  useEventAndBarrier,
  useNumbers,
  waitForFlag,
} from '../fixtures/sync-across.mjs';
import { keep, takeAndRelease, useAfterBlocking, useKept } from '../fixtures/redis-share-tasks.mjs';
import { type CycleLink, expectOppositeOrderDeadlock } from './pools.js';
import { redisInstalled, startRedis, startWorker, stopAll, until, type WorkerProcess } from '../redis/harness.js';

const skip = !redisInstalled && !process.env.CI;

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const TASKS = ['sync-locks.mjs', 'sync-shared.mjs', 'sync-classic.mjs', 'sync-deadlock.mjs', 'sync-death.mjs', 'sync-across.mjs'];
const HOST_TASKS = [...TASKS.map(fixture), fixture('redis-share-tasks.mjs')];
/**
 * BullMQ's own lock on a running job is kept long: a host whose lock renewal comes late on a loaded machine would
 * otherwise see its job run a second time elsewhere, and a second party at a barrier is no party of the test's.
 */
const HOST = { tasks: HOST_TASKS, lockDuration: 30_000, stalledInterval: 30_000 };
/** How deadlock reports and ownerDied name a thread of a host. */
const HOLDER = /^host .+:\d+ worker \d+$/;

describe.skipIf(skip)("shared objects on backend: 'redis'", () => {
  let url = '';
  let redis: Redis;
  const pools: Pool[] = [];

  /** Every key the caller's sharing left in Redis, and every connection of a share or link thread still open. */
  async function leftBehind(): Promise<{ keys: string[]; clients: string[] }> {
    const keys = await redis.keys('tandem:*:share:*');
    const clients = ((await redis.client('LIST')) as string)
      .split('\n')
      .map((line) => /name=(\S*)/.exec(line)?.[1] ?? '')
      .filter((name) => name.startsWith('tandem-share-') || name.startsWith('tandem-link-'));
    return { keys, clients };
  }

  beforeAll(async () => {
    if (!redisInstalled)
      throw new Error('redis-server is not installed, and CI is set: .ci/run installs it (apt-get install redis-server)');
    ({ url } = await startRedis());
    redis = new Redis(url);
  }, 60_000);

  // A test that failed leaves no pool serving the next one's objects.
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.terminate()));
  });

  afterAll(async () => {
    redis?.disconnect();
    await stopAll();
  });

  describe('two hosts of two threads each', () => {
    const queue = 'tandem-share';
    const pool = (): Pool => {
      const made = new Pool({ backend: 'redis', redis: url, queue });
      pools.push(made);
      return made;
    };

    beforeAll(async () => {
      // One job per local thread at once: a task that waits for another never waits behind it.
      await Promise.all([0, 1].map(() => startWorker({ redis: url, queue, size: 2, inFlight: 2, ...HOST })));
    }, 60_000);

    it('a counter under a Lock from two hosts and the caller (Sync and async forms, many calls) loses no update', async () => {
      const p = pool();
      const lock = new Lock({ name: 'counter' });
      const counter = new SharedValue('int32', 0);
      const barrier = new Barrier(2);
      await Promise.all([p.run(lockedIncrement, lock, counter, barrier, 100), p.run(lockedIncrement, lock, counter, barrier, 100)]);
      await Promise.all([p.run(asyncIncrement, lock, counter, 50), p.run(asyncIncrement, lock, counter, 50)]);
      // Many calls, more than the hosts run at once, and the caller's main thread among them.
      const calls = Array.from({ length: 24 }, () => p.run(countUnderLock, lock, counter, 10));
      for (let i = 0; i < 60; i++) await lock.withLock(() => void (counter.value = counter.value + 1));
      expect(await Promise.all(calls)).toEqual(Array.from({ length: 24 }, () => 0));
      expect(counter.value).toBe(600);
      expect(lock.locked()).toBe(false);
      await p.close();
    }, 120_000);

    // A host's releases are two-way and its holders take no leases (a process worker's are one-way, settled before results).
    it("a task's releases are done at the caller before its result arrives, and a host keeps no lease of a Lock", async () => {
      const p = pool();
      const lock = new Lock({ name: 'released' });
      const rlock = new RLock({ name: 'released too' });
      for (let round = 0; round < 10; round++) {
        expect(await p.run(takeAndRelease, lock, rlock)).toBe('released');
        expect(lock.locked()).toBe(false);
        expect(rlock.locked()).toBe(false);
        // A lease the host could not give back would make this wait out its timeout.
        expect(await lock.acquire({ timeout: 20_000 })).toBe(true);
        lock.release();
      }
      await p.close();
    }, 120_000);

    it('every primitive: the same results as on a process worker', async () => {
      const p = pool();
      expect(await p.run(tryRelease, new Lock())).toMatchObject({ name: 'LockNotHeldError', code: 'ERR_TANDEM_LOCK_NOT_HELD' });

      const value = new SharedValue('float64', 0);
      const array = new SharedArray('int32', [0, 1, 2, 3]);
      expect(await p.run(useNumbers, value, array)).toMatchObject({
        afterSet: 5,
        casHit: 10,
        value: 11,
        toArray: [7, 3, 4, 3],
        iterated: [7, 3, 4, 3],
        length: 4,
        badIndex: { code: 'ERR_TANDEM_INVALID_OPTION' },
        view: { code: 'ERR_TANDEM_SHARED_OBJECT_UNAVAILABLE' },
      });
      expect(value.value).toBe(11);
      expect(array.toArray()).toEqual([7, 3, 4, 3]);

      const event = new Event();
      const barrier = new Barrier(3);
      expect(await p.run(useEventAndBarrier, event, barrier)).toMatchObject({
        afterSet: true,
        waitSet: true,
        waitCleared: false,
        parties: 3,
        brokenAfterAbort: true,
        waitBroken: { code: 'ERR_TANDEM_BROKEN_BARRIER' },
        brokenAfterReset: false,
      });

      const semaphore = new Semaphore(2);
      const rlock = new RLock({ name: 'again' });
      expect(await p.run(useCounters, semaphore, new BoundedSemaphore(1), rlock)).toMatchObject({
        try1: true,
        try2: true,
        timedOut: false,
        asyncTimedOut: false,
        afterRelease: 2,
        overRelease: { code: 'ERR_TANDEM_SEMAPHORE_OVER_RELEASE' },
        depth: 2,
        held: true,
        lockedAfter: false,
        notHeld: { name: 'LockNotHeldError' },
      });
      expect(semaphore.value).toBe(2);
      expect(rlock.locked()).toBe(false);

      for (const sync of [false, true]) {
        const cond = new Condition();
        const flag = new SharedValue('int32', 0);
        const waiting = new Event();
        const woke = p.run(waitForFlag, cond, flag, waiting, sync);
        expect(await waiting.wait({ timeout: 30_000 })).toBe(true);
        await cond.withLock(() => {
          flag.value = 1;
          cond.notifyAll();
        });
        expect(await woke).toBe(true);
        expect(cond.lock.locked()).toBe(false);
      }

      // What a task returns is the caller's own object again.
      const lock = new Lock({ name: 'round trip' });
      const queue = new SharedQueue();
      const back = await p.run(giveBack, { lock, queue, list: [lock] });
      expect(back.lock).toBe(lock);
      expect(back.queue).toBe(queue);
      expect(back.list[0]).toBe(lock);
      await p.close();
    }, 120_000);

    it('producer/consumer over a SharedQueue between tasks on hosts', async () => {
      const p = pool();
      const queue = new SharedQueue<unknown>();
      const consumer = p.run(consumeAll, queue);
      await Promise.all([p.run(produceInto, queue, 'a', 50), p.run(produceNumbers, queue, 0, 50, true)]);
      queue.close();
      const { got } = (await consumer) as { got: unknown[] };
      expect(got).toHaveLength(100);
      const fromA = got.filter((v) => typeof v === 'object') as { i: number; at: Date; tags: Set<string> }[];
      expect(fromA.map((v) => v.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(fromA[0].at).toBeInstanceOf(Date);
      expect(fromA[0].tags).toEqual(new Set(['a']));
      expect(got.filter((v) => typeof v === 'number')).toEqual(Array.from({ length: 50 }, (_, i) => i));
      await p.close();
    }, 120_000);

    it('a Barrier over rounds: no party ever sees another one round behind', async () => {
      const p = pool();
      const barrier = new Barrier(3);
      const progress = new SharedArray('int32', 3);
      const lagging = new SharedValue('int32', 0);
      await Promise.all([0, 1, 2].map((party) => p.run(meet, party, barrier, progress, lagging, 10)));
      expect(lagging.value).toBe(0);
      expect(progress.toArray()).toEqual([10, 10, 10]);
      await p.close();
    }, 120_000);

    it('taking two locks in opposite order: one task gets DeadlockError naming both locks, holders and tasks', async () => {
      const p = pool();
      const { cycle } = await expectOppositeOrderDeadlock(p, HOLDER, 30_000);
      // The task's name crosses; its call id is the host pool's, not the caller's, so none is given.
      expect(cycle.map((link) => link.task)).toEqual([{ name: 'transfer' }, { name: 'transfer' }]);
      await p.close();
    }, 120_000);

    it('dining philosophers on two hosts: 4 tasks share 4 forks under a footman, no neighbours eat at once, all eat', async () => {
      const p = pool();
      const seats = 4;
      const rounds = 10;
      const forks = Array.from({ length: seats }, (_, i) => new Semaphore(1, { name: `fork ${i}` }));
      const footman = new Semaphore(seats - 1, { name: 'footman' });
      const eating = new SharedArray('int32', seats);
      const meals = new SharedArray('int32', seats);
      const clashes = new SharedValue('int32', 0);
      await Promise.all(Array.from({ length: seats }, (_, seat) => p.run(dine, seat, footman, forks, eating, meals, clashes, rounds)));
      expect(meals.toArray()).toEqual(Array(seats).fill(rounds));
      expect(clashes.value).toBe(0);
      expect(forks.map((fork) => fork.value)).toEqual(Array(seats).fill(1));
      expect(footman.value).toBe(seats - 1);
      await p.close();
    }, 120_000);

    it('dining philosophers who all take the left fork first: the cycle through four holders on two hosts is reported', async () => {
      const p = pool();
      const forks = Array.from({ length: 4 }, (_, i) => new Lock({ name: `fork ${i}` }));
      const seated = new Barrier(4);
      const outcomes = await Promise.all([0, 1, 2, 3].map((seat) => p.run(transfer, forks[seat], forks[(seat + 1) % 4], seated, 30_000)));
      const deadlocked = outcomes.filter((o) => o.outcome === 'deadlock');
      expect(deadlocked).toHaveLength(1);
      expect(outcomes.filter((o) => o.outcome === 'transferred')).toHaveLength(3);
      const cycle = deadlocked[0]?.error?.cycle as CycleLink[];
      expect(cycle).toHaveLength(4);
      expect(new Set(cycle.map((link) => link.thread)).size).toBe(4);
      for (const link of cycle) expect(link.thread).toMatch(HOLDER);
      expect(cycle.map((link) => link.holds).sort()).toEqual(forks.map((fork) => fork.name));
      expect(cycle.map((link) => link.task)).toEqual(Array(4).fill({ name: 'transfer' }));
      expect(forks.some((fork) => fork.locked())).toBe(false);
      await p.close();
    }, 120_000);

    it('an async acquire aborted while it waits rejects with CancelledError and leaves no acquire behind', async () => {
      const p = pool();
      const lock = new Lock({ name: 'contended' });
      await lock.acquire();
      const waiting = new Event();
      const outcome = p.run(abortWhileWaiting, lock, waiting);
      expect(await waiting.wait({ timeout: 30_000 })).toBe(true);
      expect(await outcome).toMatchObject({ outcome: 'error', error: { name: 'CancelledError', code: 'ERR_TANDEM_CANCELLED' } });
      lock.release();
      // Had the withdrawn request lingered, it would take the lock now.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(lock.locked()).toBe(false);
      await p.close();
    }, 120_000);

    it('an object a host received is refused at submit to a pool its task starts', async () => {
      const p = pool();
      expect(await p.run(passOn, new Lock(), 'thread')).toMatchObject({ code: 'ERR_TANDEM_SERIALIZATION', argumentIndex: 0 });
      await p.close();
    }, 120_000);

    it('close() leaves no key in Redis and no share or link thread; a lock a task left held is free', async () => {
      const p = pool();
      const lock = new Lock({ name: 'left held' });
      const counter = new SharedValue('int32', 0);
      const barrier = new Barrier(2);
      await Promise.all([p.run(lockedIncrement, lock, counter, barrier, 5), p.run(lockedIncrement, lock, counter, barrier, 5)]);
      expect((await leftBehind()).keys.length).toBeGreaterThan(0);
      // A task that returns still holding the lock: its holder holds it until the holder's server thread ends.
      expect(await p.run(acquireForMain, lock)).toBe(true);
      expect(lock.locked()).toBe(true);
      await p.close();
      expect(await lock.acquire({ timeout: 30_000 })).toBe(true);
      expect(lock.ownerDied?.owner).toMatch(HOLDER);
      lock.release();
      expect((await leftBehind()).keys).toEqual([]);
      // The hosts' links see the caller gone at their next heartbeat, and end once idle for 10 s.
      await until('every share and link connection to close', async () => (await leftBehind()).clients.length === 0, 60_000);
      expect(await leftBehind()).toEqual({ keys: [], clients: [] });
    }, 120_000);
  });

  it('a host whose local pool runs child processes (--backend process): each process reaches the objects itself', async () => {
    const queue = 'tandem-share-process';
    await startWorker({ redis: url, queue, size: 2, inFlight: 2, backend: 'process', ...HOST });
    const p = new Pool({ backend: 'redis', redis: url, queue });
    pools.push(p);
    const lock = new Lock({ name: 'counter' });
    const counter = new SharedValue('int32', 0);
    const calls = Array.from({ length: 6 }, () => p.run(countUnderLock, lock, counter, 10));
    for (let i = 0; i < 20; i++) await lock.withLock(() => void (counter.value = counter.value + 1));
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 6 }, () => 0));
    expect(counter.value).toBe(80);
    // Each child process is a holder of its own: a cycle between two of them is found and named.
    const { cycle } = await expectOppositeOrderDeadlock(p, HOLDER, 30_000);
    expect(cycle.map((link) => link.task)).toEqual([{ name: 'transfer' }, { name: 'transfer' }]);
    await p.close();
  }, 120_000);

  describe('one host of one thread', () => {
    const queue = 'tandem-share-one';
    let host: WorkerProcess;
    const pool = (): Pool => {
      const made = new Pool({ backend: 'redis', redis: url, queue });
      pools.push(made);
      return made;
    };
    const startHost = (): Promise<WorkerProcess> => startWorker({ redis: url, queue, size: 1, inFlight: 1, ...HOST });

    beforeAll(async () => {
      host = await startHost();
    }, 60_000);

    it("an object used after its caller's pool closed gets SharedObjectUnavailableError", async () => {
      const first = pool();
      expect(await first.run(keep, new Lock({ name: 'kept' }))).toBe(true);
      await first.close();
      // A pool whose jobs carry no shared object: nothing serves the kept lock any more.
      const second = pool();
      expect(await second.run(useKept)).toMatchObject({
        name: 'SharedObjectUnavailableError',
        code: 'ERR_TANDEM_SHARED_OBJECT_UNAVAILABLE',
      });
      await second.close();
    }, 120_000);

    it("a task blocked while its thread's idle link to the caller ended uses a new link (no hang)", async () => {
      const first = pool();
      expect(await first.run(keep, new Lock({ name: 'kept' }))).toBe(true);
      // The link of the host's thread rests once it sees the pool closed, and ends after resting 10 s.
      await first.close();
      const go = join(mkdtempSync(join(tmpdir(), 'tandem-link-')), 'go');
      try {
        const second = pool();
        const used = second.run(useAfterBlocking, new Lock({ name: 'after' }), go);
        const links = async (): Promise<string[]> => (await leftBehind()).clients.filter((name) => name.includes(`:${host.pid}:`));
        await until('the idle link of the host thread to end', async () => (await links()).length === 0, 60_000);
        // The task's thread has not turned its event loop since: the link thread's 'exit' event has not reached it.
        writeFileSync(go, '');
        expect(await used).toBe('used');
        await second.close();
      } finally {
        rmSync(dirname(go), { recursive: true, force: true });
      }
    }, 120_000);

    it.each(['Lock', 'RLock', 'Condition', 'BoundedSemaphore'] as const)(
      'a host SIGKILLed holding a %s: the next acquirer gets it and learns the owner died',
      async (kind) => {
        const p = pool();
        const held =
          kind === 'Lock'
            ? new Lock({ name: 'held' })
            : kind === 'RLock'
              ? new RLock({ name: 'held' })
              : kind === 'Condition'
                ? new Condition()
                : new BoundedSemaphore(1, { name: 'held' });
        const who = new SharedValue('int32', 0);
        const ready = new Event();
        void p.run(holdAndExit, held, 'sigkill', who, ready).catch(() => {});
        expect(await ready.wait({ timeout: 30_000 })).toBe(true);
        await host.exited;
        // Freed once the host's heartbeat key expires.
        expect(await held.acquire({ timeout: 60_000 })).toBe(true);
        expect(held.ownerDied?.owner).toMatch(HOLDER);
        expect(held.ownerDied?.owner).toContain(`:${who.value} `);
        held.release();
        expect(held.ownerDied).toBeNull();
        await p.terminate();
        // A new host takes it as usual afterwards.
        host = await startHost();
        const next = pool();
        if (held instanceof BoundedSemaphore) {
          // Its permit came back: the one permit there is, taken again.
          expect(held.value).toBe(1);
          expect(await next.run(acquirePermit, held, 30_000)).toBe(true);
        } else {
          const lock = held instanceof Condition ? held.lock : held;
          expect(await next.run(acquireAfterDeath, lock, 30_000)).toMatchObject({ acquired: true, ownerDied: null, lockedAfter: false });
        }
        await next.close();
        expect((await leftBehind()).keys).toEqual([]);
      },
      120_000,
    );
  });
});
