import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { requireFrom } from '../location.js';

/**
 * The URL of tsx's `esm/api` module when `spec`, one `--import` of the
 * caller, loads tsx; else undefined. `node --import tsx` names it by package,
 * the `tsx` command by the file of its loader (`--import
 * file:///…/node_modules/tsx/dist/loader.mjs`), and either may name a
 * subpath. The api is taken from the same tsx installation as the loader, so
 * a thread registers the very tsx its caller runs under.
 */
export function tsxApiUrl(spec: string): string | undefined {
  const root = spec === 'tsx' || spec.startsWith('tsx/') ? installedTsx() : enclosingTsx(spec);
  if (root === undefined) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports?: Record<string, unknown> };
    return pathToFileURL(join(root, importTarget(manifest.exports?.['./esm/api']) ?? 'dist/esm/api/index.mjs')).href;
  } catch {
    return undefined;
  }
}

/** The folder of the tsx package a bare `--import tsx` resolves to: Node resolves it from the working directory. */
function installedTsx(): string | undefined {
  try {
    return dirname(requireFrom(join(process.cwd(), 'noop.js')).resolve('tsx/package.json'));
  } catch {
    return undefined;
  }
}

/** The folder of the tsx package that holds the file `spec` names (a file URL or a path), if it is one. */
function enclosingTsx(spec: string): string | undefined {
  let path: string;
  try {
    if (spec.startsWith('file:')) path = fileURLToPath(spec);
    else if (spec.startsWith('/') || spec.startsWith('.')) path = resolve(spec);
    else return undefined;
  } catch {
    return undefined;
  }
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    let name: unknown;
    try {
      name = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
    } catch {
      return undefined;
    }
    // A package.json without a name only sets options for its folder: the package is further up.
    if (name !== undefined) return name === 'tsx' ? dir : undefined;
  }
  return undefined;
}

/** The file an `exports` entry gives to `import`: a string, or the `import` (then `default`) branch of its conditions. */
function importTarget(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  if (entry === null || typeof entry !== 'object') return undefined;
  const conditions = entry as Record<string, unknown>;
  return importTarget(conditions.import ?? conditions.default);
}
