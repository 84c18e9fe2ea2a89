// backend: 'redis' against a real redis-server and two real `tandem worker`
// processes, all started here on 127.0.0.1 and all stopped at the end.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Lock, Pool, SharedQueue, type PoolOptions } from 'tandem';
import { add, describe as describeValue, explode, killHost, recordThenDie, scalePoint, spin, square } from '../fixtures/redis-tasks.mjs';
import { Point } from '../fixtures/classes.mjs';
import { notServed } from '../fixtures/redis-other-tasks.mjs';
import {
  IDLE_CALLER,
  SELF_CALLER,
  type WorkerProcess,
  freePort,
  redisInstalled,
  runNode,
  startRedis,
  startWorker,
  stopAll,
  until,
} from './harness.js';

const skip = !redisInstalled && !process.env.CI;
if (skip) {
  console.warn(
    '\n*** test/redis SKIPPED: redis-server is not installed (or not at TANDEM_TEST_REDIS_SERVER), and CI is not set. ' +
      "Install it (Debian: apt-get install redis-server) to test backend: 'redis'; in CI these tests always run. ***\n",
  );
}

describe.skipIf(skip)("backend: 'redis' with two tandem workers", () => {
  let url = '';
  const queue = 'tandem-test';
  let workerA: WorkerProcess;
  let workerB: WorkerProcess;
  const pools: Pool[] = [];

  function makePool(options: Partial<PoolOptions> = {}): Pool {
    const pool = new Pool({ backend: 'redis', redis: url, queue, ...options });
    pools.push(pool);
    return pool;
  }

  beforeAll(async () => {
    if (!redisInstalled)
      throw new Error('redis-server is not installed, and CI is set: .ci/run installs it (apt-get install redis-server)');
    ({ url } = await startRedis());
    [workerA, workerB] = await Promise.all([startWorker({ redis: url, queue }), startWorker({ redis: url, queue })]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.terminate()));
    await stopAll();
  });

  it('map over 10k items equals the local result', async () => {
    const pool = makePool();
    const items = Array.from({ length: 10_000 }, (_, i) => i);
    expect(await pool.map(square, items)).toEqual(items.map((n) => square(n)));
    expect(
      await pool.starmap(add, [
        [1, 2],
        [3, 4],
      ]),
    ).toEqual([3, 7]);
    expect(await pool.run(square, 12)).toBe(144);
    await pool.close();
  });

  it('keeps structured-clone types both ways', async () => {
    const pool = makePool();
    const value = new Map<unknown, unknown>([
      [1n, new Date(5)],
      ['set', new Set([1])],
    ]);
    const result = (await pool.run(describeValue, value)) as ReturnType<typeof describeValue>;
    expect(result.kind).toBe('[object Map]');
    expect(result.same).toEqual(value);
    expect(result.at).toBeInstanceOf(Date);
    expect(result.tags).toEqual(new Set(['a', 'b']));
    expect(result.big).toBe(2n ** 70n);
    expect(result.bytes).toEqual(new Uint8Array([1, 2, 3]));
    await pool.close();
  });

  it('instances of registered classes cross to the hosts and back with their prototype', async () => {
    const pool = makePool();
    const scaled = await pool.run(scalePoint, new Point(3, 4), 2);
    expect(scaled).toBeInstanceOf(Point);
    expect(scaled.length()).toBe(10);
    await pool.close();
  });

  // Their behaviour across hosts: test/sync/redis-share.test.ts.
  it("a shared object crosses to a host and comes back as the caller's own object", async () => {
    const pool = makePool();
    const lock = new Lock({ name: 'travels' });
    const queue = new SharedQueue();
    const result = (await pool.run(describeValue, { lock, queue } as never)) as { same: { lock: Lock; queue: SharedQueue } };
    expect(result.same.lock).toBe(lock);
    expect(result.same.queue).toBe(queue);
    await pool.close();
  });

  it('refuses a task the workers do not serve, and a plain function at submit', async () => {
    const pool = makePool();
    await expect(pool.run(notServed, 1)).rejects.toMatchObject({ code: 'ERR_TANDEM_TASK_NOT_FOUND' });
    expect(() => pool.submit((n: number) => n, [1])).toThrow(expect.objectContaining({ code: 'ERR_TANDEM_INVALID_TASK' }));
    await pool.close();
  });

  it('a task error comes back as TaskError with the remote stack, properties and item index', async () => {
    const pool = makePool();
    const error = await pool
      .map(
        explode,
        Array.from({ length: 20 }, (_, i) => i),
        { chunksize: 4 },
      )
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_TANDEM_TASK', remoteName: 'RangeError', index: 7, properties: { code: 'E_RANGE' } });
    const stack = (error as { remoteStack: string }).remoteStack;
    expect(stack).toContain('item 7 is out of range');
    expect(stack).toMatch(/explode .*redis-tasks\.mjs/);
    await expect(pool.run(explode, 7)).rejects.toMatchObject({ code: 'ERR_TANDEM_TASK', remoteName: 'RangeError' });
    await pool.close();
  });

  it('a module can call its own task from its top-level await (portable name by declaration index)', async () => {
    const { code, output } = await runNode(SELF_CALLER, { TANDEM_TEST_REDIS: url, TANDEM_TEST_QUEUE: queue });
    expect(output.trim()).toBe('[3,6,9]');
    expect(code).toBe(0);
  });

  it('an idle pool does not keep its caller alive', async () => {
    const { code, output } = await runNode(IDLE_CALLER, { TANDEM_TEST_REDIS: url, TANDEM_TEST_QUEUE: queue });
    expect(output.trim()).toBe('81');
    expect(code).toBe(0);
  });

  it('a timeout rejects the call with TaskTimeoutError; retries rerun a failing job through BullMQ attempts', async () => {
    const pool = makePool({ retries: 1 });
    await expect(pool.submit(spin, [1, 1_000], { timeout: 100 })).rejects.toMatchObject({ code: 'ERR_TANDEM_TASK_TIMEOUT' });
    // One rejection for the call, after its two attempts (the second after BullMQ's backoff).
    await expect(pool.run(explode, 7)).rejects.toMatchObject({ code: 'ERR_TANDEM_TASK', remoteName: 'RangeError' });
    await pool.close();
    const jobs = new Queue(queue, { connection: { url } });
    try {
      const failed = await jobs.getFailed();
      // Named by export, or by declaration index where the test runner holds a second instance of the module.
      expect(failed.some((job) => /redis-tasks(#explode|@4)$/.test(job.name) && job.attemptsMade === 2)).toBe(true);
    } finally {
      await jobs.close();
    }
  });

  it('a caller that goes away leaves no job waiting and only expiring reply lists', async () => {
    const pool = makePool();
    const running = pool
      .map(
        spin,
        Array.from({ length: 400 }, (_, i) => i),
        { chunksize: 1 },
      )
      .catch((e: unknown) => e);
    await pool.terminate();
    expect(await running).toMatchObject({ code: 'ERR_TANDEM_POOL_CLOSED' });
    const redis = new Redis(url);
    try {
      await until('the waiting jobs to be removed', async () => (await redis.llen(`bull:${queue}:wait`)) === 0);
      for (const key of await redis.keys('tandem:*')) expect(await redis.pttl(key)).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  });

  it('a bad Redis URL rejects the calls with a clear error, and a worker exits non-zero', async () => {
    const closed = `redis://127.0.0.1:${await freePort()}`;
    const pool = new Pool({ backend: 'redis', redis: closed, queue });
    pools.push(pool);
    const error = await pool.run(square, 2).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_TANDEM_WORKER_CRASHED', cause: { code: 'ERR_TANDEM_REDIS_UNAVAILABLE' } });
    expect((error as Error).message).toContain('cannot reach Redis');
    const worker = await startWorker({ redis: closed, queue }, false);
    expect(await worker.exited).toBe(1);
    expect(worker.log()).toContain('cannot reach Redis');
  });

  it('a worker killed with SIGKILL mid-run loses nothing and duplicates nothing', async () => {
    const pool = makePool({ size: 8 });
    const count = 120;
    const seen = new Map<number, number>();
    let killedAt = -1;
    let fromOthersAfterKill = 0;
    // imap unordered: results are counted as they come, so the kill can wait until worker A serves
    // (it then holds more jobs: up to size × 2 at once, each 2 items of 20 ms).
    for await (const result of pool.imap(
      spin,
      Array.from({ length: count }, (_, i) => i),
      { ordered: false, chunksize: 2 },
    )) {
      const { n, double, host } = result as { n: number; double: number; host: number };
      expect(double).toBe(n * 2);
      seen.set(n, (seen.get(n) ?? 0) + 1);
      if (killedAt >= 0 && host !== workerA.pid) fromOthersAfterKill++;
      if (killedAt < 0 && host === workerA.pid) {
        killedAt = seen.size;
        workerA.child.kill('SIGKILL');
      }
    }
    expect(killedAt).toBeGreaterThan(0);
    expect(killedAt).toBeLessThan(count);
    expect(fromOthersAfterKill).toBeGreaterThan(0);
    // BullMQ's stalled check put worker A's jobs back in the queue: they ran again on B.
    const redis = new Redis(url);
    const events = await redis.xrange(`bull:${queue}:events`, '-', '+');
    redis.disconnect();
    expect(events.some(([, fields]) => fields[1] === 'stalled')).toBe(true);
    expect(seen.size).toBe(count);
    expect([...seen.values()].every((times) => times === 1)).toBe(true);
    await pool.close();
  }, 60_000);

  it('a job that kills every host it runs on fails after two hosts died, instead of hanging', async () => {
    const poison = 'tandem-test-poison';
    const hosts = await Promise.all([1, 2, 3].map(() => startWorker({ redis: url, queue: poison, size: 1 })));
    const pool = new Pool({ backend: 'redis', redis: url, queue: poison });
    pools.push(pool);
    const error = await pool.run(killHost).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_TANDEM_TASK', remoteName: 'WorkerCrashedError' });
    const dead = hosts.filter((host) => host.child.signalCode === 'SIGKILL');
    expect(dead).toHaveLength(2);
    await pool.close();
  }, 60_000);

  it('a call cancelled while its host lay dead does not run again when its job stalls back to another host', async () => {
    const queue = 'tandem-test-cancel-stalled';
    const dir = mkdtempSync(join(tmpdir(), 'tandem-cancelled-'));
    try {
      const first = await startWorker({ redis: url, queue, size: 1 });
      const pool = new Pool({ backend: 'redis', redis: url, queue });
      pools.push(pool);
      const call = pool.submit(recordThenDie, [dir]);
      await first.exited;
      // No host hears the cancel message now: the job stays active until the stalled check moves it back.
      call.cancel();
      await expect(call).rejects.toMatchObject({ code: 'ERR_TANDEM_CANCELLED' });
      await startWorker({ redis: url, queue, size: 1 });
      const redis = new Redis(url);
      try {
        // Until the second host fails it as cancelled, or runs it (which leaves a second file).
        await until(
          'the second host to take the job',
          async () =>
            readdirSync(dir).length > 1 ||
            (await redis.xrange(`bull:${queue}:events`, '-', '+')).some(
              ([, fields]) => fields.includes('failed') && fields.includes('cancelled by its caller'),
            ),
          30_000,
        );
      } finally {
        redis.disconnect();
      }
      expect(readdirSync(dir)).toEqual([String(first.pid)]);
      await pool.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('SIGTERM drains a worker, which exits 0 and says what it served', async () => {
    // process.kill, not child.kill: after child.kill, Deno reports a kill by that signal whatever the exit code.
    process.kill(workerB.pid, 'SIGTERM');
    expect(await workerB.exited).toBe(0);
    expect(workerB.log()).toMatch(/draining/);
    expect(workerB.log()).toMatch(/stopped after \d+ job\(s\)/);
  });

  it('leaves no process behind', async () => {
    await stopAll();
    await until('the workers to be gone', () => workerA.child.exitCode !== null || workerA.child.signalCode !== null);
  });
});
