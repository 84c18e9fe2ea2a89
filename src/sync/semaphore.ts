import { InvalidOptionError, SemaphoreOverReleaseError } from '../errors.js';
import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import { Acquirable } from './guard.js';
import {
  assertMayBlock,
  checkTimeout,
  deadlineOf,
  remaining,
  runAsync,
  runBlocking,
  sleepOn,
  type AsyncWaitOptions,
  type SyncWaitOptions,
  type WaitLoop,
} from './wait.js';

const VALUE = 0;
const WAITING = 1; // threads sleeping on VALUE: release skips the notify when there are none
const BOUND = 2; // -1: unbounded

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
 * Permits are not tied to a thread (any thread may release), so a permit
 * taken by a thread worker that then dies is not given back: give waits a
 * timeout where that can happen.
 */
export class Semaphore extends Acquirable implements Shareable {
  readonly name: string;
  readonly #words: Int32Array;

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
      this.#words = new Int32Array(new SharedArrayBuffer(12));
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

  /** Takes a permit if one is available, without waiting. */
  tryAcquire(): boolean {
    const words = this.#words;
    for (let v = Atomics.load(words, VALUE); v > 0; v = Atomics.load(words, VALUE)) {
      if (Atomics.compareExchange(words, VALUE, v, v - 1) === v) return true;
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
    for (;;) {
      if (this.tryAcquire()) return true;
      if (remaining(deadline) <= 0) return false;
      Atomics.add(words, WAITING, 1);
      try {
        yield sleepOn(words, VALUE, 0, deadline, signal, what);
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
      for (let v = Atomics.load(words, VALUE); ; v = Atomics.load(words, VALUE)) {
        if (v + n > bound) throw new SemaphoreOverReleaseError(bound);
        if (Atomics.compareExchange(words, VALUE, v, v + n) === v) break;
      }
    }
    if (Atomics.load(words, WAITING) > 0) Atomics.notify(words, VALUE, n);
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

/** A Semaphore that may never hold more permits than it started with: over-release throws SemaphoreOverReleaseError. */
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
