/**
 * Which JavaScript runtime runs tandem — Node, Bun or Deno, all three through
 * the same `node:` modules — and what each cannot do of what tandem's options
 * ask. Where a runtime lacks something, the option is refused at
 * `new Pool(...)` with UnsupportedRuntimeError instead of being silently
 * ignored. docs/runtimes.md lists the same cases; test/runtimes asserts them.
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BackendKind } from './backends/backend.js';
import { UnsupportedRuntimeError } from './errors.js';

export type RuntimeName = 'node' | 'bun' | 'deno';

export interface RuntimeInfo {
  name: RuntimeName;
  /** The runtime's own version (Bun and Deno also claim a Node version in `process.versions.node`). */
  version: string;
  /** How messages name it, e.g. `Bun 1.4.5`. */
  label: string;
}

function detect(): RuntimeInfo {
  const versions = process.versions as Record<string, string | undefined>;
  if (versions.bun !== undefined) return { name: 'bun', version: versions.bun, label: `Bun ${versions.bun}` };
  if (versions.deno !== undefined) return { name: 'deno', version: versions.deno, label: `Deno ${versions.deno}` };
  return { name: 'node', version: process.versions.node, label: `Node ${process.versions.node}` };
}

export const RUNTIME: RuntimeInfo = detect();

/** Things an option can ask of the runtime that not every runtime does. */
export type Feature = 'thread-heap-limits' | 'process-heap-limits';

interface Gap {
  feature: string;
  why: string;
  instead: string;
}

const GAPS: Record<RuntimeName, Partial<Record<Feature, Gap>>> = {
  node: {},
  bun: {
    'thread-heap-limits': {
      feature: 'resourceLimits on worker threads',
      why:
        "Bun's Worker accepts the option but does not enforce it (oven-sh/bun#31411), so a thread could grow until the whole process " +
        'runs out of memory',
      instead: "Leave resourceLimits out on Bun, or run the pool under Node or Deno (backend: 'process')",
    },
    'process-heap-limits': {
      feature: 'resourceLimits on child processes',
      why: "tandem sets a process's limits with V8 heap flags, and Bun runs on JavaScriptCore, which has no such flags",
      instead: 'Leave resourceLimits out on Bun, or run the pool under Node or Deno',
    },
  },
  deno: {
    'thread-heap-limits': {
      feature: 'resourceLimits on worker threads',
      why: 'a Deno worker thread that reaches its heap limit while running a call hangs instead of exiting, so the call would never settle',
      instead: "Use backend: 'process' with the same resourceLimits, which Deno enforces",
    },
  },
};

/** Why this runtime cannot provide `feature`, or undefined when it can. */
export function missing(feature: Feature, runtime: RuntimeName = RUNTIME.name): Gap | undefined {
  return GAPS[runtime][feature];
}

/**
 * Refuses pool options this runtime cannot honour: resourceLimits where the
 * pool's workers would not be held to them. Called by the option checks of
 * `new Pool`, after the limits themselves were found well formed.
 */
export function checkResourceLimits(backend: BackendKind | 'auto', isolate: boolean): void {
  // auto runs a task on threads, or on processes with isolate (a task threads cannot run also moves to processes).
  const features: Feature[] =
    backend === 'thread'
      ? ['thread-heap-limits']
      : backend === 'process'
        ? ['process-heap-limits']
        : backend === 'auto'
          ? [isolate ? 'process-heap-limits' : 'thread-heap-limits', 'process-heap-limits']
          : [];
  for (const feature of features) {
    const gap = missing(feature);
    if (gap !== undefined) throw new UnsupportedRuntimeError(RUNTIME.label, gap.feature, gap.why, gap.instead);
  }
}

/**
 * What loads a TypeScript module, for errors about a `.ts` file that could
 * not be imported: completes "… needs …".
 */
export const TYPESCRIPT_LOADERS =
  'a runtime that loads TypeScript: tsx (`tsx main.ts`, or `node --import tsx main.ts`; workers inherit it), Node 22.18+ or 24+ (22.6 to ' +
  '22.17 with --experimental-strip-types; only syntax that type stripping erases), Bun, or Deno; or compile it with tsc first (see ' +
  'docs/runtimes.md)';

/** For a `.ts` module that failed to load because nothing could strip its types: what to run it with. Else empty. */
export function typeScriptHint(module: string, error: unknown): string {
  if (!/\.[cm]?ts$/.test(module)) return '';
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_UNKNOWN_FILE_EXTENSION' ? `; a TypeScript module needs ${TYPESCRIPT_LOADERS}` : '';
}

/**
 * Whether an AsyncLocalStorage context set around `import()` reaches the
 * top level of the module it loads. Bun 1.4's does not (it is undefined
 * there), so code that must know which module is being loaded looks for it
 * on the stack instead (moduleOnStack).
 */
export const CONTEXT_REACHES_IMPORTS = RUNTIME.name !== 'bun';

/**
 * Which of `modules` (file URLs) has its top-level code on the current call
 * stack: a frame without a function name in that file, as V8 and
 * JavaScriptCore report a module's body, before and after its awaits.
 */
export function moduleOnStack(modules: readonly string[]): string | undefined {
  if (modules.length === 0) return undefined;
  const prepare = Error.prepareStackTrace;
  const holder: { stack?: unknown } = {};
  let sites: unknown;
  try {
    Error.prepareStackTrace = (_, callSites) => callSites;
    Error.captureStackTrace(holder);
    sites = holder.stack;
  } finally {
    Error.prepareStackTrace = prepare;
  }
  for (const site of Array.isArray(sites) ? (sites as NodeJS.CallSite[]) : []) {
    if (site.getFunctionName()) continue;
    const file = site.getScriptNameOrSourceURL() ?? site.getFileName();
    if (typeof file !== 'string' || file === '') continue;
    const url = file.startsWith('file:') ? file : isAbsolute(file) ? pathToFileURL(file).href : file;
    const found = modules.find((module) => module === url);
    if (found !== undefined) return found;
  }
  return undefined;
}
