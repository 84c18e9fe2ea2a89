/**
 * How every primitive of this folder (and SharedQueue) waits. Each wait loop
 * is written once, as a generator: it checks its condition and, when it must
 * wait, yields a {@link Sleep} (the word it waits on, the value it expects
 * there, its deadline); what the sleep returned comes back from the yield. A
 * driver runs the loop and does the sleeping:
 *
 *   runBlocking (workers only)   Atomics.wait(word, expected, ms)
 *   runAsync (any thread)        Atomics.waitAsync(word, expected, ms), awaited
 *
 *        loop ──yield Sleep──► driver ──sleeps──► 'ok' | 'not-equal' | 'timed-out' ──► loop
 *
 * A sleep returns when the word no longer holds `expected`, on Atomics.notify,
 * or at the deadline. Loops always re-check their condition, so a spurious
 * wake-up is harmless; that is what lets an aborted async wait wake everyone
 * on its word (see blockAsync) without breaking anyone. An async wait that is
 * aborted throws its CancelledError into the loop at the yield, so the loop's
 * `finally` blocks undo what it registered, as they would in plain code.
 *
 * The uncontended path never builds a loop: each primitive tries first, in
 * plain code, and only a wait that must sleep (or spin) creates its generator
 * (bench/sync.mjs; a generator costs some 50 ns, a sleep and wake-up tens of µs).
 *
 * Every wait checks its `timeout` option (checkTimeout, validTimeout) before
 * anything else, fast path included, so a bad timeout fails the same whether
 * or not the wait would have had to wait.
 */
import { isMainThread, threadId } from 'node:worker_threads';
import { CancelledError, InvalidOptionError, MainThreadBlockingError } from '../errors.js';
import { setLongTimeout } from '../timer.js';

// Node 20 defines Symbol.dispose / Symbol.asyncDispose as the registered symbols
// 'nodejs.dispose' / 'nodejs.asyncDispose'; define them the same way where a
// runtime lacks them, so `using` (compiled by TypeScript or esbuild) finds them.
const symbols = Symbol as unknown as Record<string, symbol | undefined>;
symbols.dispose ??= Symbol.for('nodejs.dispose');
symbols.asyncDispose ??= Symbol.for('nodejs.asyncDispose');

/** This thread's tag in owner words: its `threadId` + 1, so that 0 means "nobody". */
export const THREAD_TAG = threadId + 1;

/** Options of every async wait. */
export interface AsyncWaitOptions {
  /** Milliseconds to wait at most. @default Infinity */
  timeout?: number;
  /** Aborting it ends the wait with a `CancelledError` (whose `cause` is the signal's reason). */
  signal?: AbortSignal;
}

/** Options of every blocking wait (inside workers). */
export interface SyncWaitOptions {
  /** Milliseconds to wait at most. @default Infinity */
  timeout?: number;
}

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

/** Whether `timeout` is a valid `timeout` option: absent, or a number of milliseconds >= 0 (Infinity too; NaN not). */
export function validTimeout(timeout: unknown): boolean {
  return timeout === undefined || (typeof timeout === 'number' && timeout >= 0);
}

/** Throws InvalidOptionError naming the `timeout` option unless validTimeout(timeout). */
export function checkTimeout(timeout: unknown): void {
  if (!validTimeout(timeout)) throw new InvalidOptionError('timeout', timeout, 'a number of milliseconds >= 0 (or Infinity)');
}

/** Absolute deadline (performance.now() clock) of a wait with `timeout`; checks it first. */
export function deadlineOf(timeout: number | undefined): number {
  checkTimeout(timeout);
  return timeout === undefined || timeout === Infinity ? Infinity : performance.now() + timeout;
}

export function remaining(deadline: number): number {
  return deadline === Infinity ? Infinity : Math.max(0, deadline - performance.now());
}

/**
 * Throws unless this thread may block: a thread worker, or the main thread of
 * a process worker (src/worker/current.ts marks both), which is nobody's
 * event loop but its own tasks'. Every Sync form calls it first, even when it
 * would not have to wait, so that misuse on the caller's main thread shows at
 * once rather than only under contention.
 */
export function assertMayBlock(what: string): void {
  if (IS_MAIN_THREAD && globals[IN_WORKER] !== true) throw new MainThreadBlockingError(what);
}

const IN_WORKER = Symbol.for('tandem.inWorker');
const globals = globalThis as unknown as Record<symbol, unknown>;

export const IS_MAIN_THREAD = isMainThread;

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new CancelledError(`${what} was aborted by its signal`, { cause: signal.reason });
}

/**
 * One sleep of a wait loop: on `words[index]` while it holds `expected`, until
 * an Atomics.notify or `wake`.
 */
export interface Sleep {
  readonly words: Int32Array;
  readonly index: number;
  readonly expected: number;
  /**
   * When the whole wait gives up (performance.now() clock; Infinity: never).
   * On the main thread an async sleep keeps the process alive until then.
   */
  readonly deadline: number;
  /**
   * When this sleep ends at the latest: `deadline`, or sooner for a loop that
   * must look again now and then (a lock whose owner may die, which nobody
   * would announce). Unlike `deadline`, it does not keep the process alive.
   */
  readonly wake: number;
  /** Aborting it throws CancelledError into the loop (async sleeps only); absent: the sleep cannot be cancelled. */
  readonly signal: AbortSignal | undefined;
  /** What the wait is, for the CancelledError (so only needed with a signal): `waiting for lock 'accounts'`. */
  readonly what: string;
}

/** A wait loop: yields each time it must sleep, receives how the sleep ended, returns the wait's result. */
export type WaitLoop<R> = Generator<Sleep, R, WaitResult>;

export function sleepOn(
  words: Int32Array,
  index: number,
  expected: number,
  deadline: number,
  signal: AbortSignal | undefined,
  what: string,
  wake = deadline,
): Sleep {
  return { words, index, expected, deadline, wake: Math.min(wake, deadline), signal, what };
}

/** Runs a wait loop blocking this (worker) thread at each sleep. Callers assert first that the thread may block. */
export function runBlocking<R>(loop: WaitLoop<R>): R {
  let step = loop.next();
  while (!step.done) {
    const sleep = step.value;
    step = loop.next(Atomics.wait(sleep.words, sleep.index, sleep.expected, remaining(sleep.wake)));
  }
  return step.value;
}

/** Runs a wait loop without blocking the event loop: each sleep is an Atomics.waitAsync. */
export async function runAsync<R>(loop: WaitLoop<R>): Promise<R> {
  let step = loop.next();
  while (!step.done) {
    let result: WaitResult;
    try {
      result = await blockAsync(step.value);
    } catch (error) {
      // Aborted: the loop's finally blocks run, and it rethrows (or goes on, if it chooses to).
      step = loop.throw(error);
      continue;
    }
    step = loop.next(result);
  }
  return step.value;
}

type WaitAsync = (
  i32: Int32Array,
  index: number,
  expected: number,
  timeout?: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/**
 * One async sleep (see {@link Sleep}).
 *
 * Atomics.waitAsync's own timeout holds no reference on the event loop: a
 * program whose only work is such a wait would exit (code 13, unsettled
 * top-level await) before it ends. So a sleep under a deadline also holds a
 * timer (holdLoop) until it settles. The timer never ends the wait itself: a
 * wait given up early would stay queued on the word and swallow an
 * Atomics.notify(word, 1) meant for a live waiter.
 */
function blockAsync(sleep: Sleep): Promise<WaitResult> | WaitResult {
  const { words, index, signal, what, deadline } = sleep;
  throwIfAborted(signal, what);
  const ms = remaining(sleep.wake);
  const result = waitAsync(words, index, sleep.expected, ms === Infinity ? undefined : ms);
  if (!result.async) return result.value;
  if (!signal && deadline === Infinity) return result.value;
  return new Promise<WaitResult>((resolve, reject) => {
    const hold = deadline === Infinity ? null : holdLoop(deadline);
    const onAbort = (): void => {
      hold?.release();
      // The abandoned waitAsync stays queued on the word and would swallow the
      // next Atomics.notify(word, 1) meant for a live waiter. Waking everyone
      // on the word removes it; the others re-check and wait again.
      Atomics.notify(words, index);
      reject(new CancelledError(`${what} was aborted by its signal`, { cause: signal!.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    result.value.then((value) => {
      hold?.release();
      signal?.removeEventListener('abort', onAbort);
      resolve(value);
    }, reject);
  });
}

/**
 * Keeps the event loop alive until release(): a timer armed for `deadline`,
 * then re-armed each millisecond until the wait it stands for has seen its
 * own timeout (released by then).
 */
function holdLoop(deadline: number): { release(): void } {
  let cancel: () => void;
  const tick = (): void => {
    cancel = setLongTimeout(tick, Math.max(1, deadline - performance.now()));
  };
  tick();
  return { release: () => cancel() };
}
