import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliUsageError } from '../errors.js';
import { typeScriptHint } from '../runtimes.js';

/** A user's task named on the command line as `./file.ts#exportName`. */
export interface LoadedTask {
  /** As typed, for messages and reports. */
  reference: string;
  exportName: string;
  moduleUrl: string;
  fn: (input: unknown) => unknown;
}

// The same registered symbol task() marks its functions with (src/task.ts): a
// worker finds a task by module URL and declaration index, so only functions
// made with task(import.meta.url, fn) can be sent by reference.
const TASK_INFO = Symbol.for('tandem.task.info');

/**
 * Imports the module of `reference` (`path#export`, `#export` defaulting to
 * `default`) and returns the exported task. A `.ts` module loads when the
 * command runs under tsx (`tsx node_modules/.bin/tandem …`; workers inherit
 * it), Node 22.18+, Bun or Deno (see TYPESCRIPT_LOADERS); `.mjs`, `.cjs` and
 * `.js` always do.
 */
export async function loadTaskReference(reference: string, cwd = process.cwd()): Promise<LoadedTask> {
  const hash = reference.lastIndexOf('#');
  const file = hash === -1 ? reference : reference.slice(0, hash);
  const exportName = hash === -1 ? 'default' : reference.slice(hash + 1);
  if (file === '' || exportName === '') {
    throw new CliUsageError(`'${reference}' does not name a task: write the module path, '#', and the export, e.g. ./tasks.mjs#resize`);
  }
  const path = resolve(cwd, file);
  if (!existsSync(path)) throw new CliUsageError(`task module ${path} does not exist (from '${reference}')`);
  const moduleUrl = pathToFileURL(path).href;
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(moduleUrl)) as Record<string, unknown>;
  } catch (error) {
    throw new CliUsageError(`could not import ${path}: ${(error as Error)?.message ?? String(error)}${typeScriptHint(path, error)}`, {
      cause: error,
    });
  }
  // A CommonJS module's exports arrive under `default`.
  const fallback = namespace.default as Record<string, unknown> | undefined;
  const fn = exportName in namespace ? namespace[exportName] : fallback?.[exportName];
  if (typeof fn !== 'function') {
    const names = Object.keys(namespace).filter((n) => typeof namespace[n] === 'function');
    throw new CliUsageError(
      `${file} has no task exported as '${exportName}' (its function exports: ${names.length ? names.join(', ') : 'none'})`,
    );
  }
  if (!(TASK_INFO in fn)) {
    throw new CliUsageError(
      `'${exportName}' in ${file} is a function but not a task: declare it with task(import.meta.url, fn) so workers can find it, e.g. ` +
        `export const ${exportName} = task(import.meta.url, async (input) => …)`,
    );
  }
  return { reference, exportName, moduleUrl, fn: fn as unknown as (input: unknown) => unknown };
}
