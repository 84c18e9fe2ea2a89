import { AsyncLocalStorage } from 'node:async_hooks';
import { OutsideTaskError } from '../errors.js';
import { CONTEXT_REACHES_IMPORTS, moduleOnStack } from '../runtimes.js';

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
  /** The task's function name (optional: an older copy of tandem may have made this object). */
  name?: string;
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

interface LoadingModules {
  /** The task module whose import a piece of code belongs to. */
  storage: AsyncLocalStorage<string>;
  /** Imports in flight. */
  active: number;
  /** Their modules (optional: an older copy of tandem may have made this object). */
  modules?: string[];
}

const LOADING = Symbol.for('tandem.loadingModule');
// On globalThis for the same reason as `current`: the module being loaded may get another copy of tandem.
const loading: LoadingModules = ((globalThis as unknown as Record<symbol, LoadingModules | undefined>)[LOADING] ??= {
  storage: new AsyncLocalStorage<string>(),
  active: 0,
});

/**
 * Imports a task module (in a worker) so that code run by the import, the
 * module's top level and what it starts from there, sees
 * {@link loadingTaskModule}, while a task that runs meanwhile on the same
 * event loop does not: the runtime starts tasks outside this context. A
 * counter would leak into async tasks running during a slow import, hence an
 * AsyncLocalStorage; it is switched off when no import is in flight, because
 * an enabled one slows every promise of the worker (about 3.5 times on a loop
 * of awaits, Node 20).
 */
export async function whileLoadingTaskModule<T>(module: string, load: () => Promise<T>): Promise<T> {
  loading.active++;
  const modules = (loading.modules ??= []);
  modules.push(module);
  try {
    return await loading.storage.run(module, load);
  } finally {
    modules.splice(modules.indexOf(module), 1);
    if (--loading.active === 0) loading.storage.disable();
  }
}

/** The task module a worker is importing, when called by code that import runs; else undefined. */
export function loadingTaskModule(): string | undefined {
  if (loading.active === 0) return undefined;
  // Bun's context does not reach the module's top level: look for it on the stack there.
  return loading.storage.getStore() ?? (CONTEXT_REACHES_IMPORTS ? undefined : moduleOnStack(loading.modules ?? []));
}

/**
 * The call whose synchronous part runs on this thread now, as [task name,
 * call id], for deadlock reports and shared-object requests; undefined on a
 * thread that runs no task, and after the call's first `await` (tracking a
 * call across awaits would cost every task an async context).
 */
export function runningTask(): [name: string, callId: number] | undefined {
  return current.source === null ? undefined : [current.name ?? '', current.id];
}
