/**
 * An app's bundle started as a worker. When tandem is bundled into an app,
 * a pool starts its threads and processes from the bundle itself
 * (src/backends/entry.ts), as Python's spawn re-imports the main module: the
 * worker runs the bundle's top level again, so its task() and
 * registerClass() calls declare the same tasks and classes in the same order
 * (src/task.ts keys them by that order). This module is part of tandem, which
 * the app imports, so it is evaluated before any of the app's own code: it
 * makes the thread or process a worker first, and the app's main code, under
 * `if (!isWorker())`, stays out.
 */
import { isMainThread, workerData } from 'node:worker_threads';
import { serveProcess } from './process-serve.js';
import { serveThread } from './thread-serve.js';

/** The `workerData` key that tells a thread started from the bundle to serve. */
export const BUNDLE_THREAD_KEY = 'tandemBundleWorker';

/**
 * The environment variable that tells a child process started from the
 * bundle to serve. The worker removes it at once: its own children (a task
 * that runs another program) do not inherit it.
 */
export const BUNDLE_PROCESS_ENV = 'TANDEM_BUNDLE_WORKER';

// Two copies of tandem in one bundle (its ES module and CommonJS builds) serve once.
const SERVING = Symbol.for('tandem.bundleWorker');
const globals = globalThis as unknown as Record<symbol, boolean | undefined>;

/**
 * True in a thread or process started from the app's bundle. Such a worker
 * starts no workers of its own (as Python's pool workers have no children):
 * it runs the bundle's top level, so main code left out of the `isWorker()`
 * guard would start workers that do the same, without end.
 */
export function servingFromBundle(): boolean {
  return globals[SERVING] === true;
}

function startedAs(): 'thread' | 'process' | null {
  if (!isMainThread) {
    const data = workerData as Record<string, unknown> | null | undefined;
    return typeof data === 'object' && data !== null && data[BUNDLE_THREAD_KEY] === 'thread' ? 'thread' : null;
  }
  const value = process.env[BUNDLE_PROCESS_ENV];
  if (value === undefined) return null;
  delete process.env[BUNDLE_PROCESS_ENV];
  return value === 'process' && typeof process.send === 'function' ? 'process' : null;
}

const kind = startedAs();
if (kind !== null && !servingFromBundle()) {
  globals[SERVING] = true;
  if (kind === 'thread') serveThread();
  else serveProcess();
}
