import { isMainThread } from 'node:worker_threads';
import { classesChecked } from '../classes.js';
import { TaskNotFoundError } from '../errors.js';
import { whileLoadingTaskModule } from './current.js';
import type { TaskDefinition } from '../protocol.js';
import { appBundleUrl } from '../location.js';
import { declaredTaskCount, registeredTask } from '../task.js';
import { SOURCE_HELPERS } from '../task-source.js';
import { tsxApiUrl } from './typescript.js';
import { typeScriptHint } from '../runtimes.js';

/**
 * Finds, inside a worker, the function a {@link TaskDefinition} names: it
 * imports the task's module (the worker inherits the caller's loaders, so a
 * TypeScript module works under tsx) and picks the task among its exports, or
 * rebuilds a plain function from its source. A worker started from the
 * app's bundle finds the task the bundle declared at the same index.
 */
export async function loadTask(definition: TaskDefinition): Promise<Function> {
  if (definition.kind === 'source') return compileSource(definition.source);
  const { module, index, name } = definition;
  const label = name || `#${index}`;
  let namespace: Record<string, unknown>;
  try {
    namespace = await importModule(module);
    await classesChecked(); // see src/classes.ts
  } catch (error) {
    // The module loaded but started a pool: that error says what to change, "not found" would not.
    // (Matched by code: the module may have thrown it from another copy of tandem.)
    if ((error as { code?: unknown } | null)?.code === 'ERR_TANDEM_UNGUARDED_POOL') throw error;
    throw new TaskNotFoundError(
      module,
      label,
      `the module could not be loaded in the worker (${(error as Error)?.message ?? String(error)})${typeScriptHint(module, error)}`,
      {
        cause: error,
      },
    );
  }
  if (module === appBundleUrl()) return declaredByBundle(module, index, name, label);
  const exported = exportsOf(namespace);
  const declared = registeredTask(module, index);
  if (declared !== undefined && exported.values.includes(declared)) return declared;
  const byName = name ? exported.byName.get(name) : undefined;
  if (typeof byName === 'function') return byName;
  const names = [...exported.byName.keys()];
  throw new TaskNotFoundError(
    module,
    label,
    `the module does not export it (it exports ${names.length ? names.map((n) => `'${n}'`).join(', ') : 'nothing'}); a worker finds a ` +
      `task among its module's exports, so export it`,
  );
}

/**
 * The bundle declared its tasks again while it loaded in this worker (it is
 * the module the worker started from, and import() waited for its top
 * level). Bundlers rename functions, but both sides run the same bundle, so
 * the names must agree: one that does not means the two declared their tasks
 * in different orders.
 */
function declaredByBundle(module: string, index: number, name: string, label: string): Function {
  const declared = registeredTask(module, index);
  if (declared !== undefined && declared.name === name) return declared;
  const found =
    declared === undefined ? `it declared only ${declaredTaskCount(module)} task(s)` : `its task #${index} is '${declared.name}'`;
  throw new TaskNotFoundError(
    module,
    label,
    `this worker started from the app's bundle and ran its top level, but ${found}; a worker finds a bundle's tasks by the order of ` +
      `their task() calls, so declare every task at the top level of a module the bundle imports statically, not inside a function, a ` +
      `dynamic import() or an isWorker() guard`,
  );
}

async function importModule(module: string): Promise<Record<string, unknown>> {
  if (!isMainThread) await inheritLoaders();
  // Node's own import(), which bundlers must leave alone: the module is a file beside the program.
  return (await whileLoadingTaskModule(module, () => import(/* webpackIgnore: true */ module))) as Record<string, unknown>;
}

let inherited: Promise<void> | null = null;

/**
 * Node runs the caller's `--import` preloads in worker threads, but tsx's
 * loader registers its module hooks in the main thread only, and on Node 20
 * those do not reach worker threads. Before a thread imports its first task
 * module, it registers tsx through its API, so a .ts task module loads the
 * same in a thread as in the caller, under `node --import tsx` as under the
 * `tsx` command (which passes its loader's file URL). (A failed import cannot
 * simply be retried: Node caches the failure.)
 */
function inheritLoaders(): Promise<void> {
  inherited ??= (async () => {
    // Loaders come from the command line or from NODE_OPTIONS.
    const argv = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)];
    for (let i = 0; i < argv.length; i++) {
      const flag = argv[i];
      const spec = flag === '--import' ? argv[++i] : flag.startsWith('--import=') ? flag.slice('--import='.length) : undefined;
      // The caller's own tsx, found at run time, never bundled.
      const api = spec === undefined ? undefined : tsxApiUrl(spec);
      if (api === undefined) continue;
      try {
        ((await import(/* webpackIgnore: true */ api)) as { register(): unknown }).register();
      } catch {
        // Without it a .ts module fails to load, and that error names the file.
      }
      return;
    }
  })();
  return inherited;
}

function exportsOf(namespace: Record<string, unknown>): { values: unknown[]; byName: Map<string, unknown> } {
  const byName = new Map<string, unknown>();
  for (const key of Object.keys(namespace)) {
    if (key !== 'default') byName.set(key, namespace[key]);
  }
  // A CommonJS module's exports arrive as `default`.
  const fallback = namespace.default;
  if (fallback !== null && (typeof fallback === 'object' || typeof fallback === 'function')) {
    for (const key of Object.keys(fallback)) {
      if (!byName.has(key)) byName.set(key, (fallback as Record<string, unknown>)[key]);
    }
    if (typeof fallback === 'function' && !byName.has('default')) byName.set('default', fallback);
  } else if (fallback !== undefined) {
    byName.set('default', fallback);
  }
  return { values: [...byName.values()], byName };
}

const keepName = <T>(target: T): T => target;

function compileSource(source: string): Function {
  const helpers = SOURCE_HELPERS.map(() => keepName);
  // The source was checked in the caller: it parses and captures nothing.
  return new Function(...SOURCE_HELPERS, `return (${source}\n);`)(...helpers) as Function;
}
