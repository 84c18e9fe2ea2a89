import type { BackendKind } from '../backends/backend.js';
import { LOCAL_BACKENDS } from '../backends/local.js';
import { createRedisBackend } from '../backends/redis.js';
import { AutoRouter } from '../auto/router.js';
import { PROBE_CALLS, type Explanation } from '../auto/profile.js';
import { CancelledError, InvalidOptionError, PoolClosedError, UnguardedPoolError } from '../errors.js';
import { Future } from '../future.js';
import { FLAG_MEASURE, FLAG_SHARED, FLAG_SINGLE } from '../protocol.js';
import { checkArguments } from '../serialize.js';
import { definitionOf } from '../task.js';
import { loadingTaskModule } from '../worker/current.js';
import { tickNow } from './clock.js';
import type { Executor } from './executor.js';
import { Job, RUN } from './job.js';
import { ImapIterator, type MapContext, checkStarItem, mapAll } from './mapping.js';
import {
  type CallOptions,
  type ImapOptions,
  type MapOptions,
  type PoolOptions,
  type ResolvedOptions,
  checkCallOptions,
  checkTransfer,
  resolvePoolOptions,
  singleCallOptions,
} from './options.js';
import { FUTURE_OWNER, Scheduler } from './scheduler.js';
import type { PoolStats } from './stats.js';

// biome-ignore lint/suspicious/noExplicitAny: any[] is what lets every function's parameters fit
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

const NO_OPTIONS: CallOptions = Object.freeze({});
const ignore = (): void => {};
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
  /** Where calls run: the scheduler of a fixed backend, or the auto router. */
  readonly #executor: Executor;
  readonly #contexts = new Map<Scheduler, MapContext>();
  #closed = false;

  constructor(options?: PoolOptions) {
    // A worker loading a task module whose top level starts a pool: each worker would start pools without end.
    const loadingModule = loadingTaskModule();
    if (loadingModule !== undefined) throw new UnguardedPoolError(loadingModule);
    const resolved = resolvePoolOptions(options);
    // With redis, BullMQ's attempts rerun a failed call (on whichever host is free); the pool must not rerun it again.
    this.#options = resolved.backend === 'redis' ? { ...resolved, retries: 0 } : resolved;
    const init = this.#options.init;
    if (init) {
      // Fail here, not in every worker, when init cannot be sent.
      definitionOf(init.task);
      if (this.#options.backend === 'redis')
        throw new InvalidOptionError(
          'init',
          'a task',
          "not supported with backend: 'redis' (run setup code at the top of the task modules `tandem worker` loads)",
        );
      checkArguments(init.args, this.#options.backend === 'thread' || this.#options.backend === 'auto' ? 'thread' : 'process');
    }
    const kind = this.#options.backend;
    this.#executor =
      kind === 'auto'
        ? new AutoRouter(this.#options)
        : new Scheduler(
            this.#options,
            kind === 'redis' ? createRedisBackend({ ...this.#options.redis!, retries: resolved.retries }) : LOCAL_BACKENDS[kind],
          );
  }

  /** The backend tasks run on (`auto`: chosen per task, see {@link Pool.explain}). */
  get backend(): BackendKind | 'auto' {
    return this.#options.backend;
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
    if (options !== NO_OPTIONS) checkCallOptions(options, 'submit');
    if (!Array.isArray(args)) throw new InvalidOptionError('args', args, 'an array of the arguments to pass to the task');
    if (this.#closed) throw new PoolClosedError();
    const lane = this.#executor.lane(task);
    const scheduler = lane.scheduler;
    let flags = lane.flags;
    const key = scheduler.keyOf(task);
    if (options.transfer !== undefined) checkTransfer(options, scheduler.boundary, this.#options.backend);
    scheduler.checkAccept(1);
    let payload: unknown = args;
    // Inline too ('none': checked, passed as they are), so a call behaves the same wherever auto sends it.
    if (!allPrimitive(args)) {
      const checked = checkArguments(args, scheduler.boundary);
      payload = checked.args;
      flags |= checked.flags;
    }
    if (scheduler.boundary !== 'none') {
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
      lane.owner ?? FUTURE_OWNER,
      tickNow(),
    );
    // A measured call runs alone on its worker, so what is measured is its own work.
    job.exclusive = (flags & FLAG_MEASURE) !== 0;
    future.job = job;
    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        scheduler.cancelJob(job, new CancelledError('the call was aborted by its signal before it was queued', { cause: signal.reason }));
        return future;
      }
      const onAbort = (): void =>
        scheduler.cancelJob(job, new CancelledError('the call was aborted by its signal', { cause: signal.reason }));
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
   * @typeParam F The task: a function of one argument, the item.
   */
  // biome-ignore lint/suspicious/noExplicitAny: (item: any) is what lets every one-parameter function fit
  map<F extends (item: any) => unknown>(
    task: F,
    items: Iterable<Parameters<F>[0]>,
    options: MapOptions = NO_OPTIONS,
  ): Promise<Result<F>[]> {
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
   * @typeParam F The task: a function of one argument, the item.
   */
  // biome-ignore lint/suspicious/noExplicitAny: (item: any) is what lets every one-parameter function fit
  imap<F extends (item: any) => unknown>(
    task: F,
    items: Iterable<Parameters<F>[0]> | AsyncIterable<Parameters<F>[0]>,
    options: ImapOptions = NO_OPTIONS,
  ): AsyncIterableIterator<Result<F>> {
    if (options !== NO_OPTIONS) checkCallOptions(options, 'imap');
    if (this.#closed) throw new PoolClosedError();
    if (items === null || typeof items !== 'object' || !(Symbol.iterator in items || Symbol.asyncIterator in items)) {
      throw new InvalidOptionError('items', items, 'an iterable or async iterable');
    }
    // An aborted signal needs no probes: the iterator fails at its first next() with nothing run.
    if (this.#executor.isUndecided(task) && options.signal?.aborted !== true) {
      return this.#probeThenImap(task, items, options) as AsyncIterableIterator<Result<F>>;
    }
    return this.#imapIterator(task, items, options) as AsyncIterableIterator<Result<F>>;
  }

  /**
   * With `backend: 'auto'`: where calls of `task` go and why, with the
   * figures measured. A fixed backend explains itself as fixed.
   *
   * @example
   * ```ts
   * const pool = new Pool({ backend: 'auto' });
   * await pool.map(fetchPage, urls);
   * console.log(pool.explain(fetchPage).reason); // "I/O-bound: its event loop was busy only 3% …"
   * ```
   */
  explain(task: AnyFunction): Explanation {
    const explained = this.#executor.explain(task);
    if (explained !== null) return explained;
    return {
      backend: this.#options.backend as BackendKind,
      reason: `the pool was created with backend: '${this.#options.backend}'`,
      samples: 0,
      cpuShare: 0,
      meanWallMs: 0,
      meanArgBytes: 0,
      meanResultBytes: 0,
      changes: 0,
    };
  }

  /** Starts all `size` workers and resolves once they serve (to keep start-up out of a measurement). */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new PoolClosedError());
    return this.#executor.ready();
  }

  /** Runs everything already accepted, then stops the workers. New calls throw PoolClosedError. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#executor.close();
  }

  /** Stops the workers now; calls not finished reject with PoolClosedError. */
  async terminate(): Promise<void> {
    this.#closed = true;
    await this.#executor.terminate();
  }

  /** `await using pool = new Pool()` closes the pool at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Counters, utilisation and latency percentiles. */
  stats(): PoolStats {
    return this.#executor.stats();
  }

  /** The mapping context of the scheduler that runs `task`'s calls now. */
  #contextFor(task: AnyFunction): MapContext {
    const scheduler = this.#executor.schedulerFor(task);
    let context = this.#contexts.get(scheduler);
    if (!context) {
      context = {
        scheduler,
        boundary: scheduler.boundary,
        workers: this.#options.size,
        retries: this.#options.retries,
        nextId: () => nextCallId++,
      };
      this.#contexts.set(scheduler, context);
    }
    return context;
  }

  #map(task: AnyFunction, items: Iterable<unknown>, star: boolean, options: MapOptions): Promise<unknown[]> {
    try {
      if (options !== NO_OPTIONS) checkCallOptions(options, 'map');
      if (this.#closed) throw new PoolClosedError();
      if (items === null || typeof items !== 'object' || !(Symbol.iterator in items)) {
        throw new InvalidOptionError('items', items, 'an iterable (use imap for an async iterable)');
      }
      if (this.#executor.isUndecided(task) && options.signal?.aborted !== true)
        return this.#probeThenMap(task, Array.from(items), star, options);
      const context = this.#contextFor(task);
      return mapAll(context, context.scheduler.keyOf(task), items, star, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #imapIterator(task: AnyFunction, items: Iterable<unknown> | AsyncIterable<unknown>, options: ImapOptions): ImapIterator {
    const context = this.#contextFor(task);
    return new ImapIterator(context, context.scheduler.keyOf(task), items, options);
  }

  /**
   * auto: the first PROBE_CALLS items run as measured single calls; the rest
   * goes, in chunks, where their measurement placed the task. The rest never
   * probes again: with fewer items than probes, or a task still undecided
   * after them (its next calls will probe), it runs where the probes ran.
   */
  async #probeThenMap(task: AnyFunction, items: unknown[], star: boolean, options: MapOptions): Promise<unknown[]> {
    const probes: Future<unknown>[] = [];
    let first: unknown[];
    try {
      // Like a fixed backend's starmap: a bad item fails the call before anything runs.
      if (star) items.forEach(checkStarItem);
      const single = singleCallOptions(options);
      for (const item of items.slice(0, PROBE_CALLS)) probes.push(this.submit(task, (star ? item : [item]) as never, single));
      first = await Promise.all(probes);
    } catch (error) {
      // As in any map, the first failure cancels the rest.
      for (const probe of probes) probe.cancel();
      throw error;
    }
    if (items.length <= PROBE_CALLS) return first;
    const context = this.#contextFor(task);
    return first.concat(await mapAll(context, context.scheduler.keyOf(task), items.slice(PROBE_CALLS), star, options));
  }

  /** auto: imap's first items run as measured single calls, yielded in order; the rest streams through an ImapIterator. */
  async *#probeThenImap(
    task: AnyFunction,
    items: Iterable<unknown> | AsyncIterable<unknown>,
    options: ImapOptions,
  ): AsyncGenerator<unknown> {
    const source: Iterator<unknown> | AsyncIterator<unknown> =
      Symbol.asyncIterator in items
        ? (items as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        : (items as Iterable<unknown>)[Symbol.iterator]();
    /** Whether closing the source is still ours to do. */
    let open = true;
    const probes: Future<unknown>[] = [];
    try {
      let broken: { error: unknown } | null = null;
      while (probes.length < PROBE_CALLS) {
        let step: IteratorResult<unknown>;
        try {
          step = await source.next();
        } catch (error) {
          // An iterator whose next() threw is finished: like for-of, do not close it.
          open = false;
          broken = { error };
          break;
        }
        if (step.done) {
          open = false;
          break;
        }
        try {
          const probe = this.submit(task, [step.value] as never, singleCallOptions(options));
          // Its failure is thrown when reading reaches it, not reported earlier as unhandled.
          probe.catch(ignore);
          probes.push(probe);
        } catch (error) {
          // An item that cannot be sent: the source is still open, and is closed below.
          broken = { error };
          break;
        }
      }
      // Like imap over chunks: the items pulled before a failure are yielded before its error.
      for (const probe of probes) yield await probe;
      if (broken !== null) throw broken.error;
      if (!open) return;
      const rest = this.#imapIterator(task, { [Symbol.asyncIterator]: () => source as AsyncIterator<unknown> }, options);
      open = false; // the ImapIterator closes the source from here on
      yield* rest;
    } finally {
      // A failed probe, an error or a consumer that left: the probes still running are not needed.
      for (const probe of probes) probe.cancel();
      if (open) await source.return?.();
    }
  }
}
