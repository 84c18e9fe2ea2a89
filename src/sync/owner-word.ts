/**
 * The word behind Lock and RLock: 0 when free, else the owner's thread tag,
 * with WAITERS set once some thread waits for it (a futex in the manner of
 * Drepper's "Futexes are tricky", mutex #2), and OWNER_DIED set while the
 * holder is one that took it over from a thread that died holding it.
 *
 *   acquire: CAS 0 -> tag                                  (uncontended: one CAS)
 *   release: CAS tag -> 0                                  (uncontended: one CAS)
 *            tag|WAITERS -> 0, then notify one waiter      (contended)
 *
 * A waiter sets WAITERS, asks the deadlock detector whether blocking would
 * close a cycle, then sleeps on the word. Whoever wakes takes the lock with
 * WAITERS set, since others may still be sleeping.
 *
 * A robust mutex: a waiter that finds the owner dead (liveness.ts) takes the
 * lock over in one CAS, owner|... -> self|WAITERS|OWNER_DIED, and notes the dead
 * owner in DEAD_OWNER. WAITERS sends the release down the slow path, which
 * clears the whole word and so OWNER_DIED with it: the uncontended paths never
 * look at any of this. A dead owner cannot wake anyone, so a waiter whose owner
 * is another thread sleeps at most OWNER_CHECK_MS at a time and looks again.
 */
import { RETRY, enter, leave, releaseTracked, threadLabel, type TrackedLock, type WaitingTask } from './deadlock.js';
import { servedPid, threadDied } from './liveness.js';
import { runningTask } from '../worker/current.js';
import { THREAD_TAG, assertMayBlock, checkTimeout, deadlineOf, remaining, runAsync, runBlocking, sleepOn, type WaitLoop } from './wait.js';

export const STATE = 0;
export const GRAPH_ID = 1;
/** The tag of the dead thread the holder took the lock over from (read only while OWNER_DIED is set). */
export const DEAD_OWNER = 2;
/** Words of a Lock; an RLock has one more (its depth). */
export const OWNER_WORDS = 3;
export const WAITERS = 0x40000000;
export const OWNER_DIED = 1 << 31;
/**
 * Set while the owner is the server thread of a process worker that keeps
 * the lock leased but, as far as the server knows, not held by a task
 * (src/share/lease.ts). The lock counts as free (locked() is false), but
 * only its lessee can take it at once: anyone else asks for it back.
 */
export const LEASED = 1 << 29;
export const OWNER = LEASED - 1;

/** The main thread's tag: it outlives every lock wait of the process. */
const MAIN_TAG = 1;
/** Spins before sleeping: a lock is often held for less time than a sleep and wake-up take. */
const SPINS = 64;
/** How often a waiter looks whether its lock's owner died (ms); nothing else would wake it then. */
const OWNER_CHECK_MS = 50;

/** What tells a lock's owner died, for {@link Lock.ownerDied}. */
export interface OwnerDied {
  /** The thread that died holding it, named as in deadlock reports: `'worker 7'` (its threadId). */
  owner: string;
}

export function tryAcquireWord(lock: TrackedLock): boolean {
  if (Atomics.compareExchange(lock.words, STATE, 0, THREAD_TAG) === 0) return true;
  const c = Atomics.load(lock.words, STATE);
  // Leased to a process worker: not ours to take now, but asked back, so that a later try can succeed.
  if ((c & LEASED) !== 0) {
    if ((c & WAITERS) === 0 && Atomics.compareExchange(lock.words, STATE, c, c | WAITERS) === c) Atomics.notify(lock.words, STATE);
    return false;
  }
  return ownerIsDead(c) && takeOver(lock, c);
}

/** `kind` ('lock', 'rlock') names the lock in errors; messages are only built on the slow path. */
export function acquireWordSync(lock: TrackedLock, timeout: number | undefined, kind: string): boolean {
  assertMayBlock(`${kind} '${lock.label}'.acquireSync()`);
  checkTimeout(timeout);
  // Tries and spins in plain code: only a wait that is going to sleep pays for its loop.
  if (Atomics.compareExchange(lock.words, STATE, 0, THREAD_TAG) === 0 || spinToAcquire(lock.words)) return true;
  return runBlocking(acquireLoop(lock, deadlineOf(timeout), true, undefined, '', runningTask()));
}

export async function acquireWordAsync(
  lock: TrackedLock,
  timeout: number | undefined,
  signal: AbortSignal | undefined,
  kind: string,
): Promise<boolean> {
  checkTimeout(timeout);
  if (Atomics.compareExchange(lock.words, STATE, 0, THREAD_TAG) === 0) return true;
  // The task is known only in its call's synchronous part: an acquire after an await names the thread alone.
  return runAsync(acquireLoop(lock, deadlineOf(timeout), false, signal, `waiting for ${kind} '${lock.label}'`, runningTask()));
}

/**
 * An async acquire made for a child process by its server thread (src/share/):
 * `blocking` when the child called a Sync form, whose own thread then cannot
 * release what its process holds, so waiting for itself is a deadlock, as it
 * is for a thread's acquireSync. `task` names the child's task in deadlock
 * reports.
 */
export function acquireWordServed(
  lock: TrackedLock,
  timeout: number | undefined,
  signal: AbortSignal | undefined,
  kind: string,
  blocking: boolean,
  task: WaitingTask | undefined,
): Promise<boolean> | boolean {
  checkTimeout(timeout);
  if (Atomics.compareExchange(lock.words, STATE, 0, THREAD_TAG) === 0) return true;
  return runAsync(acquireLoop(lock, deadlineOf(timeout), blocking, signal, `waiting for ${kind} '${lock.label}'`, task));
}

/**
 * The whole acquire as one wait loop, not cancellable (for Condition, taking its lock back): try, spin if
 * blocking, wait. `task` names the waiting task in deadlock reports.
 */
export function* acquiring(lock: TrackedLock, blocking: boolean, task: WaitingTask | undefined): WaitLoop<boolean> {
  if (Atomics.compareExchange(lock.words, STATE, 0, THREAD_TAG) === 0 || (blocking && spinToAcquire(lock.words))) return true;
  return yield* acquireLoop(lock, Infinity, blocking, undefined, '', task);
}

/** Spins a little while the lock is held by another thread; true if it got it meanwhile. */
function spinToAcquire(words: Int32Array): boolean {
  for (let spins = 0; spins < SPINS; spins++) {
    const c = Atomics.load(words, STATE);
    if (c === 0) {
      if (Atomics.compareExchange(words, STATE, 0, THREAD_TAG | WAITERS) === 0) return true;
    } else if ((c & OWNER) === THREAD_TAG) {
      return false;
    }
  }
  return false;
}

/**
 * The lock's wait, once the first try failed. `blocking`: a blocking wait,
 * for which another flow of this thread cannot release a lock this thread
 * holds (an async one waits for its own thread without that being a
 * deadlock).
 */
export function* acquireLoop(
  lock: TrackedLock,
  deadline: number,
  blocking: boolean,
  signal: AbortSignal | undefined,
  what: string,
  task?: WaitingTask,
): WaitLoop<boolean> {
  const words = lock.words;
  for (;;) {
    const c = Atomics.load(words, STATE);
    if (c === 0) {
      if (Atomics.compareExchange(words, STATE, 0, THREAD_TAG | WAITERS) === 0) return true;
      continue;
    }
    if (ownerIsDead(c)) {
      if (takeOver(lock, c)) return true;
      continue;
    }
    if (remaining(deadline) <= 0) return false;
    if ((c & WAITERS) === 0) {
      if (Atomics.compareExchange(words, STATE, c, c | WAITERS) !== c) continue;
      // A process worker's server thread watches a lock it leases for the first waiter (src/share/lease.ts).
      if (servedPid(c & OWNER) !== 0) Atomics.notify(words, STATE);
    }
    const expected = c | WAITERS;
    const owner = c & OWNER;
    if ((c & LEASED) !== 0) {
      // Held by nobody: its lessee gives it back (or says a task holds it) soon. Not a wait for the detector.
      yield sleepOn(words, STATE, expected, deadline, signal, what, performance.now() + OWNER_CHECK_MS);
      continue;
    }
    const slot = enter(lock, expected, owner, !blocking, task);
    if (slot === RETRY) continue;
    try {
      const wake = owner === THREAD_TAG || owner === MAIN_TAG ? deadline : performance.now() + OWNER_CHECK_MS;
      yield sleepOn(words, STATE, expected, deadline, signal, what, wake);
    } finally {
      leave(slot);
    }
  }
}

/** Whether word `c` names an owner (not this thread) that is known to have died. */
function ownerIsDead(c: number): boolean {
  const owner = c & OWNER;
  return owner !== 0 && owner !== THREAD_TAG && threadDied(owner);
}

/** Takes the lock from its dead owner (word `c`); false if the word changed meanwhile. */
function takeOver(lock: TrackedLock, c: number): boolean {
  if (Atomics.compareExchange(lock.words, STATE, c, THREAD_TAG | WAITERS | OWNER_DIED) !== c) return false;
  Atomics.store(lock.words, DEAD_OWNER, c & OWNER);
  return true;
}

/** Frees the word; returns its value before (0: it was not locked, and nothing changed). */
export function releaseWord(lock: TrackedLock): number {
  const words = lock.words;
  // The common case, a thread releasing its own lock that nobody waits for: one CAS.
  if (Atomics.compareExchange(words, STATE, THREAD_TAG, 0) === THREAD_TAG) return THREAD_TAG;
  const c = Atomics.load(words, STATE);
  // A lease no task holds is an unlocked lock to anyone but its server thread (which ends leases this way).
  if (c === 0 || ((c & LEASED) !== 0 && (c & OWNER) !== THREAD_TAG)) return 0;
  if ((c & WAITERS) === 0 && Atomics.compareExchange(words, STATE, c, 0) === c) {
    // Released for a process worker's task by someone else: its server thread watches the word and voids the lease.
    if ((c & OWNER) !== THREAD_TAG && servedPid(c & OWNER) !== 0) Atomics.notify(words, STATE);
    return c;
  }
  releaseTracked(lock);
  Atomics.notify(words, STATE, 1);
  return c | WAITERS;
}

/**
 * The owner's tag, 0 when free; an owner known to be dead counts as none (the
 * next acquire takes the lock), and so does a lease no task holds.
 */
export function ownerOf(lock: TrackedLock): number {
  const c = Atomics.load(lock.words, STATE);
  return ownerIsDead(c) || (c & LEASED) !== 0 ? 0 : c & OWNER;
}

export function ownerDiedOf(lock: TrackedLock): OwnerDied | null {
  if ((Atomics.load(lock.words, STATE) & OWNER_DIED) === 0) return null;
  return { owner: threadLabel(Atomics.load(lock.words, DEAD_OWNER)) };
}
