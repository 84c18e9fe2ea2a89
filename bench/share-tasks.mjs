// Tasks for bench/share.mjs: shared objects used from process workers.
import { task } from 'tandem';

/**
 * `iterations` uncontended acquire + release; returns µs per pair. `sync`:
 * acquireSync, else await acquire(); 'query': lock.locked() alone (one request).
 */
export const lockPairs = task(import.meta.url, async function lockPairs(lock, iterations, sync) {
  const start = performance.now();
  if (sync === 'query') {
    for (let i = 0; i < iterations; i++) lock.locked();
  } else if (sync) {
    for (let i = 0; i < iterations; i++) {
      lock.acquireSync();
      lock.release();
    }
  } else {
    for (let i = 0; i < iterations; i++) {
      await lock.acquire();
      lock.release();
    }
  }
  return ((performance.now() - start) * 1000) / iterations;
});

/** Meets the consumer at `ready`, then puts `count` values (putSync or await put). */
export const produceStream = task(import.meta.url, async function produceStream(queue, ready, count, sync) {
  ready.waitSync({ timeout: 60_000 });
  for (let i = 0; i < count; i++) {
    if (sync) queue.putSync(i);
    else await queue.put(i);
  }
});

/** Meets the producer at `ready`, takes `count` values; returns values per second from the meeting to the last one. */
export const consumeStream = task(import.meta.url, async function consumeStream(queue, ready, count, sync) {
  ready.waitSync({ timeout: 60_000 });
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    if (sync) queue.getSync();
    else await queue.get();
  }
  return count / ((performance.now() - start) / 1000);
});
