import { CancelledError, PoolClosedError, SerializationError } from '../errors.js';
import { FLAG_SHARED, FLAG_STAR } from '../protocol.js';
import { checkValue } from '../serialize.js';
import { tickNow } from './clock.js';
import { CHUNK, DONE, Job, type JobOwner } from './job.js';
import type { ImapOptions, MapOptions } from './options.js';
import type { Scheduler } from './scheduler.js';

/**
 * map / starmap / imap: inputs travel in chunks (one job per chunk), so the
 * cost of a message is shared by many items (bench: "map 1M trivial").
 */

/** What mapping needs from the pool. */
export interface MapContext {
  scheduler: Scheduler;
  boundary: 'thread' | 'process' | 'host' | 'none';
  workers: number;
  retries: number;
  nextId(): number;
}

const MAX_AUTO_CHUNK = 16_384;

/** Python's rule (about four chunks per worker), bounded; inline needs no chunking at all. */
export function autoChunk(length: number, context: MapContext): number {
  if (context.boundary === 'none') return 1;
  return Math.max(1, Math.min(MAX_AUTO_CHUNK, Math.ceil(length / (context.workers * 4))));
}

/** starmap: each item is the argument list of one call. */
export function checkStarItem(item: unknown, index: number): void {
  if (!Array.isArray(item))
    throw new SerializationError(index, `items[${index}]`, 'starmap needs each item to be the array of arguments of one call');
}

/**
 * Checks items for the trip to a worker before any of them is queued, so a
 * bad one fails the call with nothing started; the list is copied only where
 * a shareable was swapped for its marker. `firstIndex` is the position of
 * `items[0]` in the whole input (imap checks chunk by chunk).
 */
function checkItems(items: unknown[], context: MapContext, firstIndex: number, star: boolean): { items: unknown[]; shared: boolean } {
  // Inline items are checked too ('none' never copies), by the same rule as everywhere.
  let out = items;
  let shared = false;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (star) checkStarItem(item, firstIndex + i);
    if (typeof item !== 'object' && typeof item !== 'function' && typeof item !== 'symbol') continue;
    const checked = checkValue(item, context.boundary, `items[${firstIndex + i}]`);
    if (checked.shared) shared = true;
    if (checked.value !== item) {
      if (out === items) out = items.slice();
      out[i] = checked.value;
    }
  }
  return { items: out, shared };
}

function newChunkJob(
  context: MapContext,
  key: number,
  items: unknown[],
  flags: number,
  options: MapOptions,
  owner: JobOwner,
  offset: number,
): Job {
  const job = new Job(
    context.nextId(),
    CHUNK,
    key,
    items,
    flags,
    options.priority ?? 0,
    options.timeout ?? 0,
    context.retries,
    undefined,
    null,
    owner,
    tickNow(),
  );
  job.offset = offset;
  return job;
}

/** Runs `map` / `starmap` over a whole input; resolves with results in input order. */
export function mapAll(context: MapContext, key: number, input: Iterable<unknown>, star: boolean, options: MapOptions): Promise<unknown[]> {
  const list = Array.isArray(input) ? input : Array.from(input);
  // An aborted signal fails the call even with nothing to run, as it fails imap.
  if (list.length === 0 && options.signal?.aborted !== true) return Promise.resolve([]);
  const { items, shared } = checkItems(list, context, 0, star);
  const size = options.chunksize === undefined || options.chunksize === 'auto' ? autoChunk(items.length, context) : options.chunksize;
  const chunks = Math.ceil(items.length / size);
  context.scheduler.checkAccept(chunks);
  const flags = (shared ? FLAG_SHARED : 0) | (star ? FLAG_STAR : 0);
  const results = new Array<unknown>(items.length);
  return new Promise((resolve, reject) => {
    let remaining = chunks;
    let failed = false;
    const jobs: Job[] = [];
    const stopAll = (error: unknown): void => {
      if (failed) return;
      failed = true;
      options.signal?.removeEventListener('abort', onAbort);
      for (const job of jobs) {
        if (job.place !== DONE) context.scheduler.cancelJob(job, new CancelledError('another item of the same map failed'));
      }
      reject(error);
    };
    const onAbort = (): void => stopAll(new CancelledError('the map was aborted by its signal', { cause: options.signal?.reason }));
    const owner: JobOwner = {
      jobDone(job, value) {
        const values = value as unknown[];
        for (let i = 0; i < values.length; i++) results[job.offset + i] = values[i];
        if (--remaining === 0 && !failed) {
          options.signal?.removeEventListener('abort', onAbort);
          resolve(results);
        }
      },
      jobFailed: (_job, error) => stopAll(error),
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    for (let start = 0; start < items.length && !failed; start += size) {
      const job = newChunkJob(context, key, items.slice(start, start + size), flags, options, owner, start);
      jobs.push(job);
      context.scheduler.enqueue(job);
    }
  });
}

type Source = Iterator<unknown> | AsyncIterator<unknown>;

/**
 * The iterator behind `imap`: pulls input only as results are consumed, keeps
 * at most `window` chunks in flight or waiting to be read, and on `return()`
 * (a `break` in for-await) cancels what is running and closes the input.
 */
export class ImapIterator implements AsyncIterableIterator<unknown>, JobOwner {
  readonly #context: MapContext;
  readonly #key: number;
  readonly #options: ImapOptions;
  #source: Source;
  readonly #ordered: boolean;
  readonly #fixedChunk: number | null;
  readonly #window: number;
  #chunk = 1;
  #pulled = 0;
  #sequence = 0;
  #sourceDone = false;
  #stopped = false;
  #pulling = false;
  #error: { error: unknown } | null = null;
  /** Ordered: the earliest failed chunk; its error is thrown when reading reaches it. */
  #failure: { sequence: number; error: unknown } | null = null;
  /** Results by chunk sequence (ordered) waiting to be read. */
  #ready = new Map<number, unknown[]>();
  /** Unordered: values waiting to be read. */
  #values: unknown[] = [];
  #nextSequence = 0;
  #position = 0;
  #running = new Map<number, Job>();
  #wake: (() => void) | null = null;

  constructor(context: MapContext, key: number, input: Iterable<unknown> | AsyncIterable<unknown>, options: ImapOptions) {
    this.#context = context;
    this.#key = key;
    this.#options = options;
    this.#ordered = options.ordered ?? true;
    const known = Array.isArray(input) ? input.length : null;
    this.#fixedChunk =
      options.chunksize !== undefined && options.chunksize !== 'auto'
        ? options.chunksize
        : known !== null
          ? autoChunk(known, context)
          : null;
    this.#window = Math.max(2, context.workers * 2);
    try {
      const asyncIterable = (input as AsyncIterable<unknown>)[Symbol.asyncIterator];
      this.#source = typeof asyncIterable === 'function' ? asyncIterable.call(input) : (input as Iterable<unknown>)[Symbol.iterator]();
    } catch (error) {
      // Like every other failure of the input, it comes out of next().
      this.#source = EMPTY;
      this.#sourceDone = true;
      this.#error = { error };
      return;
    }
    if (options.signal?.aborted) this.#onAbort();
    else options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<unknown>> {
    for (;;) {
      if (this.#stopped && this.#error === null) return { done: true, value: undefined };
      const value = this.#take();
      if (value !== NOTHING) {
        void this.#pull();
        return { done: false, value };
      }
      const failure = this.#error ?? (this.#failure !== null && this.#failure.sequence === this.#nextSequence ? this.#failure : null);
      if (failure !== null) {
        await this.return();
        throw failure.error;
      }
      if (this.#sourceDone && this.#running.size === 0 && !this.#pulling) {
        await this.return();
        return { done: true, value: undefined };
      }
      // Armed before pulling: a pull that fails at once (a sync input that throws) wakes it too.
      const woken = new Promise<void>((resolve) => (this.#wake = resolve));
      void this.#pull();
      await woken;
    }
  }

  async return(): Promise<IteratorResult<unknown>> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#options.signal?.removeEventListener('abort', this.#onAbort);
      for (const job of this.#running.values()) this.#context.scheduler.cancelJob(job, new CancelledError('the imap consumer stopped'));
      this.#running.clear();
      if (!this.#sourceDone) {
        this.#sourceDone = true;
        await this.#source.return?.();
      }
    }
    this.#error = null;
    return { done: true, value: undefined };
  }

  jobDone(job: Job, value: unknown): void {
    const results = value as unknown[];
    if (!this.#running.delete(job.id)) return;
    if (this.#fixedChunk === null) {
      // Grow chunks while they come back fast, shrink them when they are slow.
      const took = performance.now() - job.submittedAt;
      if (took < 2 && this.#chunk < 1024) this.#chunk *= 2;
      else if (took > 50 && this.#chunk > 1) this.#chunk >>= 1;
    }
    if (this.#ordered) this.#ready.set(job.sequence, results);
    else for (const value of results) this.#values.push(value);
    this.#signal();
  }

  jobFailed(job: Job, error: unknown): void {
    if (!this.#running.delete(job.id) || this.#stopped) return;
    this.#failAt(job.sequence, error);
  }

  /**
   * Ordered, like Python's imap: results before the failing item are still
   * yielded, then its error is thrown; chunks after it are not needed.
   * Unordered: the error is thrown at the next read.
   */
  #failAt(sequence: number, error: unknown): void {
    if (!this.#ordered) this.#error ??= { error };
    else if (this.#failure === null || sequence < this.#failure.sequence) {
      this.#failure = { sequence, error };
      for (const job of [...this.#running.values()]) {
        if (job.sequence > sequence) {
          this.#running.delete(job.id);
          this.#context.scheduler.cancelJob(job, new CancelledError('an earlier item of the same imap failed'));
        }
      }
    }
    this.#signal();
  }

  readonly #onAbort = (): void => {
    this.#error ??= { error: new CancelledError('the imap was aborted by its signal', { cause: this.#options.signal?.reason }) };
    this.#signal();
  };

  #signal(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #take(): unknown {
    if (!this.#ordered) return this.#values.length > 0 ? this.#values.shift() : NOTHING;
    const results = this.#ready.get(this.#nextSequence);
    if (results === undefined) return NOTHING;
    const value = results[this.#position++];
    if (this.#position >= results.length) {
      this.#ready.delete(this.#nextSequence++);
      this.#position = 0;
    }
    return value;
  }

  /** Pulls input while the window has room; one pull loop at a time. */
  async #pull(): Promise<void> {
    if (this.#pulling || this.#stopped) return;
    this.#pulling = true;
    const wasDone = this.#sourceDone;
    try {
      while (
        !this.#sourceDone &&
        !this.#stopped &&
        this.#error === null &&
        this.#failure === null &&
        this.#running.size + this.#ready.size + (this.#values.length > 0 ? 1 : 0) < this.#window
      ) {
        const size = this.#fixedChunk ?? this.#chunk;
        const items: unknown[] = [];
        let broken: { error: unknown } | null = null;
        while (items.length < size) {
          try {
            const step = await this.#source.next();
            if (step.done) {
              this.#sourceDone = true;
              break;
            }
            items.push(step.value);
          } catch (error) {
            // An iterator whose next() threw is finished: like for-of, do not close it.
            this.#sourceDone = true;
            broken = { error };
            break;
          }
        }
        if (this.#stopped) break;
        // Ordered, the items pulled before the failure still run and are read before its error.
        if (items.length > 0 && (broken === null || this.#ordered)) this.#submit(items);
        if (broken !== null) {
          this.#failAt(this.#sequence, broken.error);
          break;
        }
        if (items.length === 0) break;
      }
    } catch (error) {
      // An item could not be sent or the pool closed; the input is still open, and return() closes it.
      this.#failAt(this.#sequence, error);
    } finally {
      this.#pulling = false;
      // The end of the input may be what a reader waits for (a failure signalled already). Waking
      // a reader when nothing changed would only spin it: it waits for a chunk instead.
      if (!wasDone && this.#sourceDone) this.#signal();
    }
  }

  #submit(items: unknown[]): void {
    const context = this.#context;
    if (context.scheduler.closed) throw new PoolClosedError();
    const checked = checkItems(items, context, this.#pulled, false);
    const job = newChunkJob(context, this.#key, checked.items, checked.shared ? FLAG_SHARED : 0, this.#options, this, this.#pulled);
    // Ordered reading goes chunk by chunk, in the order they were pulled.
    job.sequence = this.#sequence++;
    this.#pulled += items.length;
    this.#running.set(job.id, job);
    context.scheduler.enqueue(job);
  }
}

const NOTHING = Symbol('nothing');
/** The source of an imap whose input failed to give an iterator. */
const EMPTY: Iterator<unknown> = { next: () => ({ done: true, value: undefined }) };
