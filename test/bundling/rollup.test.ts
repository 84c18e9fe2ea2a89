// The docs/bundling.md recipe for Rollup: @rollup/plugin-node-resolve finds
// tandem in node_modules, @rollup/plugin-commonjs reads CommonJS (the app's,
// and tandem's CommonJS build that its require() picks). The bundle runs
// thread, process and auto pools alone in an empty folder.
import { join } from 'node:path';
import commonjsPlugin from '@rollup/plugin-commonjs';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { type OutputOptions, type RollupLog, rollup } from 'rollup';
import { describe, expect, it } from 'vitest';
import { COMMONJS_IN_ESM_BANNER, buildOnce, itRunsAlone } from './helpers.js';

// The plugin's types declare an ES module's default export in a CommonJS
// package, so TypeScript (NodeNext) sees the module object; the value is the function.
const commonjs = commonjsPlugin as unknown as typeof commonjsPlugin.default;

const warnings: RollupLog[] = [];

const bundles = buildOnce(async (project) => {
  const builds: Array<[string, string, OutputOptions]> = [
    ['esm-to-esm.mjs', project.esm, { format: 'es' }],
    ['esm-to-cjs.cjs', project.esm, { format: 'cjs' }],
    ['cjs-to-cjs.cjs', project.cjs, { format: 'cjs' }],
    ['cjs-to-esm.mjs', project.cjs, { format: 'es', banner: COMMONJS_IN_ESM_BANNER }],
  ];
  for (const [name, input, output] of builds) {
    const bundle = await rollup({ input, plugins: [nodeResolve(), commonjs()], onwarn: (warning) => warnings.push(warning) });
    await bundle.write({ ...output, file: join(project.out, name) });
    await bundle.close();
  }
  return builds.map(([name]) => name);
});

describe('Rollup', () => {
  it('builds without a warning', () => {
    expect(warnings.map((w) => `${w.code}: ${w.message}`)).toEqual([]);
  });

  itRunsAlone(bundles, ['esm-to-esm.mjs', 'esm-to-cjs.cjs', 'cjs-to-cjs.cjs', 'cjs-to-esm.mjs']);
});
