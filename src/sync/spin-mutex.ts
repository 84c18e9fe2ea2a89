/**
 * A small mutex for critical sections of a few hundred instructions (the
 * wait-for graph, a SharedQueue's ring indexes): Drepper's futex mutex #3
 * (0 free, 1 locked, 2 locked with sleepers) after a short spin. Workers sleep
 * on the word; the main thread only spins, since a holder never waits while
 * holding it and the section is short.
 */
import { isMainThread } from 'node:worker_threads';

const SPINS = 500;

export function lockSpin(words: Int32Array, index: number): void {
  if (Atomics.compareExchange(words, index, 0, 1) === 0) return;
  for (let spins = 0; spins < SPINS; spins++) {
    if (Atomics.load(words, index) === 0 && Atomics.compareExchange(words, index, 0, 1) === 0) return;
  }
  if (isMainThread) {
    while (Atomics.compareExchange(words, index, 0, 2) !== 0);
    return;
  }
  let c = Atomics.exchange(words, index, 2);
  while (c !== 0) {
    Atomics.wait(words, index, 2);
    c = Atomics.exchange(words, index, 2);
  }
}

export function unlockSpin(words: Int32Array, index: number): void {
  if (Atomics.sub(words, index, 1) !== 1) {
    Atomics.store(words, index, 0);
    Atomics.notify(words, index, 1);
  }
}
