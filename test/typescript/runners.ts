// The ways a TypeScript program can be started, on the runtime running the
// suite (CI runs it under Node 20, 22, 24 and 26, Bun and Deno), and a child
// process runner with a deadline that kills the whole process group (the tsx
// command starts a second process).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { runtime } from '../helpers.js';

export interface Runner {
  name: string;
  /** The arguments before the script, after the runtime's own binary. */
  args: string[];
  /** Whether the runner finds `./tasks.ts` imported as `./tasks.js` (tsc's convention). */
  jsSpecifiers: boolean;
}

const require = createRequire(import.meta.url);
/** The `tsx` command: its CLI file, run by this runtime's node (tsx starts it again with its loader). */
export const TSX_CLI = require.resolve('tsx/cli');

const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
/** Node strips types without a flag from 22.18 (and 23.6); 22.6 to 22.17 need --experimental-strip-types. */
const stripsByDefault = major > 22 || (major === 22 && minor >= 18);

/** Whether nothing on this runtime loads a .ts file unless told to (Node before 22.6; 22.6 to 22.17 need the flag). */
export const needsLoader = runtime === 'node' && !stripsByDefault;

/** The runners of TypeScript source on this runtime. */
export function sourceRunners(): Runner[] {
  if (runtime === 'bun') return [{ name: 'bun', args: [], jsSpecifiers: true }];
  if (runtime === 'deno') {
    return [
      { name: 'deno run', args: ['run', '-A'], jsSpecifiers: false },
      { name: 'deno run --sloppy-imports', args: ['run', '-A', '--sloppy-imports'], jsSpecifiers: true },
    ];
  }
  const runners: Runner[] = [
    { name: 'the tsx command', args: [TSX_CLI], jsSpecifiers: true },
    { name: 'node --import tsx', args: ['--import', 'tsx'], jsSpecifiers: true },
  ];
  if (stripsByDefault) runners.push({ name: "node's own type stripping", args: [], jsSpecifiers: false });
  if (major === 22) runners.push({ name: 'node --experimental-strip-types', args: ['--experimental-strip-types'], jsSpecifiers: false });
  return runners;
}

/** A test runner running a test file whose tasks live in a TypeScript helper module (fixtures/pool-cases.ts). */
export interface TestRunner {
  name: string;
  /** The arguments after the runtime's binary, up to the test name filter. */
  args: string[];
  env: Record<string, string>;
  /** Nothing loads the helper in the pool's workers: every call must fail with TaskNotFoundError. */
  workersFail: boolean;
}

/** vitest everywhere, jest on Node (in its ESM mode), `bun test` on Bun; on a Node that loads no .ts, each also under tsx. */
export function testRunners(fixtures: string): TestRunner[] {
  const vitest = [
    ...(runtime === 'deno' ? ['run', '-A'] : []),
    require.resolve('vitest/vitest.mjs'),
    'run',
    '--config',
    `${fixtures}/vitest/vitest.config.mjs`,
  ];
  if (runtime === 'bun')
    return [
      { name: 'vitest', args: vitest, env: {}, workersFail: false },
      { name: 'bun test', args: ['test', './bun/pool.spec.mjs'], env: {}, workersFail: false },
    ];
  if (runtime === 'deno') return [{ name: 'vitest', args: vitest, env: {}, workersFail: false }];
  const jest = ['--experimental-vm-modules', require.resolve('jest/bin/jest'), '--config', `${fixtures}/jest/jest.config.js`];
  const runners: TestRunner[] = [
    { name: 'vitest', args: vitest, env: {}, workersFail: needsLoader },
    { name: 'jest', args: jest, env: {}, workersFail: needsLoader },
  ];
  if (needsLoader) {
    const tsx = { NODE_OPTIONS: '--import tsx' };
    runners.push({ name: "vitest with NODE_OPTIONS='--import tsx'", args: vitest, env: tsx, workersFail: false });
    runners.push({ name: "jest with NODE_OPTIONS='--import tsx'", args: jest, env: tsx, workersFail: false });
  }
  return runners;
}

/** The arguments that run a plain JavaScript file on this runtime. */
export const jsArgs: string[] = runtime === 'deno' ? ['run', '-A'] : [];

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs this runtime's binary with `args` in `cwd` to its end; at `deadlineMs`
 * kills its whole process group (a deadline, never a speed assertion).
 */
export function run(args: string[], cwd: string, deadlineMs = 60_000, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    // No NODE_OPTIONS from the test runner leaks in: each runner is started as a user starts it.
    const child = spawn(process.execPath, args, {
      cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const deadline = setTimeout(() => {
      stderr += `\n[killed at the ${deadlineMs} ms deadline]`;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, deadlineMs);
    child.once('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr });
    });
  });
}
