// Shared by the bundler tests: a build folder that looks like a user's project
// (the fixture app and tandem installed as a copy of this package), running a
// bundle alone in an empty folder, and what the fixture app must report.
//
// The build folder is removed once the bundles are built, and nothing in it is
// a link into this repository: a bundle that still reached for a file of the
// build (tandem's worker entries, a task module by its source path) fails.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { alive, runtime } from '../helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures', import.meta.url));

/** How long one bundle may run (it takes seconds; the deadline only stops a hang). */
export const RUN_DEADLINE_MS = 120_000;
/** How long building every bundle of one test file may take. */
export const BUILD_DEADLINE_MS = 240_000;

/**
 * The one line a CommonJS app bundled as an ES module needs: its own code
 * calls `require` and uses `__filename`, which an ES module does not have.
 * (tandem itself needs neither.) esbuild's `banner.js`, Rollup's `output.banner`.
 */
export const COMMONJS_IN_ESM_BANNER =
  "import { createRequire } from 'node:module'; import { fileURLToPath } from 'node:url'; const require = " +
  'createRequire(import.meta.url); const __filename = fileURLToPath(import.meta.url);';

export interface Project {
  /** The project folder: app/ (the fixture sources), node_modules/tandem, out/. */
  dir: string;
  /** Entry of the app written as ES modules. */
  esm: string;
  /** Entry of the app written as CommonJS. */
  cjs: string;
  /** The app that starts pools without the isWorker() guard (ES module). */
  unguarded: string;
  /** Where the bundles go. */
  out: string;
  /** Removes the project (its bundles too). */
  remove(): void;
}

/** A user's project in a temp folder, with tandem installed from this package's build (npm run build). */
export function makeProject(): Project {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bundle-build-'));
  cpSync(fixtures, join(dir, 'app'), { recursive: true });
  const installed = join(dir, 'node_modules', 'tandem');
  mkdirSync(installed, { recursive: true });
  cpSync(join(root, 'package.json'), join(installed, 'package.json'));
  cpSync(join(root, 'dist'), join(installed, 'dist'), { recursive: true });
  const out = join(dir, 'out');
  mkdirSync(out);
  return {
    dir,
    esm: join(dir, 'app', 'esm', 'main.mjs'),
    cjs: join(dir, 'app', 'cjs', 'main.cjs'),
    unguarded: join(dir, 'app', 'unguarded.mjs'),
    out,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Builds the test file's bundles once, before its tests: `build` writes them
 * into `project.out` and returns their file names. Each is then copied alone
 * into its own new, empty temp folder, and the project is removed. Returns
 * name → copy, filled in once the build is done.
 */
export function buildOnce(build: (project: Project) => Promise<string[]>): Record<string, string> {
  const bundles: Record<string, string> = {};
  const folders: string[] = [];
  beforeAll(async () => {
    const project = makeProject();
    try {
      for (const name of await build(project)) {
        const folder = mkdtempSync(join(tmpdir(), 'tandem-bundle-run-'));
        folders.push(folder);
        bundles[name] = join(folder, name);
        cpSync(join(project.out, name), bundles[name]);
      }
    } finally {
      project.remove();
    }
  }, BUILD_DEADLINE_MS);
  afterAll(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });
  return bundles;
}

/** One test per bundle: run alone, the fixture app works on every backend. */
export function itRunsAlone(bundles: Record<string, string>, names: string[]): void {
  it.each(names)(
    '%s runs thread, process and auto pools alone in an empty folder',
    async (name) => {
      expectAppWorked(await runBundle(bundles[name]));
    },
    RUN_DEADLINE_MS + 10_000,
  );
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <bundle>` in the bundle's folder, with a deadline. */
export function runBundle(bundle: string, args: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    // Bun would install what the bundle imports from beside it (acorn, for a plain function) from npm: not here.
    const flags = runtime === 'bun' ? ['--no-install'] : [];
    execFile(
      process.execPath,
      [...flags, bundle, ...args],
      { cwd: join(bundle, '..'), timeout: RUN_DEADLINE_MS, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const failed = error as (Error & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
        resolve({
          code: failed ? (typeof failed.code === 'number' ? failed.code : null) : 0,
          signal: failed?.signal ?? null,
          stdout,
          stderr,
        });
      },
    );
  });
}

/**
 * The fixture app (fixtures/esm/main.mjs, fixtures/cjs/main.cjs) ran to the
 * end in its folder and exited by itself, every backend returned what the
 * tasks compute, and the process workers it started are gone.
 */
export function expectAppWorked(run: Run): void {
  expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
  const report = JSON.parse(run.stdout);
  const computed = { fib: 6765, other: ['other 1', 'other 2', 'other 3'], point: [true, 10] };
  expect(report).toEqual({
    isWorker: false,
    pid: expect.any(Number),
    backends: {
      thread: {
        ...computed,
        where: { isWorker: true, pid: report.pid, markerInEnv: false },
        nested: 'ERR_TANDEM_WORKER_ENTRY',
        balance: 200,
      },
      process: { ...computed, where: { isWorker: true, pid: expect.any(Number), markerInEnv: false }, nested: 'ERR_TANDEM_WORKER_ENTRY' },
      auto: computed,
    },
    mistakes: {
      notDeclaredInWorker: { code: 'ERR_TANDEM_TASK_NOT_FOUND' },
      plainFunction: { code: 'ERR_TANDEM_INVALID_TASK' },
    },
  });
  const child = report.backends.process.where.pid;
  expect(child).not.toBe(report.pid);
  expect(alive(child)).toBe(false);
}
