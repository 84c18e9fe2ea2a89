import type { Backend, BackendKind } from '../backends/backend.js';
import { inlineBackend } from '../backends/inline.js';
import { processBackend } from '../backends/process.js';
import { threadBackend } from '../backends/thread.js';
import { CancelledError, InvalidOptionError } from '../errors.js';
import { Future } from '../future.js';
import { FLAG_SHARED, FLAG_SINGLE } from '../protocol.js';
import { checkArguments } from '../serialize.js';
import { definitionOf } from '../task.js';
import { Job, RUN } from './job.js';
import { ImapIterator, type MapContext, mapAll } from './mapping.js';
import { type CallOptions, type ImapOptions, type MapOptions, type PoolOptions, type ResolvedOptions, checkCallOptions, resolvePoolOptions } from './options.js';
import { type PoolStats, Scheduler } from './scheduler.js';

type AnyFunction = (...args: any[]) => unknown;
type Result<F extends AnyFunction> = Awaited<ReturnType<F>>;

/** True when no argument needs the (allocating) deep check: the common case of numbers and strings. */
function allPrimitive(args: unknown[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const type = typeof args[i];
    if ((type === 'object' && args[i] !== null) || type === 'function' || type === 'symbol') return false;
  }
  return true;
}

const BACKENDS: Record<BackendKind, Backend> = { thread: threadBackend, process: processBackend, inline: inlineBackend };
const NO_OPTIONS: CallOptions = Object.freeze({});
let nextCallId = 1;

/**
 * A pool of workers that run tasks: threads, child processes, or this event
 * loop, chosen by one option. Like Python's `multiprocessing.Pool` and
 * `concurrent.futures` executors, typed end to end.
 *
 * Arguments are copied to the worker when the tick's batch is sent, so do not
 * change an argument object in the same tick after passing it.
 *
 * @example
 * ```ts
 * import { Pool } from 'tandem';
 * import { fib } from './tasks.js';
 *
 * await using pool = new Pool({ backend: 'thread' });
 * console.log(await pool.run(fib, 30));
 * console.log(await pool.map(fib, [25, 26, 27]));
 * ```
 */
export class Pool implements AsyncDisposable {
  readonly #options: ResolvedOptions;
  readonly #backend: Backend;
  readonly #scheduler: Scheduler;
  readonly #context: MapContext;

  constructor(options?: PoolOptions) {
    this.#options = resolvePoolOptions(options);
    this.#backend = BACKENDS[this.#options.backend];
    const init = this.#options.init;
    if (init) {
      // Fail here, not in every worker, when init cannot be sent.
      definitionOf(init.task);
      if (this.#backend.boundary !== 'none') checkArguments(init.args, this.#backend.boundary);
    }
    this.#scheduler = new Scheduler(this.#options, this.#backend);
    this.#context = {
      scheduler: this.#scheduler,
      boundary: this.#backend.boundary,
      workers: this.#options.size,
      retries: this.#options.retries,
      nextId: () => nextCallId++,
    };
  }

  /** The backend tasks run on. */
  get backend(): BackendKind {
    return this.#backend.kind;
  }

  /** Most workers alive at once. */
  get size(): number {
    return this.#options.size;
  }

  /**
   * Runs `task(...args)` on a worker and resolves with its result.
   *
   * @example
   * ```ts
   * const n = await pool.run(fib, 30); // number
   * ```
   */
  run<F extends AnyFunction>(task: F, ...args: Parameters<F>): Promise<Result<F>> {
    try {
      return this.submit(task, args);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Queues `task(...args)` and returns its {@link Future} at once. Throws
   * (nothing queued) when the task, an argument or an option is wrong, the
   * queue is full, or the pool is closed.
   *
   * @example
   * ```ts
   * const f = pool.submit(fib, [35], { timeout: 5_000, priority: 1 });
   * f.cancel();
   * ```
   */
  submit<F extends AnyFunction>(task: F, args: Parameters<F>, options: CallOptions = NO_OPTIONS): Future<Result<F>> {
    if (options !== NO_OPTIONS) checkCallOptions(options);
    if (!Array.isArray(args)) throw new InvalidOptionError('args', args, 'an array of the arguments to pass to the task');
    const scheduler = this.#scheduler;
    const key = scheduler.keyOf(task);
    scheduler.checkAccept(1);
    let payload: unknown = args;
    let flags = 0;
    if (this.#backend.boundary !== 'none') {
      if (!allPrimitive(args)) {
        const checked = checkArguments(args, this.#backend.boundary);
        payload = checked.args;
        flags = checked.flags;
      }
      if (args.length === 1 && (flags & FLAG_SHARED) === 0) {
        payload = (payload as unknown[])[0];
        flags |= FLAG_SINGLE;
      }
    }
    const id = nextCallId++;
    const future = new Future<Result<F>>(id, scheduler);
    const job = new Job(
      id,
      RUN,
      key,
      payload,
      flags,
      options.priority ?? 0,
      options.timeout ?? 0,
      this.#options.retries,
      options.transfer,
      future as Future<unknown>,
      null,
      performance.now(),
    );
    future.job = job;
    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        scheduler.cancelJob(job, new CancelledError('the call was aborted by its signal before it was queued', { cause: signal.reason }));
        return future;
      }
      const onAbort = (): void => scheduler.cancelJob(job, new CancelledError('the call was aborted by its signal', { cause: signal.reason }));
      signal.addEventListener('abort', onAbort, { once: true });
      job.abortListener = () => signal.removeEventListener('abort', onAbort);
    }
    scheduler.enqueue(job);
    return future;
  }

  /**
   * Runs `task(item)` for every item and resolves with the results in input
   * order; the first failure rejects and cancels the rest. Items travel in
   * chunks (`chunksize`, `'auto'` by default).
   *
   * @example
   * ```ts
   * const squares = await pool.map(square, [1, 2, 3]); // [1, 4, 9]
   * ```
   */
  map<F extends (item: any) => unknown>(task: F, items: Iterable<Parameters<F>[0]>, options: MapOptions = NO_OPTIONS): Promise<Result<F>[]> {
    return this.#map(task, items, false, options) as Promise<Result<F>[]>;
  }

  /**
   * Like {@link Pool.map}, but each item is the argument list: `task(...item)`.
   *
   * @example
   * ```ts
   * const sums = await pool.starmap(add, [[1, 2], [3, 4]]); // [3, 7]
   * ```
   */
  starmap<F extends AnyFunction>(task: F, items: Iterable<Parameters<F>>, options: MapOptions = NO_OPTIONS): Promise<Result<F>[]> {
    return this.#map(task, items, true, options) as Promise<Result<F>[]>;
  }

  /**
   * Streams `task(item)` over a sync or async iterable: input is pulled only
   * as results are consumed, a bounded number of chunks is in flight, and
   * leaving the loop early cancels what runs and closes the input.
   *
   * @example
   * ```ts
   * for await (const hash of pool.imap(sha256, readLines(file), { ordered: false })) {
   *   console.log(hash);
   * }
   * ```
   */
  imap<F extends (item: any) => unknown>(
    task: F,
    items: Iterable<Parameters<F>[0]> | AsyncIterable<Parameters<F>[0]>,
    options: ImapOptions = NO_OPTIONS,
  ): AsyncIterableIterator<Result<F>> {
    if (options !== NO_OPTIONS) checkCallOptions(options);
    const key = this.#scheduler.keyOf(task);
    this.#scheduler.checkAccept(0);
    if (items === null || typeof items !== 'object' || !(Symbol.iterator in items || Symbol.asyncIterator in items)) {
      throw new InvalidOptionError('items', items, 'an iterable or async iterable');
    }
    return new ImapIterator(this.#context, key, items, options) as AsyncIterableIterator<Result<F>>;
  }

  /** Starts all `size` workers and resolves once they serve (to keep start-up out of a measurement). */
  ready(): Promise<void> {
    return this.#scheduler.ready();
  }

  /** Runs everything already accepted, then stops the workers. New calls throw PoolClosedError. */
  close(): Promise<void> {
    return this.#scheduler.close();
  }

  /** Stops the workers now; calls not finished reject with PoolClosedError. */
  terminate(): Promise<void> {
    return this.#scheduler.terminate();
  }

  /** `await using pool = new Pool()` closes the pool at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Counters, utilisation and latency percentiles. */
  stats(): PoolStats {
    return this.#scheduler.stats();
  }

  #map(task: AnyFunction, items: Iterable<unknown>, star: boolean, options: MapOptions): Promise<unknown[]> {
    try {
      if (options !== NO_OPTIONS) checkCallOptions(options);
      if (items === null || typeof items !== 'object' || !(Symbol.iterator in items)) {
        throw new InvalidOptionError('items', items, 'an iterable (use imap for an async iterable)');
      }
      const key = this.#scheduler.keyOf(task);
      return mapAll(this.#context, key, items, star, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
