import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { WorkerEntryError } from '../errors.js';
import { appBundle, entryExtension, codeFile } from '../location.js';
import { BUNDLE_PROCESS_ENV, BUNDLE_THREAD_KEY, servingFromBundle } from '../worker/bundle-entry.js';

/** The file a thread or process worker starts from, and what tells a bundle started as a worker to serve. */
export interface WorkerEntry {
  file: string;
  /** A thread's `workerData`, set when the file is the app's bundle. */
  workerData?: Record<string, string>;
  /** Environment variables for a child process, set when the file is the app's bundle. */
  env?: Record<string, string>;
}

/**
 * Where a worker of this kind starts. From tandem's own build: its entry
 * files, built beside its code (dist/esm/worker/*.js, dist/cjs/worker/*.cjs).
 * From an app's bundle: the bundle itself, told to serve (see
 * src/worker/bundle-entry.ts), since no other file of tandem ships with it.
 */
export function workerEntry(kind: 'thread' | 'process'): WorkerEntry {
  const bundle = appBundle();
  if (bundle !== null) {
    if (servingFromBundle()) {
      throw new WorkerEntryError(
        `this ${isMainThread ? 'process' : 'thread'} is a worker started from the app's bundle, which runs the bundle's top level to ` +
          `find its tasks, and such a worker starts no ${kind} workers of its own (they would run the top level too): if the app's main ` +
          `code started this pool, put that code under \`if (!isWorker()) { … }\` (isWorker is exported by tandem); a task that needs a ` +
          `pool of its own can use backend 'inline', or return its work to the caller's pool`,
      );
    }
    return kind === 'thread'
      ? { file: bundle, workerData: { [BUNDLE_THREAD_KEY]: 'thread' } }
      : { file: bundle, env: { [BUNDLE_PROCESS_ENV]: 'process' } };
  }
  if (codeFile === null) {
    throw new WorkerEntryError(
      `tandem cannot start a ${kind} worker: this JavaScript runtime does not say which file tandem's code was loaded from (V8 call ` +
        `sites name none), so tandem cannot find its worker entry; use backend 'inline', or run under Node.js`,
    );
  }
  return { file: join(dirname(codeFile), 'worker', `${kind}-entry${entryExtension(codeFile)}`) };
}
