import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeValue, InvalidTaskError } from './errors.js';
import { appBundleUrl } from './location.js';
import type { TaskDefinition } from './protocol.js';
import { freeVariables } from './task-source.js';

/**
 * A function a worker can run. It is the plain function itself (call it
 * locally as usual); `task()` only records where a worker finds it again.
 *
 * @typeParam F The function's own type.
 */
// biome-ignore lint/suspicious/noExplicitAny: any[] is what lets every function's parameters fit
export type Task<F extends (...args: any[]) => unknown = (...args: any[]) => unknown> = F;

interface TaskInfo {
  module: string;
  index: number;
}

const INFO = Symbol.for('tandem.task.info');

/**
 * Per module URL, the tasks it declared in declaration order. A worker that
 * imports the module again runs the same `task()` calls in the same order, so
 * the index finds the very function even when it has no name (an arrow passed
 * straight to `task()` has none). The table lives on `globalThis` so the ESM
 * and CommonJS builds of tandem, loaded side by side, share it.
 *
 * When tandem is bundled into an app, every task is the bundle's, whatever
 * URL it was given (a bundler may have emptied `import.meta.url` or frozen it
 * to a path on the build machine): the list is the bundle's, in the order
 * the bundle declares its tasks, and a worker started from the bundle
 * (src/worker/bundle-entry.ts) declares them again in that order.
 */
const REGISTRY_KEY = Symbol.for('tandem.task.registry');
const globals = globalThis as unknown as Record<symbol, Map<string, Function[]> | undefined>;
const registry: Map<string, Function[]> = (globals[REGISTRY_KEY] ??= new Map());

/**
 * Marks `fn` as a task that workers can load from `moduleUrl`, and returns `fn`
 * itself, so it stays an ordinary local function with its types intact.
 *
 * The task must be exported from that module: a worker imports the module and
 * finds the function among its exports. In an app bundled into one file with
 * tandem inside (docs/bundling.md), the worker starts from the bundle and
 * finds the task by the order of the bundle's `task()` calls instead: there a
 * task need not be exported, and `moduleUrl` is not used.
 *
 * @param moduleUrl `import.meta.url` in an ES module, `__filename` in CommonJS.
 * @typeParam F The function's own type, kept as it is.
 * @example
 * ```ts
 * // tasks.ts
 * import { task } from 'tandem';
 * export const fib = task(import.meta.url, function fib(n: number): number {
 *   return n < 2 ? n : fib(n - 1) + fib(n - 2);
 * });
 * ```
 */
// biome-ignore lint/suspicious/noExplicitAny: any[] is what lets every function's parameters fit
export function task<F extends (...args: any[]) => unknown>(moduleUrl: string, fn: F): F {
  if (typeof fn !== 'function') {
    throw new InvalidTaskError(`task(moduleUrl, fn) needs a function as its second argument; got ${typeof fn}`);
  }
  const module = appBundleUrl() ?? normalizeModuleUrl(moduleUrl);
  const existing = (fn as unknown as Record<symbol, TaskInfo | undefined>)[INFO];
  if (existing) {
    if (existing.module === module) return fn;
    throw new InvalidTaskError(
      `function ${fn.name || '(anonymous)'} is already a task of ${existing.module}; declare each task once, in the module that exports it`,
    );
  }
  let list = registry.get(module);
  if (!list) registry.set(module, (list = []));
  const info: TaskInfo = { module, index: list.length };
  list.push(fn);
  Object.defineProperty(fn, INFO, { value: info, enumerable: false });
  return fn;
}

function normalizeModuleUrl(moduleUrl: unknown): string {
  if (typeof moduleUrl === 'string') {
    if (moduleUrl.startsWith('file:')) return new URL(moduleUrl).href;
    if (isAbsolute(moduleUrl)) return pathToFileURL(moduleUrl).href;
  }
  // A bundler that writes CommonJS empties import.meta, so the user did pass import.meta.url.
  const emptied =
    moduleUrl === undefined
      ? ' (undefined is what import.meta.url becomes when a bundler turns an ES module into CommonJS: bundle tandem into the same file, ' +
        'where tasks need no URL, or output an ES module; see docs/bundling.md)'
      : '';
  throw new InvalidTaskError(
    `task(moduleUrl, fn) needs the URL or path of the module that exports the task: pass import.meta.url (ES modules) or __filename ` +
      `(CommonJS); got ${describeValue(moduleUrl)}${emptied}`,
  );
}

/** The task that `module` declared at `index` (in this thread), if it was loaded. */
export function registeredTask(module: string, index: number): Function | undefined {
  return registry.get(module)?.[index];
}

/** How many tasks `module` declared (in this thread). */
export function declaredTaskCount(module: string): number {
  return registry.get(module)?.length ?? 0;
}

const sourceChecked = new WeakMap<Function, TaskDefinition>();

/**
 * How a worker finds `fn`: by module and declaration index for a task, by its
 * source for a plain function. Throws InvalidTaskError for anything a worker
 * could not rebuild.
 */
export function definitionOf(fn: unknown): TaskDefinition {
  if (typeof fn !== 'function') {
    throw new InvalidTaskError(
      `expected a task (made with task(import.meta.url, fn)) or a self-contained function; got ${fn === null ? 'null' : typeof fn}`,
    );
  }
  const info = (fn as unknown as Record<symbol, TaskInfo | undefined>)[INFO];
  if (info) return { kind: 'module', module: info.module, index: info.index, name: fn.name };
  let definition = sourceChecked.get(fn);
  if (!definition) {
    definition = { kind: 'source', source: sourceOf(fn), name: fn.name };
    sourceChecked.set(fn, definition);
  }
  return definition;
}

const FIX = 'wrap it with task(import.meta.url, fn) in a module that exports it, or pass what it needs as arguments';

function sourceOf(fn: Function): string {
  const source = Function.prototype.toString.call(fn);
  const label = fn.name ? `function '${fn.name}'` : 'the anonymous function';
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
    throw new InvalidTaskError(`${label} is native or bound, so its source cannot be sent to a worker; ${FIX}`);
  }
  if (/^class[\s{]/.test(source)) {
    throw new InvalidTaskError(`${label} is a class, not a function; pass a function`);
  }
  const expression = asExpression(source);
  if (expression === null) {
    throw new InvalidTaskError(`${label} cannot be rebuilt from its source (is it a method?); ${FIX}`);
  }
  const free = freeVariables(expression);
  if (free.length > 0) {
    const names = free.map((n) => `'${n}'`).join(', ');
    throw new InvalidTaskError(
      `${label} uses ${names} from an outer scope; a plain function is sent to the worker as source code and runs there without its ` +
        `closure. ${FIX}`,
    );
  }
  return expression;
}

/** The source as an expression a worker can evaluate, or null if it is not one (e.g. method shorthand). */
function asExpression(source: string): string | null {
  try {
    new Function(`return (${source}\n);`);
    return source;
  } catch {
    // `name(a) { ... }` (method shorthand) becomes a function expression.
    const candidate = source.startsWith('async ') ? `async function ${source.slice(6)}` : `function ${source}`;
    try {
      new Function(`return (${candidate}\n);`);
      return candidate;
    } catch {
      return null;
    }
  }
}

/** Where a worker finds `value` again when it is a task (module URL and declaration index), else undefined. */
export function taskLocation(value: unknown): { module: string; index: number } | undefined {
  if (typeof value !== 'function') return undefined;
  return (value as unknown as Record<symbol, TaskInfo | undefined>)[INFO];
}
