import { LockNotHeldError } from '../errors.js';
import {
  encodeShared,
  fromMarker,
  registerShareable,
  toMarker,
  type Shareable,
  type SharedMarker,
  type SharedState,
} from '../shareable.js';
import { Acquirable } from './guard.js';
import { Lock } from './lock.js';
import { acquiring, type OwnerDied } from './owner-word.js';
import { runningTask } from '../worker/current.js';
import { RLock } from './rlock.js';
import {
  assertMayBlock,
  deadlineOf,
  remaining,
  runAsync,
  runBlocking,
  sleepOn,
  type AsyncWaitOptions,
  type SyncWaitOptions,
  type WaitLoop,
} from './wait.js';

const SEQ = 0; // bumped by every notify: waiters sleep while it holds the value they read
const KIND = 'tandem.Condition';

/** What a Condition crosses to a thread worker as (see src/shareable.ts). */
interface ConditionState {
  buffer: SharedArrayBuffer;
  lock: SharedMarker;
}

/**
 * A condition variable over a Lock or RLock (Python's `threading.Condition`):
 * holding the lock, wait() releases it and sleeps until notify(); it holds the
 * lock again when wait() returns or throws. Wake-ups may be spurious, so wait
 * in a loop or use waitFor(predicate). Waits on a condition are not part of
 * deadlock detection (re-acquiring its lock afterwards is). A thread worker
 * that dies holding the condition's lock leaves it to the next acquirer, as
 * with the lock itself ({@link Condition.ownerDied}).
 *
 * @example
 * ```ts
 * await cond.withLock(async () => {
 *   await cond.waitFor(() => queue.length > 0, { timeout: 1_000 });
 *   item = queue.shift();
 * });
 * ```
 */
export class Condition extends Acquirable implements Shareable {
  /** The lock the condition's waits release and re-acquire. */
  readonly lock: Lock | RLock;
  readonly #words: Int32Array;

  /**
   * `lock` defaults to a new Lock, not an RLock as in Python: RLock ownership
   * is per thread, so several async flows of one thread would all "own" it.
   */
  constructor(lock?: Lock | RLock);
  /** @internal Over the memory of an existing condition: see {@link Condition.fromShared}. */
  constructor(lock: Lock | RLock, shared: SharedArrayBuffer);
  constructor(lock: Lock | RLock = new Lock({ name: 'Condition lock' }), shared?: SharedArrayBuffer) {
    super();
    this.lock = lock;
    this.#words = new Int32Array(shared ?? new SharedArrayBuffer(4));
  }

  /** @internal The same condition (and lock), over the memory its `[encodeShared]()` state holds (how it arrives in a worker). */
  static fromShared(state: unknown): Condition {
    const { buffer, lock } = state as ConditionState;
    return new Condition(fromMarker(lock) as Lock | RLock, buffer);
  }

  get name(): string {
    return this.lock.name;
  }

  /** The lock's {@link Lock.ownerDied}: set while the holder took the lock over from a thread that died holding it. */
  get ownerDied(): OwnerDied | null {
    return this.lock.ownerDied;
  }

  acquire(options?: AsyncWaitOptions): Promise<boolean> {
    return this.lock.acquire(options);
  }

  acquireSync(options?: SyncWaitOptions): boolean {
    return this.lock.acquireSync(options);
  }

  /** Releases {@link Condition.lock}. */
  release(): void {
    this.lock.release();
  }

  /** Releases the lock, waits for a notify (or the timeout), re-acquires the lock. False if it timed out. */
  async wait(options: AsyncWaitOptions = {}): Promise<boolean> {
    this.#assertHeld('wait()');
    return runAsync(this.#waitLoop(deadlineOf(options.timeout), false, options.signal));
  }

  /** Blocking form of wait(), for workers. */
  waitSync(options: SyncWaitOptions = {}): boolean {
    assertMayBlock(`condition '${this.name}'.waitSync()`);
    this.#assertHeld('waitSync()');
    return runBlocking(this.#waitLoop(deadlineOf(options.timeout), true, undefined));
  }

  *#waitLoop(deadline: number, blocking: boolean, signal: AbortSignal | undefined): WaitLoop<boolean> {
    // Read now: the loop's first step runs in the caller's synchronous part, where the task is known.
    const task = runningTask();
    const seq = Atomics.load(this.#words, SEQ);
    const depth = this.#releaseAll();
    try {
      const what = signal ? `waiting on condition '${this.name}'` : '';
      return (yield sleepOn(this.#words, SEQ, seq, deadline, signal, what)) !== 'timed-out';
    } finally {
      // Taken back whatever happened, cancellation included (so this part of the wait cannot be aborted).
      yield* acquiring(this.lock, blocking, task);
      this.#restore(depth);
    }
  }

  /** Waits until `predicate()` is true (checked with the lock held); returns its last value. */
  async waitFor<T>(predicate: () => T, options: AsyncWaitOptions = {}): Promise<T> {
    const deadline = deadlineOf(options.timeout);
    let result = predicate();
    while (!result) {
      const timeout = remaining(deadline);
      if (timeout <= 0) break;
      await this.wait({ timeout, signal: options.signal });
      result = predicate();
    }
    return result;
  }

  /** Blocking form of waitFor(), for workers. */
  waitForSync<T>(predicate: () => T, options: SyncWaitOptions = {}): T {
    assertMayBlock(`condition '${this.name}'.waitForSync()`);
    const deadline = deadlineOf(options.timeout);
    let result = predicate();
    while (!result) {
      const timeout = remaining(deadline);
      if (timeout <= 0) break;
      this.waitSync({ timeout });
      result = predicate();
    }
    return result;
  }

  /** Wakes up to `n` waiting threads or flows. The lock must be held. */
  notify(n = 1): void {
    this.#assertHeld('notify()');
    Atomics.add(this.#words, SEQ, 1);
    Atomics.notify(this.#words, SEQ, n);
  }

  /** Wakes every waiter. The lock must be held. */
  notifyAll(): void {
    this.#assertHeld('notifyAll()');
    Atomics.add(this.#words, SEQ, 1);
    Atomics.notify(this.#words, SEQ);
  }

  #assertHeld(what: string): void {
    if (!this.lock.heldByThisThread()) {
      throw new LockNotHeldError(`condition '${this.name}'.${what} was called without holding its lock`);
    }
  }

  #releaseAll(): number {
    if (this.lock instanceof RLock) return this.lock.releaseAll();
    this.lock.release();
    return 1;
  }

  #restore(depth: number): void {
    if (this.lock instanceof RLock) this.lock.restoreDepth(depth);
  }

  [encodeShared](): SharedState {
    const state: ConditionState = { buffer: this.#words.buffer as SharedArrayBuffer, lock: toMarker(this.lock) };
    return { kind: KIND, state };
  }
}

registerShareable(KIND, Condition.fromShared);
