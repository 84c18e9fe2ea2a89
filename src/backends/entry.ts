import { fileURLToPath } from 'node:url';

/**
 * Path of the worker entry file of this build. The entries are built next to
 * the package root module (dist/esm/worker/*.js, dist/cjs/worker/*.cjs), so
 * they are found relative to this module's own URL and extension.
 */
export function workerEntry(kind: 'thread' | 'process'): string {
  const here = import.meta.url;
  const extension = here.endsWith('.cjs') ? '.cjs' : '.js';
  return fileURLToPath(new URL(`./worker/${kind}-entry${extension}`, here));
}
