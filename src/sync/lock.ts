import { LockNotHeldError } from '../errors.js';
import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import { deadlockDetectionEnabled, setDeadlockDetection } from './deadlock.js';
import { Acquirable } from './guard.js';
import {
  GRAPH_ID,
  OWNER_WORDS,
  STATE,
  acquireWordAsync,
  acquireWordSync,
  ownerDiedOf,
  ownerOf,
  releaseWord,
  tryAcquireWord,
  type OwnerDied,
} from './owner-word.js';
import { IS_MAIN_THREAD, THREAD_TAG, validTimeout, type SyncWaitOptions, type AsyncWaitOptions } from './wait.js';

export interface LockOptions {
  /** Name shown in deadlock reports and errors, e.g. `'accounts'`. @default `'Lock <n>'` */
  name?: string;
}

const KIND = 'tandem.Lock';
const ACQUIRED = Promise.resolve(true);
let unnamed = 0;

/** What a Lock or RLock crosses to a thread worker as (see src/shareable.ts). */
export interface LockState {
  buffer: SharedArrayBuffer;
  name: string;
}

/**
 * A mutual-exclusion lock in shared memory (Python's `threading.Lock`): one
 * holder at a time across the main thread and all thread workers it is passed
 * to. Like Python's, any thread may release it. Waiting for it in a way that
 * closes a cycle raises DeadlockError (see `Lock.deadlockDetection`).
 *
 * A robust lock: when the thread worker that holds it dies (killed for a task
 * timeout, crashed, out of memory, or ended with the lock held), the next
 * acquire takes it over and {@link Lock.ownerDied} says so.
 *
 * @example
 * ```ts
 * const lock = new Lock({ name: 'accounts' });
 * await pool.run(transfer, lock, 10);          // arrives in the worker as the same lock
 * await lock.withLock(() => audit());           // main thread: never blocks the event loop
 * ```
 */
export class Lock extends Acquirable implements Shareable {
  readonly name: string;
  // What the deadlock detector reads (a TrackedLock). Not declared with `implements`:
  // these members leave the public types, where the class would then not satisfy it.
  /** @internal */ readonly words: Int32Array;
  /** @internal */ readonly stateIndex = STATE;
  /** @internal */ readonly idIndex = GRAPH_ID;

  constructor(options?: LockOptions);
  /** @internal Over the memory of an existing lock: see {@link Lock.fromShared}. */
  constructor(options: LockOptions, shared: SharedArrayBuffer);
  constructor(options: LockOptions = {}, shared?: SharedArrayBuffer) {
    super();
    this.words = new Int32Array(shared ?? new SharedArrayBuffer(OWNER_WORDS * 4));
    this.name = options.name ?? `Lock ${++unnamed}`;
  }

  /** @internal The same lock, over the memory its `[encodeShared]()` state holds (how it arrives in a worker). */
  static fromShared(state: unknown): Lock {
    const { buffer, name } = state as LockState;
    return new Lock({ name }, buffer);
  }

  /** @internal */
  get label(): string {
    return this.name;
  }

  /**
   * Whether lock waits are checked for deadlocks, in every thread of the
   * process (default true). Detection only runs when a thread is about to
   * block, so it costs nothing on the uncontended path.
   */
  static get deadlockDetection(): boolean {
    return deadlockDetectionEnabled();
  }
  /** Turns deadlock detection on or off for every thread, as {@link setDeadlockDetection} does. */
  static set deadlockDetection(enabled: boolean) {
    setDeadlockDetection(enabled);
  }

  /** Takes the lock if it is free, without waiting. */
  tryAcquire(): boolean {
    return tryAcquireWord(this);
  }

  acquire(options?: AsyncWaitOptions): Promise<boolean> {
    // Uncontended: one CAS and a promise shared by all such calls (bench/sync.mjs: "await acquire()").
    // A bad timeout goes the slow way, which rejects it.
    if ((options === undefined || validTimeout(options.timeout)) && Atomics.compareExchange(this.words, STATE, 0, THREAD_TAG) === 0) {
      return ACQUIRED;
    }
    return acquireWordAsync(this, options?.timeout, options?.signal, 'lock');
  }

  acquireSync(options?: SyncWaitOptions): boolean {
    // The uncontended path inline, one CAS (bench/sync.mjs: "uncontended, worker").
    if (
      !IS_MAIN_THREAD &&
      (options === undefined || validTimeout(options.timeout)) &&
      Atomics.compareExchange(this.words, STATE, 0, THREAD_TAG) === 0
    ) {
      return true;
    }
    return acquireWordSync(this, options?.timeout, 'lock');
  }

  /** Frees the lock. Throws LockNotHeldError if it is not locked. */
  release(): void {
    if (Atomics.compareExchange(this.words, STATE, THREAD_TAG, 0) === THREAD_TAG) return;
    if (releaseWord(this) === 0) throw new LockNotHeldError(`lock '${this.name}' was released while unlocked`);
  }

  /**
   * Set while the current holder got the lock by taking it over from a thread
   * that died holding it (like a robust mutex's EOWNERDEAD): `{ owner:
   * 'worker 7' }`, else null. The acquire itself succeeds as usual; read this
   * right after it. What the lock guards may have been left half-updated:
   * check or repair it, then release as usual (release clears this).
   *
   * @example
   * ```ts
   * await lock.withLock(() => {
   *   if (lock.ownerDied) ledger.rebuild();   // the last holder died mid-update
   *   ledger.append(entry);
   * });
   * ```
   */
  get ownerDied(): OwnerDied | null {
    return ownerDiedOf(this);
  }

  /** Whether some thread holds it now (a thread known to have died holding it does not count). */
  locked(): boolean {
    return ownerOf(this) !== 0;
  }

  /** Whether this thread holds it now. */
  heldByThisThread(): boolean {
    return ownerOf(this) === THREAD_TAG;
  }

  /** `threadId` (from node:worker_threads; 0 is the main thread) of the thread that holds it, or null when free (or its holder died). */
  get ownerThreadId(): number | null {
    const owner = ownerOf(this);
    return owner === 0 ? null : owner - 1;
  }

  [encodeShared](): SharedState {
    const state: LockState = { buffer: this.words.buffer as SharedArrayBuffer, name: this.name };
    return { kind: KIND, state };
  }
}

registerShareable(KIND, Lock.fromShared);
