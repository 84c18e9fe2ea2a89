import { LockNotHeldError } from '../errors.js';
import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import { deadlockDetectionEnabled, setDeadlockDetection, type TrackedLock } from './deadlock.js';
import { Acquirable } from './guard.js';
import { GRAPH_ID, STATE, acquireWordAsync, acquireWordSync, ownerOf, releaseWord, tryAcquireWord } from './owner-word.js';
import { THREAD_TAG, type SyncWaitOptions, type WaitOptions } from './wait.js';

export interface LockOptions {
  /** Name shown in deadlock reports and errors, e.g. `'accounts'`. @default `'Lock <n>'` */
  name?: string;
}

const KIND = 'tandem.Lock';
let unnamed = 0;
let adopting: SharedArrayBuffer | null = null;

/**
 * A mutual-exclusion lock in shared memory (Python's `threading.Lock`): one
 * holder at a time across the main thread and all thread workers it is passed
 * to. Like Python's, any thread may release it. Waiting for it in a way that
 * closes a cycle raises DeadlockError (see `Lock.deadlockDetection`).
 *
 * @example
 * ```ts
 * const lock = new Lock({ name: 'accounts' });
 * await pool.run(transfer, lock, 10);          // arrives in the worker as the same lock
 * await lock.withLock(() => audit());           // main thread: never blocks the event loop
 * ```
 */
export class Lock extends Acquirable implements Shareable, TrackedLock {
  readonly name: string;
  /** @internal */ readonly words: Int32Array;
  /** @internal */ readonly stateIndex = STATE;
  /** @internal */ readonly idIndex = GRAPH_ID;

  constructor(options: LockOptions = {}) {
    super();
    this.words = new Int32Array(adopting ?? new SharedArrayBuffer(8));
    this.name = options.name ?? `Lock ${++unnamed}`;
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
  static set deadlockDetection(enabled: boolean) {
    setDeadlockDetection(enabled);
  }

  /** Takes the lock if it is free, without waiting. */
  tryAcquire(): boolean {
    return tryAcquireWord(this);
  }

  acquire(options: WaitOptions = {}): Promise<boolean> {
    return acquireWordAsync(this, options.timeout, options.signal, `waiting for lock '${this.name}'`);
  }

  acquireSync(options: SyncWaitOptions = {}): boolean {
    return acquireWordSync(this, options.timeout, `lock '${this.name}'.acquireSync()`);
  }

  /** Frees the lock. Throws LockNotHeldError if it is not locked. */
  release(): void {
    if (releaseWord(this) === 0) throw new LockNotHeldError(`lock '${this.name}' was released while unlocked`);
  }

  /** Whether some thread holds it now. */
  locked(): boolean {
    return ownerOf(this) !== 0;
  }

  /** Whether this thread holds it now. */
  heldByThisThread(): boolean {
    return ownerOf(this) === THREAD_TAG;
  }

  [encodeShared](): SharedState {
    return { kind: KIND, state: { buffer: this.words.buffer, name: this.name } };
  }
}

registerShareable(KIND, (state) => {
  const { buffer, name } = state as { buffer: SharedArrayBuffer; name: string };
  adopting = buffer;
  try {
    return new Lock({ name });
  } finally {
    adopting = null;
  }
});
