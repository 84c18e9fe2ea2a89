import { OutsideTaskError } from '../errors.js';

/**
 * Which task is starting on this thread right now. The runtime sets it around
 * the synchronous part of each call, so `currentSignal()` finds its task
 * without an AsyncLocalStorage context per call (a cost every task would pay).
 * It lives on `globalThis` because the task module may load another copy of
 * tandem (ESM vs CommonJS build) than the worker runtime did.
 */
export interface SignalSource {
  signalFor(id: number): AbortSignal;
}

interface CurrentCall {
  source: SignalSource | null;
  id: number;
}

const KEY = Symbol.for('tandem.current');
const globals = globalThis as unknown as Record<symbol, CurrentCall | undefined>;
export const current: CurrentCall = (globals[KEY] ??= { source: null, id: -1 });

/**
 * The AbortSignal of the task that is running: it aborts when the caller
 * cancels the call (`future.cancel()`, the call's `signal`) or its timeout
 * passes. Call it at the start of the task, before the first `await`.
 *
 * @example
 * ```ts
 * export const download = task(import.meta.url, async function download(url: string) {
 *   const signal = currentSignal();
 *   const response = await fetch(url, { signal });
 *   return response.text();
 * });
 * ```
 */
export function currentSignal(): AbortSignal {
  if (current.source === null) throw new OutsideTaskError('currentSignal()');
  return current.source.signalFor(current.id);
}

const IN_WORKER = Symbol.for('tandem.inWorker');

/** Called by the thread and process entry files before any task module loads. */
export function markWorkerThread(): void {
  (globalThis as unknown as Record<symbol, boolean>)[IN_WORKER] = true;
}

/**
 * True inside a tandem thread or process worker (and in a `tandem worker`
 * process, which loads task modules for backend 'redis'). A module that both declares
 * tasks and starts a pool uses it to keep its top-level work out of the
 * workers, which import the module again to find the tasks.
 *
 * @example
 * ```ts
 * export const double = task(import.meta.url, (n: number) => n * 2);
 * if (!isWorker()) console.log(await new Pool().run(double, 21));
 * ```
 */
export function isWorker(): boolean {
  return (globalThis as unknown as Record<symbol, boolean | undefined>)[IN_WORKER] === true;
}
