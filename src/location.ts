/**
 * Where this copy of tandem's code was loaded from, and whether that file is
 * an app's bundle (esbuild, Rollup, webpack) rather than tandem's own build.
 *
 * Neither `import.meta.url` nor `__filename` can say it: a CommonJS bundle
 * of ES modules empties `import.meta`, webpack replaces both with the paths
 * they had on the build machine, and Rollup leaves `__filename` undefined in
 * an ES module. V8 knows which file each function came from, so tandem asks
 * it, once, while this module is evaluated (the stack then still reaches
 * the bundle's own frames, even under webpack's eval source maps).
 */
import nodeModule from 'node:module';
import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The URL of the file this copy of tandem runs from (tandem's build, its
 * source under a loader, or a bundle), as the module loader knows it, or
 * null if V8 could not tell.
 */
export const codeUrl: string | null = urlOfThisCode();

/** The same file as a path. */
export const codeFile: string | null = codeUrl === null ? null : fileURLToPath(codeUrl);

function urlOfThisCode(): string | null {
  const prepare = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  let sites: NodeJS.CallSite[] = [];
  try {
    // Raw call sites, even where source maps or a test runner rewrite stacks.
    Error.prepareStackTrace = (_, callSites) => callSites;
    Error.stackTraceLimit = 50;
    const holder: { stack?: NodeJS.CallSite[] } = {};
    Error.captureStackTrace(holder);
    sites = holder.stack ?? [];
  } catch {
    // A runtime without V8's call sites: no file, and workerEntry() says so.
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
  // The first frame is this function; frames of eval'd code (webpack's
  // devtool 'eval') name no real file, and the bundle's own frames follow.
  for (const site of Array.isArray(sites) ? sites : []) {
    // The script's own name first: Deno's getFileName() answers the source a
    // source map names (src/location.ts for dist/esm/chunk-….js), file or not.
    const url = fileOf(typeof site?.getScriptNameOrSourceURL === 'function' ? site.getScriptNameOrSourceURL() : undefined);
    const found = url ?? fileOf(typeof site?.getFileName === 'function' ? site.getFileName() : undefined);
    if (found !== null) return found;
  }
  return null;
}

/** A call site's file name as a file URL, as the loader knows it (so that import() of it finds the module already loaded), or null. */
function fileOf(name: string | null | undefined): string | null {
  if (typeof name !== 'string') return null;
  if (name.startsWith('file:')) return name;
  return isAbsolute(name) ? pathToFileURL(name).href : null;
}

let bundle: string | null | undefined;

/**
 * The app's bundle when tandem was bundled into it, else null. tandem's own
 * build keeps its worker entry files in worker/ beside its code (the
 * CommonJS entries carry a copy of that code themselves), and its TypeScript
 * source (run under tsx or a test runner) is never a bundle; any other file
 * holding tandem's code is a bundle, and a worker starts from it.
 */
export function appBundle(): string | null {
  if (bundle === undefined) {
    const file = codeFile;
    if (file === null || /\.[cm]?ts$/.test(file)) bundle = null;
    else {
      const dir = dirname(file);
      const entry = `thread-entry${entryExtension(file)}`;
      const ownBuild = existsSync(join(dir, 'worker', entry)) || (basename(dir) === 'worker' && existsSync(join(dir, entry)));
      bundle = ownBuild ? null : file;
    }
  }
  return bundle;
}

/** The app's bundle as the URL that keys its tasks and classes (and that a worker imports), or null when tandem is not bundled. */
export function appBundleUrl(): string | null {
  return appBundle() === null ? null : codeUrl;
}

/** The extension of tandem's worker entry files beside `file`: `.cjs` in the CommonJS build, `.ts` in its source. */
export function entryExtension(file: string): '.cjs' | '.js' | '.ts' {
  if (file.endsWith('.cjs')) return '.cjs';
  return /\.[cm]?ts$/.test(file) ? '.ts' : '.js';
}

/**
 * A `require` that resolves from `file`, for the packages tandem loads only
 * when they are used (the source parser, the Redis client). Called through
 * the module object on purpose: webpack rewrites a bare `createRequire(x)`
 * it cannot evaluate at build time into `undefined`.
 */
export function requireFrom(file: string): NodeJS.Require {
  return nodeModule.createRequire(file);
}

/** A `require` that resolves packages as tandem's own code does: from its build, or from beside the bundle. */
export function requireBesideTandem(): NodeJS.Require {
  // From the working directory when V8 named no file: the package may still be installed there.
  return requireFrom(codeFile ?? join(process.cwd(), 'noop.js'));
}
