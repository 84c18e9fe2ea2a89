/**
 * What every acquire/release primitive (Lock, RLock, Semaphore, Condition)
 * shares: scoped guards for `using` / `await using`, and `withLock` helpers,
 * built on the primitive's own acquire, acquireSync and release.
 */
import { SyncTimeoutError } from '../errors.js';
import type { AsyncWaitOptions, SyncWaitOptions } from './wait.js';
// Loaded first for its side effect: it defines Symbol.dispose where the runtime lacks it, which the class below uses.
import './wait.js';

/** Held until disposed: `using held = await lock.guard()` releases at the end of the scope. */
export class Guard implements Disposable, AsyncDisposable {
  #release: (() => void) | null;

  constructor(release: () => void) {
    this.#release = release;
  }

  /** Releases now (once; later calls and the scope's end do nothing). */
  release(): void {
    const release = this.#release;
    this.#release = null;
    release?.();
  }

  /** Releases at the end of a `using` scope. */
  [Symbol.dispose](): void {
    this.release();
  }

  /** Releases at the end of an `await using` scope. */
  [Symbol.asyncDispose](): Promise<void> {
    this.release();
    return Promise.resolve();
  }
}

export abstract class Acquirable {
  /** Name shown in errors (and, for locks, in deadlock reports). */
  abstract readonly name: string;
  /** Waits (without blocking the event loop) until acquired; false if `timeout` passed first. */
  abstract acquire(options?: AsyncWaitOptions): Promise<boolean>;
  /** Blocks this worker thread until acquired; false if `timeout` passed first. Throws on the main thread. */
  abstract acquireSync(options?: SyncWaitOptions): boolean;
  abstract release(): void;

  /**
   * Acquires and returns a guard that releases at the end of a `using` scope.
   * Throws SyncTimeoutError if `timeout` passes first.
   *
   * @example
   * ```ts
   * {
   *   using held = await lock.guard({ timeout: 1_000 });
   *   counter.value += 1;
   * } // released here, even on throw
   * ```
   */
  async guard(options?: AsyncWaitOptions): Promise<Guard> {
    this.#assertAcquired(await this.acquire(options), options);
    return new Guard(() => this.release());
  }

  /** Blocking form of guard(), for workers: `using held = lock.guardSync()`. */
  guardSync(options?: SyncWaitOptions): Guard {
    this.#assertAcquired(this.acquireSync(options), options);
    return new Guard(() => this.release());
  }

  /** Runs `fn` while holding this, releasing afterwards (also when it throws). */
  async withLock<R>(fn: () => R | Promise<R>, options?: AsyncWaitOptions): Promise<R> {
    this.#assertAcquired(await this.acquire(options), options);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** Blocking form of withLock(), for workers. */
  withLockSync<R>(fn: () => R, options?: SyncWaitOptions): R {
    this.#assertAcquired(this.acquireSync(options), options);
    try {
      return fn();
    } finally {
      this.release();
    }
  }

  #assertAcquired(acquired: boolean, options: SyncWaitOptions | undefined): void {
    if (!acquired) throw new SyncTimeoutError(`acquiring '${this.name}'`, options?.timeout ?? Infinity);
  }
}
