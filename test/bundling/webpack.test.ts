// The docs/bundling.md recipe for webpack: `target: 'node'`, in production
// mode (minified), to CommonJS and, with `experiments.outputModule`, to an ES
// module. The bundle runs thread, process and auto pools alone in an empty
// folder.
import webpack, { type Configuration } from 'webpack';
import { describe, expect, it } from 'vitest';
import { buildOnce, itRunsAlone } from './helpers.js';

const ES_MODULE_OUTPUT: Configuration = { experiments: { outputModule: true }, output: { module: true } };

const problems: string[] = [];

const bundles = buildOnce(async (project) => {
  const builds: Array<[string, string, Configuration]> = [
    ['esm-to-cjs.js', project.esm, {}],
    ['esm-to-esm.mjs', project.esm, ES_MODULE_OUTPUT],
    ['cjs-to-cjs.js', project.cjs, {}],
    ['cjs-to-esm.mjs', project.cjs, ES_MODULE_OUTPUT],
  ];
  const configs = builds.map(
    ([name, entry, extra]): Configuration => ({
      mode: 'production',
      target: 'node',
      entry,
      ...extra,
      output: { ...extra.output, path: project.out, filename: name },
    }),
  );
  const stats = await new Promise<webpack.MultiStats>((resolve, reject) => {
    const compiler = webpack(configs);
    compiler.run((error, result) => {
      compiler.close(() => (error || !result ? reject(error ?? new Error('webpack gave no stats')) : resolve(result)));
    });
  });
  const json = stats.toJson({ all: false, errors: true, warnings: true });
  for (const problem of [...(json.errors ?? []), ...(json.warnings ?? [])])
    problems.push(`${problem.moduleName ?? ''}: ${problem.message}`);
  return builds.map(([name]) => name);
});

describe('webpack', () => {
  it('builds without an error or a warning', () => {
    expect(problems).toEqual([]);
  });

  itRunsAlone(bundles, ['esm-to-cjs.js', 'esm-to-esm.mjs', 'cjs-to-cjs.js', 'cjs-to-esm.mjs']);
});
