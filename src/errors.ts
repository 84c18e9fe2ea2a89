/**
 * Every failure tandem reports is one of these classes. Each has a stable
 * `code` (test and branch on it, never on the message) and a message that says
 * what went wrong and what to do about it.
 *
 * @example
 * ```ts
 * try { await pool.run(parse, text); }
 * catch (err) {
 *   if (err instanceof TaskError) console.error(err.remoteName, err.stack);
 *   else if (err instanceof WorkerCrashedError) console.error('exit', err.exitCode);
 * }
 * ```
 */
export class TandemError extends Error {
  /** Stable identifier of the failure, e.g. `ERR_TANDEM_TASK`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** The class name, e.g. `TaskError`, as stack traces and `console.log` show it. */
  override get name(): string {
    return this.constructor.name;
  }
}

/** The error a task threw (or the rejection of the promise it returned), carried back from the worker. */
export class TaskError extends TandemError {
  /** `name` of the error as it was thrown inside the worker, e.g. `RangeError`. */
  readonly remoteName: string;
  /** Stack trace as it was inside the worker. */
  readonly remoteStack: string | undefined;
  /** The remote error's own enumerable properties (for example its `code`). */
  readonly properties: Record<string, unknown> = {};

  constructor(remote: { name: string; message: string; stack?: string | undefined }, options?: { cause?: unknown }) {
    super('ERR_TANDEM_TASK', `${remote.name}: ${remote.message}`, options);
    this.remoteName = remote.name;
    this.remoteStack = remote.stack;
    // The stack users see is the one where the error really happened.
    if (remote.stack) this.stack = remote.stack;
  }
}

/** Why a worker stopped: see {@link WorkerCrashedError.reason}. */
export type CrashReason = 'exit' | 'uncaught' | 'out-of-memory' | 'killed' | 'stopped';

/**
 * The worker running the task died (it exited, threw outside a task, ran out of
 * memory or was killed). Only the tasks it was running fail; the pool replaces it.
 */
export class WorkerCrashedError extends TandemError {
  /** The worker's exit code, or null when a signal or a thread termination stopped it. */
  readonly exitCode: number | null;
  /** The signal that killed a process worker (`'SIGKILL'`), or null. */
  readonly signal: string | null;
  /** Why it stopped: see {@link CrashReason}. */
  readonly reason: CrashReason;
  /** Id of the worker that died. */
  readonly workerId: number;
  /** Id of the call this error is about (see `Future.id`), when it is about one. */
  readonly taskId: number | undefined;
  /**
   * What the pool knows of the call when its worker died: `running` (it had
   * started and not finished; `retries` run it again), `lost` (it had
   * finished, but the worker died before sending its result), or `unknown` —
   * a child process was killed with no last words while it held the call among
   * short calls it runs back to back without reporting each: the call may have
   * finished, been running, or not have started. `lost` and `unknown` calls
   * are never run again (they may have run). Undefined when the error is not
   * about one call (a worker that could not start).
   */
  readonly callState: 'running' | 'lost' | 'unknown' | undefined;

  constructor(info: {
    workerId: number;
    exitCode: number | null;
    signal: string | null;
    reason: CrashReason;
    taskId?: number;
    callState?: 'running' | 'lost' | 'unknown';
    detail?: string;
    cause?: unknown;
    /** It died before serving: nothing was replaced, waiting calls were rejected. */
    starting?: boolean;
  }) {
    const how =
      info.signal !== null
        ? `was killed by ${info.signal}`
        : info.reason === 'out-of-memory'
          ? 'ran out of memory (raise resourceLimits or process execArgv --max-old-space-size)'
          : info.reason === 'uncaught'
            ? 'threw an uncaught error outside of a task'
            : info.reason === 'killed'
              ? 'was terminated'
              : `exited with code ${String(info.exitCode)}`;
    super(
      'ERR_TANDEM_WORKER_CRASHED',
      `worker ${info.workerId} ${how}${
        info.taskId === undefined
          ? ''
          : info.callState === 'unknown'
            ? ` while it held call ${info.taskId}, which may have finished (its result, not yet sent, was lost) or not have started; it ` +
              `is not run again`
            : info.callState === 'lost'
              ? ` after call ${info.taskId} had finished but before its result was sent; the result is lost, and the call is not run again`
              : ` while running call ${info.taskId}`
      }${info.detail ? `: ${info.detail}` : ''}; ${
        info.starting
          ? 'no worker could start, so the calls waiting for one were rejected; fix the cause (the pool tries again on the next call)'
          : "the pool replaced it. Set the pool option 'retries' to run such calls again"
      }.`,
      { cause: info.cause },
    );
    this.exitCode = info.exitCode;
    this.signal = info.signal;
    this.reason = info.reason;
    this.workerId = info.workerId;
    this.taskId = info.taskId;
    this.callState = info.callState;
  }
}

/** The task ran longer than its `timeout`; the worker running it was stopped and replaced. */
export class TaskTimeoutError extends TandemError {
  /** The call's `timeout`, in milliseconds. */
  readonly timeout: number;
  constructor(timeout: number, taskId: number) {
    super(
      'ERR_TANDEM_TASK_TIMEOUT',
      `task ${taskId} did not finish within its timeout of ${timeout} ms; the worker running it was stopped (synchronous JavaScript ` +
        `cannot be interrupted any other way) and replaced.`,
    );
    this.timeout = timeout;
  }
}

/** The future was cancelled (by `future.cancel()` or the `signal` passed with the call). */
export class CancelledError extends TandemError {
  constructor(detail = 'the task was cancelled before it finished', options?: { cause?: unknown }) {
    super('ERR_TANDEM_CANCELLED', detail, options);
  }
}

/** A call was made on a pool after `close()` or `terminate()`, or the pool was terminated with the task pending. */
export class PoolClosedError extends TandemError {
  constructor(detail = 'the pool is closed; create a new Pool to run more tasks') {
    super('ERR_TANDEM_POOL_CLOSED', detail);
  }
}

/** More tasks were queued than the pool option `maxQueue` allows. Nothing already accepted is lost. */
export class QueueFullError extends TandemError {
  /** The pool's `maxQueue` option. */
  readonly maxQueue: number;
  constructor(maxQueue: number) {
    super(
      'ERR_TANDEM_QUEUE_FULL',
      `the pool's queue already holds maxQueue = ${maxQueue} tasks; wait for some to finish (await them) or raise maxQueue.`,
    );
    this.maxQueue = maxQueue;
  }
}

/**
 * An argument or a result cannot be sent between threads or processes. For an
 * argument it is raised at submit, before anything runs; a result that cannot
 * be sent back fails its call (`argumentIndex` -1, `path` starting with `result`).
 */
export class SerializationError extends TandemError {
  /** Index of the offending argument in the call's argument list (-1 for a result). */
  readonly argumentIndex: number;
  /** Where inside that argument, e.g. `args[0].user.onChange`, or inside the result, e.g. `result.point`. */
  readonly path: string;
  /** `options.result`: the value is a task's result, on its way back to the caller. */
  constructor(argumentIndex: number, path: string, why: string, options?: { cause?: unknown; result?: boolean }) {
    super(
      'ERR_TANDEM_SERIALIZATION',
      `${path} cannot be ${options?.result ? 'returned from a task' : 'sent to a worker'}: ${why}`,
      options,
    );
    this.argumentIndex = argumentIndex;
    this.path = path;
  }
}

/** The worker could not find the task: the module does not export it, or could not be loaded. */
export class TaskNotFoundError extends TandemError {
  /** URL of the module the worker looked in. */
  readonly module: string;
  /** The export it looked for. */
  readonly exportName: string;
  constructor(module: string, exportName: string, detail: string, options?: { cause?: unknown }) {
    super('ERR_TANDEM_TASK_NOT_FOUND', `task '${exportName}' not found in ${module}: ${detail}`, options);
    this.module = module;
    this.exportName = exportName;
  }
}

/**
 * A pool option or call option has a wrong value, or is not an option at all
 * (a misspelt key is an error, not a silently ignored one).
 */
export class InvalidOptionError extends TandemError {
  /** The option, as its key is written (`'resourceLimits.stackSizeMb'` for a nested one). */
  readonly option: string;
  /** For a key that is not an option: the option it most likely meant (`'timeout'` for `'timout'`), when one is close. */
  readonly suggestion: string | undefined;
  /**
   * `allowed` completes "option 'x' must be …". With `unknown`, the key is not
   * an option: `allowed` then lists the options there are.
   */
  constructor(option: string, value: unknown, allowed: string, unknown?: { suggestion: string | undefined; hint?: string | undefined }) {
    super(
      'ERR_TANDEM_INVALID_OPTION',
      unknown
        ? `unknown option '${option}' (set to ${describeValue(value)})${
            unknown.suggestion === undefined ? '' : `; did you mean '${unknown.suggestion}'?`
          }${unknown.hint ? ` ${unknown.hint}.` : ''} ${allowed}`
        : `option '${option}' must be ${allowed}; got ${describeValue(value)}`,
    );
    this.option = option;
    this.suggestion = unknown?.suggestion;
  }
}

/** Something that is not a task (nor a self-contained function) was passed where a task was expected. */
export class InvalidTaskError extends TandemError {
  constructor(detail: string) {
    super('ERR_TANDEM_INVALID_TASK', detail);
  }
}

/** The pool's `init` task failed in a new worker, so the worker could not serve. */
export class WorkerInitError extends TandemError {
  constructor(workerId: number, cause: unknown) {
    super(
      'ERR_TANDEM_WORKER_INIT',
      `worker ${workerId} could not start: its init task failed (${cause instanceof Error ? cause.message : String(cause)}). Fix the ` +
        `init task; tasks waiting for a worker were rejected.`,
      { cause },
    );
  }
}

/**
 * A worker was importing a task module to find a task in it, and the module
 * started a Pool at its top level: every worker that loads it would start a
 * pool of its own, whose workers would do the same. The caller's call fails
 * with this error. Put the module's top-level work behind `if (!isWorker())`;
 * a task may still start a pool inside its body.
 */
export class UnguardedPoolError extends TandemError {
  /** The task module the worker was loading (the pool was started by it or by a module it imports). */
  readonly module: string;
  constructor(module: string) {
    super(
      'ERR_TANDEM_UNGUARDED_POOL',
      `${module} started a Pool while a worker was loading it to find a task (or a module it imports did): workers import task modules ` +
        `again, so every worker would start a pool of its own. Put the module's top-level work behind \`if (!isWorker()) { … }\` ` +
        `(isWorker comes from 'tandem'); a task may still start a pool inside its body.`,
    );
    this.module = module;
  }
}

/**
 * A thread or process worker cannot be started here: tandem cannot tell which
 * file to start it from, or this is a worker started from an app's bundle,
 * which starts no workers of its own (the bundle's main code, left out of the
 * `isWorker()` guard, would otherwise start them without end). A pool reports
 * it as the cause of the WorkerCrashedError of the calls that waited for the
 * worker.
 */
export class WorkerEntryError extends TandemError {
  constructor(detail: string) {
    super('ERR_TANDEM_WORKER_ENTRY', detail);
  }
}

/** Short, safe rendering of a value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
  return `an object (${proto?.constructor?.name ?? 'null prototype'})`;
}

/** `asCompleted` ran out of time with futures still pending. */
export class WaitTimeoutError extends TandemError {
  /** Futures still pending when the time ran out. */
  readonly pending: number;
  constructor(timeout: number, pending: number) {
    super('ERR_TANDEM_WAIT_TIMEOUT', `${pending} future(s) were still pending after ${timeout} ms; cancel them or wait longer`);
    this.pending = pending;
  }
}

/** `currentSignal()` (or another in-task helper) was called where no task is starting. */
export class OutsideTaskError extends TandemError {
  constructor(what: string) {
    super(
      'ERR_TANDEM_OUTSIDE_TASK',
      `${what} was called outside the synchronous start of a task; call it at the top of the task, before its first await, and keep the ` +
        `result in a variable`,
    );
  }
}

/** One link of a deadlock cycle: a thread, the lock it holds, and the lock it waits for (held by the next thread). */
export interface DeadlockLink {
  /**
   * `'main'`, `'worker <threadId>'` (the worker thread's `threadId` from node:worker_threads), or
   * `'process <pid>'` (a process worker, through the thread that acts for it).
   */
  thread: string;
  /** Name of the lock this thread holds, which the previous thread of the cycle waits for. */
  holds: string;
  /** Name of the lock this thread waits for, which the next thread of the cycle holds. */
  waitsFor: string;
  /**
   * The task whose wait this is: its function's name and the call's id (as `WorkerCrashedError.taskId`
   * counts calls). Present when a worker waits for a task's call: a process worker's waits, and a
   * thread worker's that started in the call's synchronous part (every Sync form; not an async
   * acquire after the call's first `await`). Absent for the main thread.
   */
  task?: {
    /** The task function's name. */
    name: string;
    /**
     * The call's id (the future's `id`). Absent for a task on a `tandem worker` host: its calls are
     * numbered by the host's own pool, not by the caller's.
     */
    callId?: number;
  };
}

/**
 * Waiting for a lock would close a cycle of threads each waiting for a lock the
 * next one holds, so the wait could never end. It failed at once instead; the
 * locks this thread holds are still held (release them, e.g. by leaving the
 * `using` scope, so the other threads can go on).
 */
export class DeadlockError extends TandemError {
  /** The threads and locks of the cycle, starting with the thread that got this error. */
  readonly cycle: DeadlockLink[];
  constructor(cycle: DeadlockLink[]) {
    const links = cycle
      .map((link) => {
        const call = link.task?.callId === undefined ? '' : `, call ${link.task.callId}`;
        const task = link.task ? ` (task '${link.task.name}'${call})` : '';
        return `${link.thread}${task} holds '${link.holds}', waits for '${link.waitsFor}'`;
      })
      .join('; ');
    super(
      'ERR_TANDEM_DEADLOCK',
      `deadlock: ${links}. This wait could never end, so it failed instead. Take locks in one fixed order everywhere (or acquire with a ` +
        `timeout), and release what this thread holds before trying again.`,
    );
    this.cycle = cycle;
  }
}

/** A blocking wait (`acquireSync`, `waitSync`, `getSync`, ...) was called on the main thread, where it would freeze the event loop. */
export class MainThreadBlockingError extends TandemError {
  constructor(what: string) {
    super(
      'ERR_TANDEM_MAIN_THREAD_BLOCKING',
      `${what} blocks its thread, which on the main thread would freeze the event loop; use the async form there (e.g. \`await ` +
        `lock.acquire()\`), and the Sync form only inside workers`,
    );
  }
}

/** A lock was released (or a Condition used) by a thread that does not hold it, or a Lock was released while unlocked. */
export class LockNotHeldError extends TandemError {
  constructor(detail: string) {
    super('ERR_TANDEM_LOCK_NOT_HELD', `${detail}; acquire it first, and release it only from the thread that acquired it`);
  }
}

/** A BoundedSemaphore was released more times than it was acquired. */
export class SemaphoreOverReleaseError extends TandemError {
  /** The semaphore's initial value, which its permits may not exceed. */
  readonly bound: number;
  constructor(bound: number) {
    super(
      'ERR_TANDEM_SEMAPHORE_OVER_RELEASE',
      `the BoundedSemaphore was released more times than it was acquired (its bound is ${bound}); release only permits you acquired`,
    );
    this.bound = bound;
  }
}

/** The Barrier was broken (by abort(), reset(), a timed-out wait or a failing action) while or before this thread waited. */
export class BrokenBarrierError extends TandemError {
  constructor(detail = 'the barrier is broken') {
    super('ERR_TANDEM_BROKEN_BARRIER', `${detail}; call reset() on it to use it again`);
  }
}

/** A wait that cannot report a timeout by its return value (a guard, withLock, a SharedQueue put/get) ran out of time. */
export class SyncTimeoutError extends TandemError {
  /** The wait's `timeout`, in milliseconds. */
  readonly timeout: number;
  constructor(what: string, timeout: number) {
    super(
      'ERR_TANDEM_SYNC_TIMEOUT',
      `${what} timed out after ${timeout} ms; retry, give it a longer timeout, or check which thread holds it`,
    );
    this.timeout = timeout;
  }
}

/** A value was put into, or taken from, a SharedQueue that was closed (and, for a get, is empty). */
export class QueueClosedError extends TandemError {
  constructor(detail: string) {
    super(
      'ERR_TANDEM_QUEUE_CLOSED',
      `${detail}; the queue was closed by close(), so no more values go in and, once drained, none come out`,
    );
  }
}

/**
 * The command line was used wrongly: a bad option value, a task reference
 * that does not name a task (`./tasks.mjs#name`), or an input file that cannot
 * be read. The message says what to change; the command exits with code 2.
 */
export class CliUsageError extends TandemError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TANDEM_CLI_USAGE', message, options);
  }
}

/** An input line given to `tandem run` is not valid JSON; the message names the line. */
export class InvalidInputError extends TandemError {
  /** 1-based line number of the input. */
  readonly line: number;
  constructor(line: number, detail: string) {
    super('ERR_TANDEM_INVALID_INPUT', `line ${line} is not valid JSON (${detail}); write one JSON value per line, e.g. {"n": 3}`);
    this.line = line;
  }
}

/**
 * The Redis server behind `backend: 'redis'` (or `tandem worker --redis`)
 * could not be reached or refused the connection. Nothing was queued.
 */
export class RedisUnavailableError extends TandemError {
  /** The Redis URL, with any password replaced by `***`. */
  readonly url: string;
  constructor(url: string, detail: string, options?: { cause?: unknown }) {
    super(
      'ERR_TANDEM_REDIS_UNAVAILABLE',
      `cannot reach Redis at ${url} (${detail}); check that redis-server runs there, that the host and port are right, and for rediss:// ` +
        `that TLS and the password match`,
      options,
    );
    this.url = url;
  }
}

/**
 * `backend: 'redis'` or `tandem worker` was used where BullMQ and its Redis
 * client (ioredis) are not installed. tandem lists them as optional peer
 * dependencies, so that a project using only the local backends installs
 * without them; the message gives the command that adds them.
 *
 * @example
 * ```ts
 * try { new Pool({ backend: 'redis', redis: 'redis://127.0.0.1:6379', queue: 'q' }); }
 * catch (err) {
 *   if (err instanceof MissingDependencyError) console.error(err.installCommand); // npm install bullmq@6 ioredis@6
 * }
 * ```
 */
export class MissingDependencyError extends TandemError {
  /** The packages that could not be found, e.g. `['bullmq', 'ioredis']`. */
  readonly packages: readonly string[];
  /** The npm command that installs them into the project that depends on tandem. */
  readonly installCommand: string;
  constructor(feature: string, packages: readonly { name: string; version: string }[]) {
    const installCommand = `npm install ${packages.map((p) => `${p.name}@${p.version}`).join(' ')}`;
    super(
      'ERR_TANDEM_MISSING_DEPENDENCY',
      `${feature} needs ${packages.map((p) => p.name).join(' and ')}, which ${packages.length === 1 ? 'is' : 'are'} not installed ` +
        `(tandem leaves them out so that the local backends install lean); add ${packages.length === 1 ? 'it' : 'them'} to the project ` +
        `that uses tandem: ${installCommand} (or the same with pnpm add, yarn add or bun add)`,
    );
    this.packages = packages.map((p) => p.name);
    this.installCommand = installCommand;
  }
}

/**
 * A shared object (Lock, SharedValue, SharedQueue, ...) passed to a process
 * worker cannot do what was asked there: its memory stays in the caller,
 * which acts on it for the child (see docs/sharing-memory.md). Raised for a
 * SharedArray's `view` in a process (use its atomic methods or `toArray()`),
 * for any use once the link to the caller is lost (the caller exited, or the
 * worker is being stopped), and at submit when tandem runs from an app's
 * bundle, where the caller cannot start the thread that serves the child.
 *
 * @example
 * ```ts
 * // in a task on a process pool
 * try { total = array.view.reduce((a, b) => a + b); }
 * catch (err) { if (err instanceof SharedObjectUnavailableError) total = array.toArray().reduce((a, b) => a + b); }
 * ```
 */
export class SharedObjectUnavailableError extends TandemError {
  constructor(what: string, instead: string) {
    super('ERR_TANDEM_SHARED_OBJECT_UNAVAILABLE', `${what}; ${instead}`);
  }
}

/**
 * The JavaScript runtime running tandem (Bun or Deno) cannot do what an
 * option asks, so tandem refuses it where it is asked for instead of letting
 * it be silently ignored. The message names the runtime, what it lacks, and
 * what to do instead; docs/runtimes.md lists every such case.
 */
export class UnsupportedRuntimeError extends TandemError {
  /** The runtime and its version, e.g. `Bun 1.4.5`. */
  readonly runtime: string;
  /** What was asked for, e.g. `resourceLimits on worker threads`. */
  readonly feature: string;
  constructor(runtime: string, feature: string, why: string, instead: string) {
    super('ERR_TANDEM_UNSUPPORTED_RUNTIME', `${feature} cannot work on ${runtime}: ${why}. ${instead}.`);
    this.runtime = runtime;
    this.feature = feature;
  }
}
