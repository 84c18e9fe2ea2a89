import { LockNotHeldError } from '../errors.js';
import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import { Acquirable } from './guard.js';
import type { LockOptions, LockState } from './lock.js';
import type { WaitingTask } from './deadlock.js';
import {
  GRAPH_ID,
  OWNER_WORDS,
  STATE,
  acquireWordAsync,
  acquireWordServed,
  acquireWordSync,
  ownerDiedOf,
  ownerOf,
  releaseWord,
  tryAcquireWord,
  type OwnerDied,
} from './owner-word.js';
import { THREAD_TAG, assertMayBlock, checkTimeout, type SyncWaitOptions, type AsyncWaitOptions } from './wait.js';

const DEPTH = OWNER_WORDS;
const KIND = 'tandem.RLock';
let unnamed = 0;

/**
 * A re-entrant lock (Python's `threading.RLock`): the thread that holds it may
 * acquire it again, and must release it as many times. Ownership is per
 * thread: async code on one thread (several flows on the main thread) counts
 * as one owner, so an RLock cannot keep such flows apart: use a Lock for
 * that. Only the owner may release it.
 *
 * Robust like {@link Lock}: when the thread worker that holds it dies, the
 * next acquire takes it over (at depth 1) and {@link RLock.ownerDied} says so.
 */
export class RLock extends Acquirable implements Shareable {
  readonly name: string;
  // What the deadlock detector reads (a TrackedLock). Not declared with `implements`:
  // these members leave the public types, where the class would then not satisfy it.
  /** @internal */ readonly words: Int32Array;
  /** @internal */ readonly stateIndex = STATE;
  /** @internal */ readonly idIndex = GRAPH_ID;

  constructor(options?: LockOptions);
  /** @internal Over the memory of an existing rlock: see {@link RLock.fromShared}. */
  constructor(options: LockOptions, shared: SharedArrayBuffer);
  constructor(options: LockOptions = {}, shared?: SharedArrayBuffer) {
    super();
    this.words = new Int32Array(shared ?? new SharedArrayBuffer((OWNER_WORDS + 1) * 4));
    this.name = options.name ?? `RLock ${++unnamed}`;
  }

  /** @internal The same rlock, over the memory its `[encodeShared]()` state holds (how it arrives in a worker). */
  static fromShared(state: unknown): RLock {
    const { buffer, name } = state as LockState;
    return new RLock({ name }, buffer);
  }

  /** @internal */
  get label(): string {
    return this.name;
  }

  /** How many times the owner holds it (0 when free or held by another thread). */
  get depth(): number {
    return this.heldByThisThread() ? this.words[DEPTH] : 0;
  }

  /** Takes the lock (or one more level of it, if this thread holds it) without waiting. */
  tryAcquire(): boolean {
    if (this.#reenter()) return true;
    if (!tryAcquireWord(this)) return false;
    this.words[DEPTH] = 1;
    return true;
  }

  async acquire(options?: AsyncWaitOptions): Promise<boolean> {
    checkTimeout(options?.timeout);
    if (this.#reenter()) return true;
    if (!(await acquireWordAsync(this, options?.timeout, options?.signal, 'rlock'))) return false;
    this.words[DEPTH] = 1;
    return true;
  }

  acquireSync(options?: SyncWaitOptions): boolean {
    assertMayBlock(`rlock '${this.name}'.acquireSync()`);
    checkTimeout(options?.timeout);
    if (this.#reenter()) return true;
    if (!acquireWordSync(this, options?.timeout, 'rlock')) return false;
    this.words[DEPTH] = 1;
    return true;
  }

  /** @internal An acquire made for a child process by its server thread (src/share/ops.ts); see acquireWordServed. */
  async acquireServed(
    timeout: number | undefined,
    signal: AbortSignal | undefined,
    blocking: boolean,
    task: WaitingTask | undefined,
  ): Promise<boolean> {
    checkTimeout(timeout);
    if (this.#reenter()) return true;
    if (!(await acquireWordServed(this, timeout, signal, 'rlock', blocking, task))) return false;
    this.words[DEPTH] = 1;
    return true;
  }

  /** Undoes one acquire; the last one frees it. Throws LockNotHeldError unless this thread holds it. */
  release(): void {
    if (!this.heldByThisThread()) {
      throw new LockNotHeldError(`rlock '${this.name}' was released by a thread that does not hold it`);
    }
    // Only the owner touches the depth, so plain reads and writes suffice.
    if (--this.words[DEPTH] === 0) releaseWord(this);
  }

  /**
   * Set while the current holder got the rlock by taking it over from a
   * thread that died holding it: `{ owner: 'worker 7' }`, else null. What it
   * guards may be half-updated: check or repair it before the last release
   * (which clears this). See {@link Lock.ownerDied}.
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

  /** @internal Condition.wait: frees it whatever the depth, returning the depth to restore. */
  releaseAll(): number {
    const depth = this.words[DEPTH];
    this.words[DEPTH] = 1;
    this.release();
    return depth;
  }

  /** @internal Condition.wait: after re-acquiring, restores the depth releaseAll() returned. */
  restoreDepth(depth: number): void {
    this.words[DEPTH] = depth;
  }

  #reenter(): boolean {
    if (ownerOf(this) !== THREAD_TAG) return false;
    this.words[DEPTH]++;
    return true;
  }

  [encodeShared](): SharedState {
    const state: LockState = { buffer: this.words.buffer as SharedArrayBuffer, name: this.name };
    return { kind: KIND, state };
  }
}

registerShareable(KIND, RLock.fromShared);
