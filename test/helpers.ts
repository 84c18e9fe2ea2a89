// Shared by the test files: the backends, pools and temp dirs that `cleanup()`
// removes whatever a test did, probes (latches) and polling with a deadline.
// Nothing here sleeps to synchronise: tests wait for a condition, with a
// generous deadline, never for a fixed time.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool, type PoolOptions } from 'tandem';
import { ABORTED, GATE, RAN, SLOTS, STARTED, bump, read } from './fixtures/probe.mjs';

/**
 * The runtime running this test file (CI runs the suite under Node, Bun and
 * Deno). Where one cannot host a behaviour, the test says so by name and
 * test/runtimes/differences.test.ts asserts what that runtime does instead.
 */
export const runtime: 'node' | 'bun' | 'deno' = process.versions.bun ? 'bun' : process.versions.deno ? 'deno' : 'node';

export type BackendName = 'thread' | 'process' | 'inline';
/** Every backend: for behaviour that is the same wherever a task runs. */
export const allBackends = ['thread', 'process', 'inline'] as const satisfies readonly BackendName[];
/** Backends with real workers (own thread or process), which can crash, be stopped and replaced. */
export const workerBackends = ['thread', 'process'] as const satisfies readonly BackendName[];

const pools = new Set<Pool>();
const dirs: string[] = [];
const probes: Probe[] = [];

/** A pool that `cleanup()` terminates, whatever the test did. */
export function makePool(options: PoolOptions): Pool {
  const pool = new Pool(options);
  pools.add(pool);
  return pool;
}

/** A fresh temporary folder, removed by `cleanup()`. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-test-'));
  dirs.push(dir);
  return dir;
}

/** Creates the file a `waitForGate` task waits for. */
export function openGate(path: string): void {
  writeFileSync(path, '');
}

/**
 * A latch and counters shared with tasks (see test/fixtures/probe.mjs): a
 * SharedArrayBuffer for thread and inline, a temp dir for process (which
 * shares no memory). Pass `probe.arg` to a task.
 */
export class Probe {
  readonly arg: SharedArrayBuffer | string;

  constructor(backend: BackendName) {
    this.arg = backend === 'process' ? tempDir() : new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT);
  }

  /** Lets gated tasks finish. */
  open(): void {
    if (read(this.arg, GATE) === 0) bump(this.arg, GATE);
  }
  started(): number {
    return read(this.arg, STARTED);
  }
  aborted(): number {
    return read(this.arg, ABORTED);
  }
  ran(): number {
    return read(this.arg, RAN);
  }
  /** Waits until `n` gated tasks have started. */
  untilStarted(n = 1): Promise<void> {
    return eventually(() => this.started() >= n, `${n} task(s) to start`);
  }
}

/** A probe whose gate `cleanup()` opens, so no gated task outlives its test. */
export function probe(backend: BackendName): Probe {
  const made = new Probe(backend);
  probes.push(made);
  return made;
}

/** Terminates every pool made by `makePool`, opens every gate, removes temp dirs. Use in `afterEach`. */
export async function cleanup(): Promise<void> {
  const closing = [...pools].map((pool) => pool.terminate());
  pools.clear();
  // Inline tasks run in this process and cannot be stopped: let them finish.
  for (const made of probes.splice(0)) made.open();
  await Promise.allSettled(closing);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Polls `condition` until it holds; fails after `deadlineMs` (a deadline, never a speed assertion). */
export async function eventually(condition: () => boolean, what: string, deadlineMs = 15_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function exists(path: string): boolean {
  return existsSync(path);
}

/** The rejection reason of a promise; fails the test if it fulfils. */
// biome-ignore lint/suspicious/noExplicitAny: tests read the error's fields (code, cause) without narrowing it first
export async function rejection(promise: PromiseLike<unknown>): Promise<any> {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    return error;
  }
  throw new Error(`expected a rejection, got ${safeJson(value)}`);
}

/** What `fn()` throws synchronously; fails the test if it returns. */
// biome-ignore lint/suspicious/noExplicitAny: tests read the error's fields (code, cause) without narrowing it first
export function thrown(fn: () => unknown): any {
  let value: unknown;
  try {
    value = fn();
  } catch (error) {
    return error;
  }
  if (value instanceof Promise) value.catch(() => {});
  throw new Error(`expected a synchronous throw, got ${value instanceof Promise ? 'a promise' : safeJson(value)}`);
}

/**
 * The error of a call that may fail either way: thrown synchronously or as a
 * rejection (for example imap's iterator: at the call or on the first next()).
 */
// biome-ignore lint/suspicious/noExplicitAny: tests read the error's fields (code, cause) without narrowing it first
export async function failure(fn: () => unknown): Promise<any> {
  try {
    const value = fn();
    if (value && typeof (value as AsyncIterator<unknown>).next === 'function' && !(value instanceof Promise)) {
      return await rejection((value as AsyncIterator<unknown>).next());
    }
    return await rejection(value as PromiseLike<unknown>);
  } catch (error) {
    return error;
  }
}

/** Whether a process is still running (a zombie, dead but not yet reaped, counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // Field 3 of /proc/<pid>/stat is the state; Z = zombie, X = dead.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return process.platform !== 'linux';
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** How a script run by {@link runScript} ended. */
export interface ScriptRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node script` in a process group of its own and waits for it to exit,
 * as a user's program would. A script that has not exited after `deadlineMs`
 * hangs: its whole group (every worker process it started) is killed and the
 * returned promise rejects saying so. A script that exits but leaves
 * processes of its group running is killed the same way and rejects too.
 */
export async function runScript(script: string, options: { env?: Record<string, string>; deadlineMs?: number } = {}): Promise<ScriptRun> {
  const deadlineMs = options.deadlineMs ?? 30_000;
  const child = spawn(process.execPath, [script], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // No NODE_OPTIONS from the test runner (vitest's loaders) leaks into the script.
    env: { ...process.env, NODE_OPTIONS: '', ...options.env },
  });
  const group = child.pid!;
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const killGroup = (): boolean => {
    try {
      process.kill(-group, 'SIGKILL');
      return true;
    } catch {
      return false; // no process of the group is left
    }
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | null>((resolve) => {
      child.once('close', (code, signal) => resolve({ code, signal }));
      timer = setTimeout(() => resolve(null), deadlineMs);
    });
    if (ended === null) {
      killGroup();
      throw new Error(
        `${script} did not exit within ${deadlineMs} ms: it hangs (killed; stdout: ${stdout.slice(-500)}; stderr: ${stderr.slice(-500)})`,
      );
    }
    // Processes of the group that outlived the script would be left behind.
    await eventually(() => !groupAlive(group), `the worker processes of ${script} to exit`, 10_000).catch((error: Error) => {
      killGroup();
      throw error;
    });
    return { ...ended, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

function groupAlive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

/** Rejects with a clear message when `promise` has not settled after `deadlineMs` (a hang), else settles as it does. */
export function settles<T>(promise: Promise<T>, what: string, deadlineMs = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${deadlineMs} ms: it hangs`)), deadlineMs);
  });
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer));
}
