// SharedQueue streams from process workers (src/share/queue-side.ts): puts leave without waiting, gets
// take values ahead. What must hold: order, exactly once, nothing lost when a call ends or a worker dies,
// a result that arrives after the puts of its call, and the errors a put gives.
import { afterEach, describe, expect, it } from 'vitest';
import { SharedQueue, SharedValue, WorkerCrashedError } from 'tandem';
import {
  getAtOnce,
  getWhileAsyncInFlight,
  queueScript,
  getMixed,
  putCounting,
  putThenClose,
  putUntilClosed,
  putWithTimeout,
  streamIn,
  streamOut,
  useThenDie,
  useThenWait,
} from '../fixtures/queue-stream.mjs';
import { closePools, syncPool } from '../sync/pools.js';

afterEach(closePools);

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** Resolves once `check()` holds, looking every few ms (the caller's view of work other processes finish). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Every value the queue holds now or gets within the wait of a get that finds it empty. */
async function drain(queue: SharedQueue<number>): Promise<number[]> {
  const out: number[] = [];
  for (let next = queue.tryGet(); next; next = queue.tryGet()) out.push(next.value);
  return out;
}

describe('SharedQueue streams between process workers', () => {
  it.each([true, false])('a stream through a small queue arrives whole and in order (Sync forms: %s)', async (sync) => {
    const pool = syncPool('process', 2);
    const queue = new SharedQueue<number>({ maxSize: 8 });
    const [, got] = await Promise.all([pool.run(streamOut, queue, 3000, sync), pool.run(streamIn, queue, 3000, sync)]);
    expect(got).toEqual(range(0, 3000));
    expect(queue.size).toBe(0);
  });

  it('values a consumer took ahead and did not use are back at the front, in order, when its result arrives', async () => {
    const pool = syncPool('process', 1);
    const queue = new SharedQueue<number>();
    for (const i of range(0, 500)) await queue.put(i);
    const used = await pool.run(streamIn, queue, 100, true);
    expect(used).toEqual(range(0, 100));
    // Not eventually: the result leaves the worker only after the server put them back.
    expect(queue.size).toBe(400);
    expect(await drain(queue)).toEqual(range(100, 500));
  });

  it("the caller's next get after a result sees what the call put, even when its puts waited for room", async () => {
    const pool = syncPool('process', 1);
    const queue = new SharedQueue<number>({ maxSize: 4 });
    const got: number[] = [];
    let accounted = -1;
    const producer = pool.run(streamOut, queue, 40, true).then(() => {
      accounted = got.length + queue.size;
    });
    while (got.length < 40) got.push(await queue.get());
    await producer;
    expect(accounted).toBe(40);
    expect(got).toEqual(range(0, 40));
  });

  it('close() from the producer comes after its puts: the consumer gets every value, then the end', async () => {
    const pool = syncPool('process', 1);
    const queue = new SharedQueue<number>({ maxSize: 4 });
    const producer = pool.run(putThenClose, queue, 60);
    const got: number[] = [];
    for await (const value of queue) got.push(value);
    await producer;
    expect(got).toEqual(range(0, 60));
  });

  it('a consumer killed while it holds values taken ahead: each value is used once or is back in the queue', async () => {
    const pool = syncPool('process', 1);
    const queue = new SharedQueue<number>();
    const seen = new SharedQueue<number>();
    for (const i of range(0, 300)) await queue.put(i);
    await expect(pool.run(useThenDie, queue, seen, 50)).rejects.toBeInstanceOf(WorkerCrashedError);
    // The values it had not used go back when its server thread sees the connection close.
    await until(() => queue.size + seen.size === 300);
    const used = await drain(seen);
    expect(used).toEqual(range(0, 50));
    expect(await drain(queue)).toEqual(range(50, 300));
  });

  it('a producer killed while its puts wait for room: every put that returned arrives, in order, once', async () => {
    const pool = syncPool('process', 1);
    const queue = new SharedQueue<number>({ maxSize: 4 });
    const pid = new SharedValue('int32', 0);
    const progress = new SharedValue('int32', 0);
    const producer = pool.run(putCounting, queue, pid, progress, 100);
    // maxSize 4: puts 0-2 leave without waiting and 3 waits (room for all four); 4-6 leave and wait
    // in line at the server, 7 waits for its answer, which cannot come while nobody takes.
    await until(() => progress.value === 7);
    process.kill(pid.value, 'SIGKILL');
    await expect(producer).rejects.toBeInstanceOf(WorkerCrashedError);
    const got: number[] = [];
    while (got.length < 7) got.push(await queue.get({ timeout: 20_000 }));
    expect(got).toEqual(range(0, 7));
    // Put 7 had not returned: whether it got in depends on whether room came before the server saw the
    // death (the caller's gets above make room). Nothing after it was ever sent.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const late = queue.tryGet();
    if (late) expect(late.value).toBe(7);
    expect(queue.tryGet()).toBeUndefined();
  });

  it('a put into a queue closed meanwhile throws QueueClosedError within a window, and nothing gets in', async () => {
    const pool = syncPool('process', 1);
    const queue = new SharedQueue<number>({ maxSize: 16 });
    queue.close();
    const outcome = await pool.run(putUntilClosed, queue, 1000);
    expect(outcome.closed).toBe(true);
    expect(outcome.returned).toBeLessThan(16);
    expect(queue.size).toBe(0);
  });

  it.each(['getSync', 'get', 'gets'])('%s with a timeout on an empty queue times out (SyncTimeoutError) and takes nothing', async (how) => {
    const pool = syncPool('process', 1);
    const queue = new SharedQueue<number>();
    // queueScript ends a get op at its first SyncTimeoutError and rethrows any other error.
    expect(await pool.run(queueScript, queue, [[how, 2]], 0, 50)).toEqual([[], []]);
    await queue.put(1);
    expect(queue.size).toBe(1);
  });

  it('putSync with a timeout on a full queue throws SyncTimeoutError and puts nothing', async () => {
    const pool = syncPool('process', 1);
    const queue = new SharedQueue<string>({ maxSize: 2 });
    await queue.put('a');
    await queue.put('b');
    expect(await pool.run(putWithTimeout, queue, 'late', 50)).toBe('SyncTimeoutError');
    expect([queue.tryGet()?.value, queue.tryGet()?.value, queue.tryGet()]).toEqual(['a', 'b', undefined]);
  });
});

describe('SharedQueue streams: values taken ahead, under interleavings', () => {
  /** Every value is used once or is back in the queue: none twice, none lost. */
  async function expectEachOnce(queue: SharedQueue<number>, used: number[], total: number): Promise<void> {
    const all = [...used, ...(await drain(queue))].sort((a, b) => a - b);
    expect(all).toEqual(range(0, total));
  }

  it.each(['several async tasks of one process getting at once', 'a get() in flight while getSync() takes'])(
    '%s: each value used once or back',
    async (how) => {
      const pool = syncPool('process', 1);
      const queue = new SharedQueue<number>();
      for (const i of range(0, 3000)) await queue.put(i);
      const used = await (how.startsWith('several') ? pool.run(getAtOnce, queue, 4, 150) : pool.run(getMixed, queue, 600));
      expect(new Set(used).size).toBe(600);
      await expectEachOnce(queue, used, 3000);
    },
  );

  it.each(['getMixed', 'getAtOnce'])('%s while another process streams the values in: each value used once or back', async (how) => {
    const pool = syncPool('process', 2);
    const queue = new SharedQueue<number>();
    const consumer = how === 'getMixed' ? pool.run(getMixed, queue, 4000) : pool.run(getAtOnce, queue, 4, 1000);
    const [, used] = await Promise.all([pool.run(streamOut, queue, 5000, false), consumer]);
    expect(new Set(used).size).toBe(4000);
    await expectEachOnce(queue, used, 5000);
  });

  it('a getSync() while a get() of the same process is in flight: each value used once or back', async () => {
    const pool = syncPool('process', 1);
    const queue = new SharedQueue<number>();
    for (const i of range(0, 100)) await queue.put(i);
    const ready = new SharedValue('int32', 0);
    const go = new SharedValue('int32', 0);
    const consumer = pool.run(getWhileAsyncInFlight, queue, ready, go);
    await until(() => ready.value === 1);
    for (const i of range(100, 400)) await queue.put(i);
    go.value = 1;
    const used = await consumer;
    expect(new Set(used).size).toBe(112);
    await expectEachOnce(queue, used, 400);
  });

  it.each([true, false])('values taken ahead go back even when producers filled the queue meanwhile (and closed it: %s)', async (close) => {
    const pool = syncPool('process', 1);
    const queue = new SharedQueue<number>({ byteLength: 1024 });
    for (const i of range(0, 60)) await queue.put(i);
    const go = new SharedValue('int32', 0);
    const consumer = pool.run(useThenWait, queue, go, 20);
    await until(() => queue.size <= 40);
    // The consumer holds values taken ahead: fill the room they left (then close). The caller is no
    // consumer until the result is here: their way back must not wait for room.
    let next = 60;
    for (;;) {
      try {
        await queue.put(next, { timeout: 0 });
        next++;
      } catch {
        break;
      }
    }
    if (close) queue.close();
    go.value = 1;
    const used = await consumer;
    expect(used).toEqual(range(0, 20));
    await expectEachOnce(queue, used, next);
  });
});

describe('SharedQueue on the main thread', () => {
  it('two async puts that wait for room keep their own values', async () => {
    const queue = new SharedQueue<string>({ maxSize: 1 });
    await queue.put('first');
    const a = queue.put('a'.repeat(40));
    const b = queue.put('b'.repeat(40));
    expect(await queue.get()).toBe('first');
    await a;
    expect(await queue.get()).toBe('a'.repeat(40));
    await b;
    expect(await queue.get()).toBe('b'.repeat(40));
  });
});
