// A TypeScript program with TypeScript task modules, started the ways users
// start one on the runtime running the suite: the tsx command, node --import
// tsx, Node's own type stripping, Bun, Deno, and tsc's output. Each runner ×
// backend is a child process with a deadline; thread and auto workers must
// load the .ts task module the way the caller did.
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupCli, runCli, tempDir } from '../cli/helpers.js';
import { jsArgs, needsLoader, run, sourceRunners, testRunners } from './runners.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures', import.meta.url));
const backends = ['thread', 'process', 'auto'] as const;
const expected = (backend: string): unknown => ({ run: `${backend.toUpperCase()}!`, map: ['abab', 'ccc'] });

afterAll(cleanupCli);

describe.concurrent.each(sourceRunners())('TypeScript under $name', (runner) => {
  const scripts = runner.jsSpecifiers ? ['main.ts', 'main-js.ts'] : ['main.ts'];
  describe.each(scripts)('%s', (script) => {
    it.each(backends)('%s', async (backend) => {
      const result = await run([...runner.args, script, backend], fixtures);
      expect(result.stderr).not.toMatch(/Error/);
      expect({ code: result.code, output: JSON.parse(result.stdout || 'null') }).toEqual({ code: 0, output: expected(backend) });
    });
  });

  it.each(['thread', 'process', 'auto'])('tandem run with a .ts task module (%s)', async (backend) => {
    const { code, stdout, stderr } = await runCli(['run', 'tasks.ts#square', '--backend', backend], {
      cwd: fixtures,
      stdin: '{"n":3}\n{"n":4}\n',
      nodeArgs: runner.args,
    });
    expect(code, stderr).toBe(0);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      { line: 1, result: 9 },
      { line: 2, result: 16 },
    ]);
  });

  // A longer deadline: five pools, each starting workers that load a TypeScript
  // loader, while the other runners start theirs.
  it('tandem compare --task with a .ts task module', async () => {
    const out = tempDir();
    const inputs = join(out, 'inputs.json');
    writeFileSync(inputs, JSON.stringify([{ n: 2 }, { n: 3 }, { n: 4 }]));
    // One run of each model on one worker: this checks that every model loads the .ts module, not which is faster.
    const args = ['compare', '--task', 'tasks.ts#square', '--input', inputs, '--out', out, '--runs', '1', '--size', '1'];
    const { code, stdout, stderr } = await runCli(args, { cwd: fixtures, nodeArgs: runner.args });
    expect(code, stderr).toBe(0);
    for (const label of ['sequential', 'threads', 'processes', 'auto']) expect(stdout).toContain(label);
  }, 120_000);
});

// tsc's output is JavaScript: it runs on every runtime. `rewriteRelativeImportExtensions`
// turns main.ts's './tasks.ts' into './tasks.js'; main-js.ts wrote './tasks.js' itself.
describe.concurrent('tsc output', () => {
  let out = '';
  beforeAll(() => {
    const project = tempDir();
    out = join(project, 'out');
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(root, join(project, 'node_modules', 'tandem'), 'dir');
    writeFileSync(join(project, 'package.json'), '{ "type": "module" }');
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    // Compiled by the Node that runs npm, as a project builds before it ships.
    execFileSync('node', [tsc, '-p', join(fixtures, 'tsconfig.json'), '--outDir', out], { cwd: root, stdio: 'inherit' });
  }, 120_000);

  describe.each(['main.js', 'main-js.js'])('%s', (script) => {
    it.each(backends)('%s', async (backend) => {
      const result = await run([...jsArgs, join(out, script), backend], out);
      expect(result.stderr).not.toMatch(/Error/);
      expect({ code: result.code, output: JSON.parse(result.stdout || 'null') }).toEqual({ code: 0, output: expected(backend) });
    });
  });

  it('tandem run with the compiled task module', async () => {
    const { code, stdout } = await runCli(['run', 'tasks.js#square', '--backend', 'process'], {
      cwd: out,
      stdin: '{"n":5}\n',
      nodeArgs: jsArgs,
    });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ line: 1, result: 25 });
  });
});

// Tasks in a test file's helper module: the test runner loads it with its own
// transform, the pool's workers with what the runtime loads TypeScript with.
describe.concurrent.each(testRunners(fixtures))('tasks in a TypeScript helper of a $name test', (runner) => {
  it.each(backends)('%s', async (backend) => {
    const env = runner.workersFail ? { ...runner.env, TANDEM_EXPECT: 'not-found' } : runner.env;
    const result = await run([...runner.args, '-t', backend], fixtures, 90_000, env);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  });
});

// Node 20 strips no types: without a loader the CLI says what to use.
describe.runIf(needsLoader)('a .ts task module without a loader on Node 20', () => {
  it('tandem run refuses it with a usage error that names the loader', async () => {
    const { code, stderr } = await runCli(['run', 'tasks.ts#square'], { cwd: fixtures, stdin: '{"n":3}\n' });
    expect(code).toBe(2);
    expect(stderr).toContain('--import tsx');
  });
});
