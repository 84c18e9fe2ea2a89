import { InvalidTaskError } from './errors.js';
import { requireBesideTandem } from './location.js';

/**
 * Finds the variables a function's source uses without declaring them and that
 * are not globals: the ones it captured from an outer scope, which it will not
 * have once its source is rebuilt in a worker.
 *
 * The parser and the scope analyser are loaded on first use only: a program
 * that passes tasks (the common case) never pays for them, and a bundler does
 * not put them in an app's bundle.
 */

// Helpers that compilers insert around functions (esbuild/tsx keepNames); the
// worker provides them when it rebuilds a function from source.
export const SOURCE_HELPERS = ['__name'] as const;

interface ScopeLib {
  analyze(ast: unknown, options: Record<string, unknown>): { globalScope: { through: Array<{ identifier: { name: string } }> } | null };
}
interface ParserLib {
  parse(source: string, options: Record<string, unknown>): unknown;
}

let libraries: { acorn: ParserLib; scope: ScopeLib } | undefined;

function load(): { acorn: ParserLib; scope: ScopeLib } {
  if (!libraries) {
    const require = requireBesideTandem();
    try {
      libraries = { acorn: require('acorn') as ParserLib, scope: require('eslint-scope') as ScopeLib };
    } catch (error) {
      throw new InvalidTaskError(
        `a plain function (not declared with task()) is sent as source once the packages acorn and eslint-scope have checked that it ` +
          `captures nothing, and they cannot be loaded here (${(error as Error)?.message?.split('\n')[0]}); in an app bundled without ` +
          `its node_modules, declare the function with task(import.meta.url, fn), or install acorn and eslint-scope beside the bundle`,
      );
    }
  }
  return libraries;
}

export function freeVariables(expression: string): string[] {
  const { acorn, scope } = load();
  const ast = acorn.parse(`(${expression}\n);`, { ecmaVersion: 'latest', sourceType: 'script', ranges: true });
  const analysis = scope.analyze(ast, { ecmaVersion: 2022, sourceType: 'script' });
  const free = new Set<string>();
  for (const reference of analysis.globalScope?.through ?? []) {
    const name = reference.identifier.name;
    if (name in globalThis || (SOURCE_HELPERS as readonly string[]).includes(name)) continue;
    free.add(name);
  }
  return [...free];
}
