import { CancelledError, InvalidOptionError, type TandemError, WaitTimeoutError } from './errors.js';
import { setLongTimeout } from './timer.js';

/** Where a future is in its life. */
export type FutureState = 'pending' | 'running' | 'fulfilled' | 'rejected' | 'cancelled';

/** What a future asks of whoever runs it; the pool implements it. */
export interface FutureOwner {
  /** Cancels the call behind the future; false if it can no longer be cancelled. */
  cancelFuture(future: Future<unknown>): boolean;
}

type DoneCallback<R> = (future: Future<R>) => void;

const noop = (): void => {};

/**
 * The result of `pool.submit()`: a Promise (await it, pass it to
 * `Promise.all`) that also knows its state and can be cancelled, like
 * Python's `concurrent.futures.Future`.
 *
 * @example
 * ```ts
 * const f = pool.submit(fib, [40], { timeout: 5_000 });
 * f.addDoneCallback((done) => console.log(done.state));
 * if (userGaveUp) f.cancel();
 * const value = await f;
 * ```
 */
export class Future<R> extends Promise<R> {
  // Derived promises (then/catch/finally) are plain Promises: they have no task behind them.
  /** @internal */
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  /** Id of the call, unique in this process (errors name it). */
  readonly id: number;
  #state: FutureState = 'pending';
  #resolve!: (value: R) => void;
  #reject!: (reason: unknown) => void;
  #owner: FutureOwner | null;
  #callbacks: DoneCallback<R>[] | null = null;
  /** @internal The pool's record of the call. */
  job: unknown = null;

  /** @internal Futures are made by a pool. */
  constructor(id: number, owner: FutureOwner | null) {
    let resolve!: (value: R) => void;
    let reject!: (reason: unknown) => void;
    super((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#resolve = resolve;
    this.#reject = reject;
    this.id = id;
    this.#owner = owner;
  }

  /** `pending` (queued), `running`, then `fulfilled`, `rejected` or `cancelled`. */
  get state(): FutureState {
    return this.#state;
  }

  /** True once the future has settled in any way. */
  done(): boolean {
    return this.#state !== 'pending' && this.#state !== 'running';
  }

  /** True if the future ended by cancellation. */
  cancelled(): boolean {
    return this.#state === 'cancelled';
  }

  /**
   * Cancels the call. A queued call is removed and never runs; a running call
   * has its AbortSignal (`currentSignal()` inside the task) aborted. Either way
   * the future rejects at once with CancelledError. Returns false if the
   * future had already settled.
   */
  cancel(): boolean {
    if (this.done()) return false;
    if (this.#owner) return this.#owner.cancelFuture(this as Future<unknown>);
    this.settleCancelled(new CancelledError());
    return true;
  }

  /**
   * Calls `callback` with this future once it settles, or at once (before
   * returning) if it has. Callbacks run in the order they were added.
   *
   * A callback that throws never throws at the caller and never stops the
   * other callbacks: its error is reported as an uncaught exception (on a
   * microtask, so `process.on('uncaughtException')` sees it), the same way
   * whether the future had settled when the callback was added or not.
   * Python logs and ignores such errors; tandem does not let them pass unseen.
   *
   * @example
   * ```ts
   * const f = pool.submit(fib, [30]);
   * f.addDoneCallback((done) => console.log(done.id, done.state));
   * ```
   */
  addDoneCallback(callback: DoneCallback<R>): void {
    if (this.done()) runCallback(callback, this);
    else (this.#callbacks ??= []).push(callback);
  }

  /** @internal */
  markRunning(): void {
    if (this.#state === 'pending') this.#state = 'running';
  }

  /** @internal The call moved to another scheduler (auto reruns it in a process): cancel() goes there. */
  rebind(owner: FutureOwner, job: unknown): void {
    if (this.done()) return;
    this.#owner = owner;
    this.job = job;
    this.#state = 'pending';
  }

  /** @internal The call went back to the queue (its worker gave it back, or died before starting it). */
  markPending(): void {
    if (this.#state === 'running') this.#state = 'pending';
  }

  /** @internal */
  settleFulfilled(value: R): void {
    if (this.done()) return;
    this.#state = 'fulfilled';
    this.#resolve(value);
    this.#finish();
  }

  /** @internal */
  settleRejected(reason: unknown, handled = false): void {
    if (this.done()) return;
    this.#state = 'rejected';
    // A rejection the user brought about (terminate) must not crash a program
    // that never awaited the future.
    if (handled) Promise.prototype.then.call(this, undefined, noop);
    this.#reject(reason);
    this.#finish();
  }

  /** @internal */
  settleCancelled(reason: TandemError): void {
    if (this.done()) return;
    this.#state = 'cancelled';
    Promise.prototype.then.call(this, undefined, noop);
    this.#reject(reason);
    this.#finish();
  }

  /**
   * @internal How `console.log(future)` and `util.inspect` show it: its id and
   * state, not the pool's record of the call (which would print the whole job).
   */
  [Symbol.for('nodejs.util.inspect.custom')](_depth: number, options: { stylize?: (text: string, style: string) => string }): string {
    const stylize = options?.stylize ?? ((text: string) => text);
    return `Future { id: ${stylize(String(this.id), 'number')}, state: ${stylize(`'${this.#state}'`, 'string')} }`;
  }

  #finish(): void {
    this.#owner = null;
    const callbacks = this.#callbacks;
    if (callbacks === null) return;
    this.#callbacks = null;
    for (const callback of callbacks) runCallback(callback, this);
  }
}

/** Runs a done callback; if it throws, reports the error as an uncaught exception instead of throwing here. */
function runCallback<R>(callback: DoneCallback<R>, future: Future<R>): void {
  try {
    callback(future);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

// `await f`, `Promise.all` and `Promise.resolve(f)` take their fast path
// (no wrapper promise, no extra `then`) only when `f.constructor === Promise`.
// A Future is a real Promise in every other way (`instanceof Future` and
// `instanceof Promise` still hold), so it says so: that halves the promises
// made per call (bench: "submit 100k trivial").
Object.defineProperty(Future.prototype, 'constructor', { value: Promise, writable: true, configurable: true, enumerable: false });

/** Options of {@link asCompleted}. */
export interface AsCompletedOptions {
  /** Milliseconds to wait in total; when they pass with futures still pending, the iterator throws WaitTimeoutError. */
  timeout?: number;
}

/**
 * What {@link asCompleted} returns: an async iterator of the futures
 * themselves. (Typed by hand: with the lib's AsyncIterableIterator,
 * TypeScript would type `for await (const f of …)` as the awaited value, not
 * the future it really is.)
 */
export interface FutureIterator<F> {
  /** The iterator itself, so that `for await` takes it. */
  [Symbol.asyncIterator](): FutureIterator<F>;
  /** The next future to settle; rejects with WaitTimeoutError when the timeout passes first. */
  next(): Promise<IteratorResult<F, undefined>>;
  /** Stops iterating (a `break` out of `for await` calls it); the futures go on. */
  return(): Promise<IteratorResult<F, undefined>>;
}

/**
 * Yields the futures in the order they complete (fulfilled, rejected or
 * cancelled), like Python's `as_completed`. Each yielded future has settled:
 * `await` it for its value or error. Futures already done at the call come
 * first, in the order given.
 *
 * @example
 * ```ts
 * const futures = urls.map((u) => pool.submit(fetchTitle, [u]));
 * for await (const f of asCompleted(futures, { timeout: 10_000 })) {
 *   console.log(await f.catch((e) => e));
 * }
 * ```
 */
export function asCompleted<F extends Future<unknown>>(futures: Iterable<F>, options: AsCompletedOptions = {}): FutureIterator<F> {
  const all = [...new Set(futures)];
  const timeout = checkTimeout(options.timeout, 'asCompleted');
  const deadline = timeout === undefined ? Infinity : performance.now() + timeout;
  const ready: F[] = [];
  let wake: (() => void) | null = null;
  let yielded = 0;
  for (const future of all) {
    future.addDoneCallback(() => {
      ready.push(future);
      wake?.();
    });
  }
  // A hand-written iterator: an async generator would await each yielded future
  // and hand out its value instead of the future itself.
  const iterator: FutureIterator<F> = {
    [Symbol.asyncIterator]: () => iterator,
    async next(): Promise<IteratorResult<F, undefined>> {
      while (yielded < all.length) {
        if (ready.length > 0) {
          yielded++;
          return { done: false, value: ready.shift()! };
        }
        const left = deadline - performance.now();
        if (left <= 0) throw new WaitTimeoutError(timeout!, all.length - yielded);
        let cancelTimer: (() => void) | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          cancelTimer = setLongTimeout(resolve, left);
        });
        cancelTimer!();
        wake = null;
      }
      return { done: true, value: undefined };
    },
    async return(): Promise<IteratorResult<F, undefined>> {
      yielded = all.length;
      return { done: true, value: undefined };
    },
  };
  return iterator;
}

/** Options of {@link wait}. */
export interface WaitOptions {
  /**
   * When to return: every future done (default), the first one done, or the
   * first one rejected (`'first-error'`, Python's FIRST_EXCEPTION: a
   * cancelled future does not count as an error; with none rejected it waits
   * for all).
   */
  returnWhen?: 'all' | 'first-completed' | 'first-error';
  /** Milliseconds to wait at most; on timeout, returns what is done so far (it does not throw). */
  timeout?: number;
}

/**
 * Waits for futures like Python's `concurrent.futures.wait` and splits them
 * into `done` and `pending`. Futures already done at the call are all in
 * `done`; if they already meet `returnWhen`, it returns without waiting.
 *
 * @example
 * ```ts
 * const { done, pending } = await wait(futures, { returnWhen: 'first-error', timeout: 5_000 });
 * for (const f of pending) f.cancel();
 * ```
 */
export function wait<F extends Future<unknown>>(
  futures: Iterable<F>,
  options: WaitOptions = {},
): Promise<{
  /** The futures that have settled. */
  done: Set<F>;
  /** The others. */
  pending: Set<F>;
}> {
  const all = [...new Set(futures)];
  const returnWhen = options.returnWhen ?? 'all';
  if (returnWhen !== 'all' && returnWhen !== 'first-completed' && returnWhen !== 'first-error') {
    throw new InvalidOptionError('returnWhen', returnWhen, "'all', 'first-completed' or 'first-error'");
  }
  const timeout = checkTimeout(options.timeout, 'wait');
  const done = new Set<F>();
  const pending = new Set<F>();
  for (const future of all) (future.done() ? done : pending).add(future);
  const enough = (): boolean =>
    pending.size === 0 ||
    (returnWhen === 'first-completed' && done.size > 0) ||
    (returnWhen === 'first-error' && [...done].some((future) => future.state === 'rejected'));
  if (enough()) return Promise.resolve({ done, pending });
  return new Promise((resolve) => {
    let cancelTimer: (() => void) | undefined;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      cancelTimer?.();
      resolve({ done: new Set(done), pending: new Set(pending) });
    };
    const onDone = (future: F): void => {
      if (finished) return;
      pending.delete(future);
      done.add(future);
      if (pending.size === 0 || returnWhen === 'first-completed' || (returnWhen === 'first-error' && future.state === 'rejected')) finish();
    };
    // All of these are pending: no callback runs during this loop.
    for (const future of pending) future.addDoneCallback(() => onDone(future));
    if (timeout !== undefined) cancelTimer = setLongTimeout(finish, timeout);
  });
}

function checkTimeout(timeout: unknown, where: string): number | undefined {
  if (timeout === undefined) return undefined;
  if (typeof timeout !== 'number' || !(timeout >= 0)) {
    throw new InvalidOptionError(`${where}: timeout`, timeout, 'a number of milliseconds >= 0');
  }
  return timeout;
}
