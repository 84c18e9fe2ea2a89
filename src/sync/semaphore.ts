import { InvalidOptionError, SemaphoreOverReleaseError } from '../errors.js';
import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import { threadLabel } from './deadlock.js';
import { Acquirable } from './guard.js';
import { threadDied } from './liveness.js';
import type { OwnerDied } from './owner-word.js';
import {
  assertMayBlock,
  checkTimeout,
  deadlineOf,
  remaining,
  runAsync,
  runBlocking,
  sleepOn,
  THREAD_TAG,
  type AsyncWaitOptions,
  type SyncWaitOptions,
  type WaitLoop,
} from './wait.js';

const VALUE = 0;
const WAITING = 1; // threads sleeping on VALUE: release skips the notify when there are none
const BOUND = 2; // -1: unbounded
/** Tag of the last holder that died with permits, which were given back (0: none since the last release). */
const DIED = 3;
/**
 * A BoundedSemaphore's holders: [thread tag, permits it holds] pairs, so that
 * the permits of a thread that dies holding them can be given back. Holders
 * beyond this many at once are not tracked (their permits are not recovered).
 */
const HOLDERS = 4;
const HOLDER_SLOTS = 64;
const WORDS = HOLDERS + HOLDER_SLOTS * 2;
/** How often a waiter looks whether a holder died (ms); nothing else would wake it then. */
const HOLDER_CHECK_MS = 50;

/** Options of {@link Semaphore} and {@link BoundedSemaphore}. */
export interface SemaphoreOptions {
  /** Name shown in errors. @default `'Semaphore <n>'` */
  name?: string;
}

let unnamed = 0;

/** What a Semaphore crosses to a thread worker as (see src/shareable.ts). */
interface SemaphoreState {
  buffer: SharedArrayBuffer;
  name: string;
}

/**
 * A counter of permits in shared memory (Python's `threading.Semaphore`):
 * acquire takes one, waiting while there are none; release gives one back.
 * Waits on a semaphore have no single owner, so they are not part of deadlock
 * detection.
 *
 * Permits are not tied to a thread (any thread may release, as when a
 * semaphore counts items a producer makes and consumers take), so a permit
 * taken by a worker that then dies is not given back: it may have been taken
 * for good. Use a {@link BoundedSemaphore} for permits that are held and given
 * back (a resource limit): those of a holder that dies are recovered.
 */
export class Semaphore extends Acquirable implements Shareable {
  readonly name: string;
  readonly #words: Int32Array;
  /** This thread's slot among the holders (-1: none yet). */
  #slot = -1;

  constructor(value?: number, options?: SemaphoreOptions);
  /** @internal Over the memory of an existing semaphore (when given): see {@link Semaphore.fromShared}. */
  constructor(value: number, options: SemaphoreOptions, shared: SharedArrayBuffer | undefined);
  constructor(value = 1, options: SemaphoreOptions = {}, shared?: SharedArrayBuffer) {
    super();
    if (!Number.isInteger(value) || value < 0) throw new InvalidOptionError('value', value, 'an integer >= 0');
    this.name = options.name ?? `Semaphore ${++unnamed}`;
    if (shared) {
      this.#words = new Int32Array(shared);
    } else {
      this.#words = new Int32Array(new SharedArrayBuffer(WORDS * Int32Array.BYTES_PER_ELEMENT));
      this.#words[VALUE] = value;
      this.#words[BOUND] = -1;
    }
  }

  /** @internal The same semaphore, over the memory its `[encodeShared]()` state holds (how it arrives in a worker). */
  static fromShared(state: unknown): Semaphore {
    const { buffer, name } = state as SemaphoreState;
    return new Semaphore(0, { name }, buffer);
  }

  /** Permits available now. */
  get value(): number {
    return Atomics.load(this.#words, VALUE);
  }

  /**
   * For a BoundedSemaphore: the holder that last died holding permits, which
   * were given back (the next acquirer may find what they guarded
   * half-updated); null otherwise. Cleared by the next release().
   */
  get ownerDied(): OwnerDied | null {
    const tag = Atomics.load(this.#words, DIED);
    return tag === 0 ? null : { owner: threadLabel(tag) };
  }

  /** Takes a permit if one is available, without waiting. */
  tryAcquire(): boolean {
    const words = this.#words;
    for (let v = Atomics.load(words, VALUE); v > 0; v = Atomics.load(words, VALUE)) {
      if (Atomics.compareExchange(words, VALUE, v, v - 1) === v) {
        if (words[BOUND] >= 0) this.#hold(1);
        return true;
      }
    }
    return false;
  }

  async acquire(options: AsyncWaitOptions = {}): Promise<boolean> {
    checkTimeout(options.timeout);
    if (this.tryAcquire()) return true;
    return runAsync(this.#acquireLoop(deadlineOf(options.timeout), options.signal));
  }

  acquireSync(options: SyncWaitOptions = {}): boolean {
    assertMayBlock(`semaphore '${this.name}'.acquireSync()`);
    checkTimeout(options.timeout);
    if (this.tryAcquire()) return true;
    return runBlocking(this.#acquireLoop(deadlineOf(options.timeout), undefined));
  }

  *#acquireLoop(deadline: number, signal: AbortSignal | undefined): WaitLoop<boolean> {
    const words = this.#words;
    const what = signal ? `waiting for semaphore '${this.name}'` : '';
    const bounded = words[BOUND] >= 0;
    for (;;) {
      if (this.tryAcquire() || (bounded && this.#recoverDead() && this.tryAcquire())) return true;
      if (remaining(deadline) <= 0) return false;
      Atomics.add(words, WAITING, 1);
      try {
        // A holder that dies cannot wake us: a bounded semaphore's waiter looks again now and then.
        yield sleepOn(words, VALUE, 0, deadline, signal, what, bounded ? performance.now() + HOLDER_CHECK_MS : deadline);
      } finally {
        Atomics.sub(words, WAITING, 1);
      }
    }
  }

  /** Gives back `n` permits, waking up to `n` waiters. */
  release(n = 1): void {
    if (!Number.isInteger(n) || n < 1) throw new InvalidOptionError('n', n, 'an integer >= 1');
    const words = this.#words;
    const bound = words[BOUND];
    if (bound < 0) {
      Atomics.add(words, VALUE, n);
    } else {
      // The holders' count goes down first, so a recovery running meanwhile cannot give these permits back twice.
      const released = this.#unhold(n);
      for (let v = Atomics.load(words, VALUE); ; v = Atomics.load(words, VALUE)) {
        if (v + n > bound) {
          this.#hold(released);
          throw new SemaphoreOverReleaseError(bound);
        }
        if (Atomics.compareExchange(words, VALUE, v, v + n) === v) break;
      }
      if (Atomics.load(words, DIED) !== 0) Atomics.store(words, DIED, 0);
    }
    if (Atomics.load(words, WAITING) > 0) Atomics.notify(words, VALUE, n);
  }

  /** Counts `n` permits as held by this thread (untracked if every holder slot is taken). */
  #hold(n: number): void {
    if (n === 0) return;
    const words = this.#words;
    let slot = this.#slot;
    if (slot < 0 || Atomics.load(words, slot) !== THREAD_TAG) {
      slot = this.#findSlot();
      // Every slot taken: those of holders that died are freed (and their permits given back).
      if (slot < 0 && this.#recoverDead()) slot = this.#findSlot();
      if (slot < 0) return;
      this.#slot = slot;
    }
    Atomics.add(words, slot + 1, n);
  }

  /** This thread's holder slot, claimed if it has none; -1 if every slot is taken. */
  #findSlot(): number {
    const words = this.#words;
    for (let at = HOLDERS; at < WORDS; at += 2) if (Atomics.load(words, at) === THREAD_TAG) return at;
    for (let at = HOLDERS; at < WORDS; at += 2) if (Atomics.compareExchange(words, at, 0, THREAD_TAG) === 0) return at;
    return -1;
  }

  /**
   * Takes up to `n` permits off the holders' counts for a release: this
   * thread's first, then (a release on another's behalf) any holder's.
   * Returns how many it took, to put back if the release is refused.
   */
  #unhold(n: number): number {
    const words = this.#words;
    let left = n;
    const mine = this.#slot;
    const order = mine >= 0 && Atomics.load(words, mine) === THREAD_TAG ? [mine] : [];
    for (let at = HOLDERS; at < WORDS; at += 2) if (at !== mine) order.push(at);
    for (const at of order) {
      for (let held = Atomics.load(words, at + 1); held > 0 && left > 0; held = Atomics.load(words, at + 1)) {
        const take = Math.min(held, left);
        if (Atomics.compareExchange(words, at + 1, held, held - take) === held) left -= take;
      }
      if (left === 0) break;
    }
    return n - left;
  }

  /** Gives back the permits of holders that died; true if any came back. */
  #recoverDead(): boolean {
    const words = this.#words;
    const bound = words[BOUND];
    let recovered = false;
    for (let at = HOLDERS; at < WORDS; at += 2) {
      const tag = Atomics.load(words, at);
      if (tag === 0 || tag === THREAD_TAG || !threadDied(tag)) continue;
      const held = Atomics.exchange(words, at + 1, 0);
      // Free the slot for a live thread; a recovery racing this one found held = 0.
      Atomics.compareExchange(words, at, tag, 0);
      if (held === 0) continue;
      for (let v = Atomics.load(words, VALUE); ; v = Atomics.load(words, VALUE)) {
        if (Atomics.compareExchange(words, VALUE, v, Math.min(bound, v + held)) === v) break;
      }
      Atomics.store(words, DIED, tag);
      recovered = true;
    }
    if (recovered && Atomics.load(words, WAITING) > 0) Atomics.notify(words, VALUE);
    return recovered;
  }

  /** @internal */
  protected setBound(bound: number): void {
    this.#words[BOUND] = bound;
  }

  [encodeShared](): SharedState {
    const state: SemaphoreState = { buffer: this.#words.buffer as SharedArrayBuffer, name: this.name };
    return { kind: this.kind(), state };
  }

  /** @internal */
  protected kind(): string {
    return 'tandem.Semaphore';
  }
}

/**
 * A Semaphore that may never hold more permits than it started with:
 * over-release throws SemaphoreOverReleaseError. Its permits are things held
 * and given back, so those of a worker that dies holding them come back to
 * the next acquirer, which can tell from {@link Semaphore.ownerDied}.
 *
 * @example
 * const connections = new BoundedSemaphore(4, { name: 'db connections' });
 * // in a task:
 * await connections.acquire();
 * if (connections.ownerDied) log(`a permit of ${connections.ownerDied.owner}, which died, came back`);
 * try { await query(); } finally { connections.release(); }
 */
export class BoundedSemaphore extends Semaphore {
  constructor(value?: number, options?: SemaphoreOptions);
  /** @internal Over the memory of an existing semaphore: see {@link BoundedSemaphore.fromShared}. */
  constructor(value: number, options: SemaphoreOptions, shared: SharedArrayBuffer);
  constructor(value = 1, options: SemaphoreOptions = {}, shared?: SharedArrayBuffer) {
    super(value, { name: options.name ?? `BoundedSemaphore ${++unnamed}` }, shared);
    if (!shared) this.setBound(value);
  }

  /** @internal The same semaphore, over the memory its `[encodeShared]()` state holds (how it arrives in a worker). */
  static override fromShared(state: unknown): BoundedSemaphore {
    const { buffer, name } = state as SemaphoreState;
    return new BoundedSemaphore(0, { name }, buffer);
  }

  protected override kind(): string {
    return 'tandem.BoundedSemaphore';
  }
}

registerShareable('tandem.Semaphore', Semaphore.fromShared);
registerShareable('tandem.BoundedSemaphore', BoundedSemaphore.fromShared);
