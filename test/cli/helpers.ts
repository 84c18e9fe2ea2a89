// Drives the built `tandem` command as a user would: a spawned `node
// dist/esm/cli/index.js …`, real files in temp dirs. `cleanupCli()` kills
// whatever a test left running and removes its temp dirs. Nothing here
// sleeps to synchronise: tests wait for output or a condition, with a
// generous deadline for a noisy 2-core machine.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/esm/cli/index.js', import.meta.url));
export const TASKS = fileURLToPath(new URL('./fixtures/tasks.mjs', import.meta.url));
export const TS_TASKS = fileURLToPath(new URL('./fixtures/ts-tasks.ts', import.meta.url));

const DEADLINE_MS = 60_000;

export interface CliRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the command exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once stdout (or stderr) satisfies `test`. */
  waitForStdout(test: (text: string) => boolean): Promise<void>;
  waitForStderr(test: (text: string) => boolean): Promise<void>;
}

/** Spawned and not exited, with whether each leads a process group of its own. */
const running = new Map<ChildProcess, boolean>();
const dirs: string[] = [];

/** A fresh temp dir, removed by cleanupCli(). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-cli-test-'));
  dirs.push(dir);
  return dir;
}

/**
 * Starts `tandem …args`. `detached` puts it in a process group of its own, so
 * that a test can signal the group as a terminal's Ctrl-C does.
 */
export function startCli(args: string[], options: { stdin?: string; cwd?: string; detached?: boolean; nodeArgs?: string[] } = {}): CliRun {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], {
    cwd: options.cwd,
    detached: options.detached ?? false,
    stdio: ['pipe', 'pipe', 'pipe'],
    // No NODE_OPTIONS from the test runner (vitest's loaders) leaks into the CLI.
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  running.set(child, options.detached ?? false);
  let out = '';
  let err = '';
  const waiters: { stream: 'out' | 'err'; test: (text: string) => boolean; resolve: () => void }[] = [];
  const check = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      if (w.test(w.stream === 'out' ? out : err)) {
        waiters.splice(i, 1);
        w.resolve();
      }
    }
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    check();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    check();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  if (options.stdin !== undefined) child.stdin.end(options.stdin);
  const waitFor = (stream: 'out' | 'err', test: (text: string) => boolean): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`no matching ${stream === 'out' ? 'stdout' : 'stderr'} within ${DEADLINE_MS} ms; stdout:\n${out}\nstderr:\n${err}`),
          ),
        DEADLINE_MS,
      );
      waiters.push({
        stream,
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      check();
      void exited.then(() => {
        if (!test(stream === 'out' ? out : err)) {
          clearTimeout(timer);
          reject(new Error(`tandem exited before the expected output; stdout:\n${out}\nstderr:\n${err}`));
        }
      });
    });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForStdout: (test) => waitFor('out', test),
    waitForStderr: (test) => waitFor('err', test),
  };
}

/** Runs `tandem …args` to the end. */
export async function runCli(args: string[], options: { stdin?: string; cwd?: string; nodeArgs?: string[] } = {}) {
  const run = startCli(args, options);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** The JSON lines of an output. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls `condition` until it holds, or fails after the deadline. */
export async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const end = Date.now() + DEADLINE_MS;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Kills what a test left running (its whole group when detached) and removes temp dirs. */
export async function cleanupCli(): Promise<void> {
  for (const [child, detached] of running) {
    try {
      if (child.pid !== undefined) process.kill(detached ? -child.pid : child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  running.clear();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
