/**
 * Portable task names: how a job names its task so that every host finds the
 * same function, without an absolute path of the caller's machine and without
 * source code. A name is the declaring module's path relative to its package
 * root (the nearest package.json above it), without its extension, then
 * `#exportName`: `dist/tasks#resize`. The extension is dropped so a caller
 * running `tasks.ts` under tsx and a worker loading the compiled `tasks.js` next
 * to it agree.
 *
 * When the caller cannot learn the export name — its own module is still
 * running its top-level await, so importing it again would wait for itself —
 * the name falls back to the task's declaration index, `dist/tasks@0`, which
 * the worker also knows (the same `task()` calls run in the same order there).
 */
import { existsSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InvalidOptionError, InvalidTaskError, TaskNotFoundError, UnguardedPoolError } from '../errors.js';
import { whileLoadingTaskModule } from '../worker/current.js';
import type { TaskDefinition } from '../protocol.js';
import { taskLocation } from '../task.js';

const pathCache = new Map<string, string>();

/** `moduleUrl`'s path relative to its package root, `/`-separated, without extension. */
export function portablePath(moduleUrl: string): string {
  let cached = pathCache.get(moduleUrl);
  if (cached !== undefined) return cached;
  const file = fileURLToPath(moduleUrl);
  let root = dirname(file);
  while (!existsSync(join(root, 'package.json'))) {
    const parent = dirname(root);
    if (parent === root) {
      root = dirname(file); // no package.json at all: the module's own folder
      break;
    }
    root = parent;
  }
  const path = relative(root, file);
  cached = path
    .slice(0, path.length - extname(path).length)
    .split(sep)
    .join('/');
  pathCache.set(moduleUrl, cached);
  return cached;
}

/** How long the caller waits for `import(module)` before deciding the module is still evaluating. */
const IMPORT_GRACE_MS = 200;

/** Caller side: the portable name of a task definition. Refuses plain functions. */
export async function portableName(definition: TaskDefinition): Promise<string> {
  if (definition.kind !== 'module') throw refusedSource(definition.name);
  const path = portablePath(definition.module);
  let timer: NodeJS.Timeout | undefined;
  const namespace = await Promise.race([
    import(/* webpackIgnore: true */ definition.module) as Promise<Record<string, unknown>>,
    new Promise<null>((resolve) => {
      timer = setTimeout(resolve, IMPORT_GRACE_MS, null);
    }),
  ]).finally(() => clearTimeout(timer));
  if (namespace !== null) {
    for (const [name, value] of exportsOf(namespace)) {
      const location = taskLocation(value);
      if (location !== undefined && location.module === definition.module && location.index === definition.index) return `${path}#${name}`;
    }
    // Not among the exports of the instance import() returned: either it is not
    // exported (the workers, which serve exported tasks only, refuse it), or the
    // caller runs a second instance of the module (a test runner or bundler
    // that loads modules its own way). The declaration index names it either way.
  }
  return `${path}@${definition.index}`;
}

export function refusedSource(name: string): InvalidTaskError {
  return new InvalidTaskError(
    `${name ? `function '${name}'` : 'an anonymous function'} is not a task: with backend 'redis' only exported tasks run (declared with ` +
      `task(import.meta.url, fn) in a module that \`tandem worker --tasks\` loads); functions are never sent as source code`,
  );
}

/** Named exports, and for a CommonJS module the properties of module.exports. */
function exportsOf(namespace: Record<string, unknown>): [string, unknown][] {
  const entries = Object.entries(namespace).filter(([name]) => name !== 'default');
  const fallback = namespace.default;
  if (fallback !== null && (typeof fallback === 'object' || typeof fallback === 'function')) {
    for (const [name, value] of Object.entries(fallback)) if (!(name in namespace)) entries.push([name, value]);
  }
  if (taskLocation(fallback) !== undefined) entries.push(['default', fallback]);
  return entries;
}

/** Worker side: the tasks of the `--tasks` modules, by portable name. Only these ever run. */
export class TaskDirectory {
  readonly #tasks = new Map<string, Function>();
  /** One display name per task, for the log. */
  readonly names: string[] = [];

  static async load(files: readonly string[]): Promise<TaskDirectory> {
    const directory = new TaskDirectory();
    for (const file of files) {
      const url = pathToFileURL(resolve(file)).href;
      let namespace: Record<string, unknown>;
      try {
        // Under the same guard as a worker's imports: a module that starts a Pool at its top level would
        // run the app's main job on the host (and each of its local workers would do the same).
        namespace = await whileLoadingTaskModule(url, () => import(/* webpackIgnore: true */ url) as Promise<Record<string, unknown>>);
      } catch (error) {
        if (error instanceof UnguardedPoolError) throw error;
        throw new InvalidOptionError(
          'tasks',
          file,
          `a module that loads (importing it failed: ${(error as Error)?.message ?? String(error)})`,
        );
      }
      for (const [, value] of exportsOf(namespace)) {
        const location = taskLocation(value);
        if (location !== undefined) await directory.#add(value as Function, location);
      }
    }
    return directory;
  }

  /** Registers a task under its export names in its declaring module, and its declaration index. */
  async #add(fn: Function, location: { module: string; index: number }): Promise<void> {
    const path = portablePath(location.module);
    const byIndex = `${path}@${location.index}`;
    if (this.#tasks.has(byIndex)) return;
    this.#tasks.set(byIndex, fn);
    // Already loaded (it declared the task), so this import does not run anything again.
    const own = (await import(/* webpackIgnore: true */ location.module)) as Record<string, unknown>;
    let named = false;
    for (const [name, value] of exportsOf(own)) {
      if (value !== fn) continue;
      this.#tasks.set(`${path}#${name}`, fn);
      if (!named) this.names.push(`${path}#${name}`);
      named = true;
    }
    if (!named) this.names.push(byIndex);
  }

  get size(): number {
    return this.names.length;
  }

  get(name: string): Function | undefined {
    return this.#tasks.get(name);
  }

  /** The error a job naming an unknown task fails with. */
  notFound(name: string): TaskNotFoundError {
    const hash = Math.max(name.lastIndexOf('#'), name.lastIndexOf('@'));
    const shown = this.names.length > 12 ? `${this.names.slice(0, 12).join(', ')}, …` : this.names.join(', ');
    return new TaskNotFoundError(
      hash > 0 ? name.slice(0, hash) : name,
      hash > 0 ? name.slice(hash + 1) : name,
      `this worker does not serve it, so nothing ran; it serves ${shown || 'no tasks'}. Start \`tandem worker\` with --tasks for the ` +
        `module that exports it (the same code version as the caller)`,
    );
  }
}
