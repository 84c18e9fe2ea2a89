// What the pool-core tests watch besides results: how often each future
// settles, how many threads this process has, and deadlines on awaits (so a
// hang fails its test with a message instead of the runner's timeout).
import { readdirSync, readFileSync } from 'node:fs';
import { type Future, type Pool, WorkerCrashedError } from 'tandem';
import { add } from '../fixtures/tasks.mjs';
import { runtime } from '../helpers.js';

/** `promise`'s outcome, or a failure naming `what` once `ms` have passed: a deadline, never a speed assertion. */
export function within<T>(promise: PromiseLike<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms for: ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), deadline]).finally(() => clearTimeout(timer));
}

/**
 * Worker threads of this process now (Linux): one that has exited no longer
 * counts. Bun and Deno name their worker threads, and start helper threads of
 * their own on first use that stay (Bun: JSCWarmUp, HeapHelper; Deno: a
 * 'deno' thread), so there only threads with a worker's name are counted;
 * Node names none of its threads, so there every thread counts.
 */
export function threadCount(): number {
  const tasks = readdirSync('/proc/self/task');
  const workerName = runtime === 'bun' ? /^Worker$/ : runtime === 'deno' ? /^worker-\d+$/ : null;
  if (workerName === null) return tasks.length;
  let workers = 0;
  for (const task of tasks) {
    try {
      if (workerName.test(readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim())) workers++;
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return workers;
}

/** Lets a pool learn that calls are short, as it does after serving a few: it may then send calls ahead. */
export async function warmUp(pool: Pool, calls: number): Promise<void> {
  await Promise.all(Array.from({ length: calls }, (_, i) => pool.run(add, i, 1)));
}

/** Like warmUp, one call at a time: the pool learns calls are short while it needs only one worker. */
export async function warmUpOneByOne(pool: Pool, calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) await pool.run(add, i, 1);
}

/** The outcome of a settled future, as the tests compare it. */
// biome-ignore lint/suspicious/noExplicitAny: tests read the error's fields (code, cause) without narrowing it first
export type Outcome = { status: 'fulfilled'; value: unknown } | { status: 'rejected'; error: any };

/** Counts the settlements of futures: every accepted call must settle exactly once. */
export class SettleLog {
  readonly #counts = new Map<Future<unknown>, number>();
  readonly #outcomes = new Map<Future<unknown>, Outcome>();

  watch<T>(future: Future<T>): Future<T> {
    const watched = future as Future<unknown>;
    this.#counts.set(watched, 0);
    watched.addDoneCallback(() => this.#counts.set(watched, (this.#counts.get(watched) ?? 0) + 1));
    watched.then(
      (value) => this.#outcomes.set(watched, { status: 'fulfilled', value }),
      (error: unknown) => this.#outcomes.set(watched, { status: 'rejected', error }),
    );
    return future;
  }

  /** How many times the future's done callbacks ran. */
  settlements(future: Future<unknown>): number {
    return this.#counts.get(future) ?? 0;
  }

  outcome(future: Future<unknown>): Outcome | undefined {
    return this.#outcomes.get(future);
  }

  /** Futures that settled other than exactly once so far, counting only settled ones. */
  settledTwice(): Future<unknown>[] {
    return [...this.#counts].filter(([, n]) => n > 1).map(([future]) => future);
  }

  /** Futures not settled yet. */
  unsettled(): Future<unknown>[] {
    return [...this.#counts].filter(([future]) => !future.done()).map(([future]) => future);
  }
}

/** Pids of this process's live child processes (Linux; a zombie, dead but not reaped, is not live). */
export function childPids(): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the command name: state, ppid, ...
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(ppid) === process.pid && state !== 'Z' && state !== 'X') children.push(Number(entry));
  }
  return children;
}

/** The pool's counters, checked to add up: every accepted call is in exactly one of them. */
export function accounted(pool: Pool): number {
  const { queued, running, completed, failed, cancelled } = pool.stats();
  for (const [name, value] of Object.entries({ queued, running, completed, failed, cancelled })) {
    if (!Number.isInteger(value) || value < 0) throw new Error(`stats().${name} is ${value}`);
  }
  return queued + running + completed + failed + cancelled;
}

/**
 * How many times a call that ended with WorkerCrashedError may have run, by the
 * pool's crash rules (README "When things go wrong", src/pool/failure.ts), or
 * null for any other outcome. An attempt whose worker died while it was
 * `running` ran once and runs again within the retries, so a call that ends
 * `running` ran 1 + retries times. An attempt whose result was `lost` had run
 * once; one whose fate was `unknown` (a child process killed without last
 * words while it held short calls) ran at most once; neither runs again.
 */
export function allowedRuns(outcome: Outcome, retries: number): { min: number; max: number } | null {
  if (outcome.status !== 'rejected' || !(outcome.error instanceof WorkerCrashedError)) return null;
  const state = outcome.error.callState;
  if (state === 'running') return { min: 1 + retries, max: 1 + retries };
  return { min: state === 'lost' ? 1 : 0, max: 1 + retries };
}
