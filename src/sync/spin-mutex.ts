/**
 * A small mutex for critical sections of a few hundred instructions (the
 * wait-for graph, a SharedQueue's ring indexes): Drepper's futex mutex #3
 * (0 free, 1 locked, 2 locked with sleepers) after a short spin. Workers sleep
 * on the word; the main thread only spins, since a holder never waits while
 * holding it and the section is short.
 */
import { isMainThread } from 'node:worker_threads';
import { threadDied } from './liveness.js';
import { THREAD_TAG } from './wait.js';

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

const SLEEPERS = 0x40000000;
const HOLDER = SLEEPERS - 1;
/** How long a sleeper waits before it looks whether the holder died (ms). */
const HOLDER_CHECK_MS = 50;

/**
 * The same mutex for sections a worker may be killed inside (a task timeout
 * stops a thread at any instruction): the word holds the holder's thread tag
 * instead of 1 (SLEEPERS instead of 2), and a thread that finds the holder
 * dead (liveness.ts) takes the mutex over. Only for data a half-done section
 * cannot break (the wait-for graph: a dead thread's records are ignored).
 */
export function lockSpinRobust(words: Int32Array, index: number): void {
  if (Atomics.compareExchange(words, index, 0, THREAD_TAG) === 0) return;
  for (let spins = 0; ; spins++) {
    const c = Atomics.load(words, index);
    if (c === 0) {
      // Others may sleep on it: keep SLEEPERS so the unlock wakes one.
      if (Atomics.compareExchange(words, index, 0, spins < SPINS ? THREAD_TAG : THREAD_TAG | SLEEPERS) === 0) return;
      continue;
    }
    if (threadDied(c & HOLDER)) {
      if (Atomics.compareExchange(words, index, c, THREAD_TAG | SLEEPERS) === c) return;
      continue;
    }
    if (spins < SPINS || isMainThread) continue;
    if ((c & SLEEPERS) === 0 && Atomics.compareExchange(words, index, c, c | SLEEPERS) !== c) continue;
    Atomics.wait(words, index, c | SLEEPERS, HOLDER_CHECK_MS);
  }
}

export function unlockSpinRobust(words: Int32Array, index: number): void {
  if (Atomics.compareExchange(words, index, THREAD_TAG, 0) === THREAD_TAG) return;
  Atomics.store(words, index, 0);
  Atomics.notify(words, index, 1);
}
