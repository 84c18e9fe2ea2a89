/**
 * The two ways a thread waits on a word of shared memory, used by every
 * primitive of this folder:
 *
 *   blocking (workers only)   Atomics.wait(word, expected, ms)       -> blockSync
 *   async (any thread)        Atomics.waitAsync(word, expected, ms)  -> blockAsync
 *
 * Both return when the word no longer holds `expected`, on Atomics.notify, or
 * at the deadline. Callers always loop and re-check their condition, so a
 * spurious wake-up is harmless; that is what lets an aborted async wait wake
 * everyone on its word (see blockAsync) without breaking anyone.
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
 * Throws unless this thread may block (it is a worker). Every Sync form calls
 * it first, even when it would not have to wait, so that misuse on the main
 * thread shows at once rather than only under contention.
 */
export function assertMayBlock(what: string): void {
  if (IS_MAIN_THREAD) throw new MainThreadBlockingError(what);
}

export const IS_MAIN_THREAD = isMainThread;

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new CancelledError(`${what} was aborted by its signal`, { cause: signal.reason });
}

/** Blocks this (worker) thread while `i32[index] === expected`, at most until `deadline`. */
export function blockSync(i32: Int32Array, index: number, expected: number, deadline: number): WaitResult {
  return Atomics.wait(i32, index, expected, remaining(deadline));
}

type WaitAsync = (
  i32: Int32Array,
  index: number,
  expected: number,
  timeout?: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/**
 * Waits without blocking the event loop while `i32[index] === expected`, at
 * most until `deadline`.
 *
 * Atomics.waitAsync's own timeout holds no reference on the event loop: a
 * program whose only work is such a wait would exit (code 13, unsettled
 * top-level await) before it ends. So a wait with a deadline also holds a
 * timer (holdLoop) until it settles. The timer never ends the wait itself: a
 * wait given up early would stay queued on the word and swallow an
 * Atomics.notify(word, 1) meant for a live waiter.
 */
export function blockAsync(
  i32: Int32Array,
  index: number,
  expected: number,
  deadline: number,
  signal: AbortSignal | undefined,
  what: string,
): Promise<WaitResult> | WaitResult {
  throwIfAborted(signal, what);
  const ms = remaining(deadline);
  const result = waitAsync(i32, index, expected, ms === Infinity ? undefined : ms);
  if (!result.async) return result.value;
  if (!signal && ms === Infinity) return result.value;
  return new Promise<WaitResult>((resolve, reject) => {
    const hold = ms === Infinity ? null : holdLoop(deadline);
    const onAbort = (): void => {
      hold?.release();
      // The abandoned waitAsync stays queued on the word and would swallow the
      // next Atomics.notify(word, 1) meant for a live waiter. Waking everyone
      // on the word removes it; the others re-check and wait again.
      Atomics.notify(i32, index);
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
