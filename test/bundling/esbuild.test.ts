// The docs/bundling.md recipe for esbuild: an app that uses tandem, bundled
// into one file (from ES modules and from CommonJS, to each output format),
// runs thread, process and auto pools alone in an empty folder.
import { join } from 'node:path';
import { type BuildOptions, type Message, build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { COMMONJS_IN_ESM_BANNER, RUN_DEADLINE_MS, type Run, buildOnce, itRunsAlone, runBundle } from './helpers.js';
import { runtime } from '../helpers.js';

const warnings: Message[] = [];
let external: Run;

const bundles = buildOnce(async (project) => {
  const options = (name: string, entry: string, extra: BuildOptions): BuildOptions => ({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    logLevel: 'silent',
    outfile: join(project.out, name),
    ...extra,
  });
  const builds: Array<[string, string, BuildOptions]> = [
    // Minified: function names change, and tasks are still found.
    ['esm-to-esm.mjs', project.esm, { format: 'esm', minify: true }],
    ['esm-to-cjs.cjs', project.esm, { format: 'cjs' }],
    ['cjs-to-cjs.cjs', project.cjs, { format: 'cjs' }],
    ['cjs-to-esm.mjs', project.cjs, { format: 'esm', banner: { js: COMMONJS_IN_ESM_BANNER } }],
    ['unguarded.mjs', project.unguarded, { format: 'esm' }],
  ];
  const results = await Promise.all(builds.map(([name, entry, extra]) => build(options(name, entry, extra))));
  for (const result of results) warnings.push(...result.warnings);
  // tandem left outside the bundle, as a package beside it: an ES module
  // written out as CommonJS loses import.meta.url, and task() says so.
  await build(options('external.cjs', project.esm, { format: 'cjs', packages: 'external' }));
  external = await runBundle(join(project.out, 'external.cjs'));
  return builds.map(([name]) => name);
});

describe('esbuild', () => {
  it('builds without a warning about tandem (only the app’s own import.meta, emptied in CommonJS output)', () => {
    const about = warnings.map((w) => ({ id: w.id, file: w.location?.file ?? '' }));
    expect(about.filter((w) => w.file.includes('node_modules'))).toEqual([]);
    expect(new Set(about.map((w) => w.id))).toEqual(new Set(['empty-import-meta']));
  });

  itRunsAlone(bundles, ['esm-to-esm.mjs', 'esm-to-cjs.cjs', 'cjs-to-cjs.cjs', 'cjs-to-esm.mjs']);

  it.each(['thread', 'process'])(
    'a worker of an app that forgot the isWorker() guard starts no workers of its own (%s)',
    async (backend) => {
      const run = await runBundle(bundles['unguarded.mjs'], [backend]);
      expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      const lines = run.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(lines.filter((line) => !line.isWorker)).toEqual([{ isWorker: false, results: [2, 4, 6] }]);
      const workers = lines.filter((line) => line.isWorker);
      expect(workers.length).toBeGreaterThan(0);
      for (const line of workers) expect(line).toEqual({ isWorker: true, code: 'ERR_TANDEM_WORKER_ENTRY' });
    },
    RUN_DEADLINE_MS + 10_000,
  );

  it('with tandem outside the bundle, a task whose import.meta.url the CommonJS output emptied fails at load with InvalidTaskError', () => {
    expect(external.code).not.toBe(0);
    // Each runtime prints an uncaught error its own way: Deno by its class alone, Bun with double quotes.
    const printed = {
      node: "code: 'ERR_TANDEM_INVALID_TASK'",
      bun: 'code: "ERR_TANDEM_INVALID_TASK"',
      deno: 'Uncaught (in promise) InvalidTaskError',
    };
    expect(external.stderr).toContain(printed[runtime]);
  });
});
