import { dirname, join } from 'node:path';
import { WorkerEntryError } from '../errors.js';
import { codeFile, entryExtension } from '../location.js';

/**
 * Path of the worker entry file of this build. The entries are built next to
 * the package root module (dist/esm/worker/*.js, dist/cjs/worker/*.cjs), so
 * they are found beside the file this code was loaded from.
 */
export function workerEntry(kind: 'thread' | 'process'): string {
  if (codeFile === null) {
    throw new WorkerEntryError(
      `tandem cannot start a ${kind} worker: this JavaScript runtime does not say which file tandem's code was loaded from (V8 call sites name none), so tandem cannot find its worker entry; use backend 'inline', or run under Node.js`,
    );
  }
  return join(dirname(codeFile), 'worker', `${kind}-entry${entryExtension(codeFile)}`);
}
