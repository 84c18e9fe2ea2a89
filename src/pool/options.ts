import type { TransferListItem } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { BackendKind, ResourceLimits } from '../backends/backend.js';
import { InvalidOptionError } from '../errors.js';
import type { Task } from '../task.js';

/** Options of `new Pool(options)`. Every one is checked; a wrong one throws InvalidOptionError naming it. */
export interface PoolOptions {
  /**
   * Where tasks run: `thread` (worker_threads: shared memory, cheap messages),
   * `process` (child processes: own memory, isolation), `inline` (this
   * event loop, with bounded concurrency: for I/O-bound tasks), or `auto`:
   * each task's first calls are measured, then CPU-bound tasks go to threads
   * (processes with `isolate`) and I/O-bound tasks to this event loop, with
   * `size × concurrencyPerWorker × 16` calls at once. See `pool.explain(task)`.
   * @default 'thread'
   * @example new Pool({ backend: 'process' })
   */
  backend?: BackendKind | 'auto';
  /**
   * With `backend: 'redis'`: the Redis server that carries the queue,
   * `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS.
   * @example new Pool({ backend: 'redis', redis: 'redis://127.0.0.1:6379', queue: 'images' })
   */
  redis?: string;
  /** With `backend: 'redis'`: the queue name that `tandem worker --queue NAME` serves. */
  queue?: string;
  /**
   * With `backend: 'auto'`: run every task in child processes (I/O-bound ones
   * too), never in the caller's process or its threads.
   * @default false
   */
  isolate?: boolean;
  /**
   * Most workers alive at once (for `inline`: how many calls run at once,
   * times `concurrencyPerWorker`).
   * @default os.availableParallelism()
   * @example new Pool({ size: 4 })
   */
  size?: number;
  /**
   * Workers kept alive when idle. Workers start on demand up to `size`; idle
   * ones above `minSize` stop after `idleTimeout`.
   * @default 0
   */
  minSize?: number;
  /**
   * Milliseconds an idle worker above `minSize` lives before it stops.
   * `Infinity` keeps them. Idle workers never keep the process alive.
   * @default 30_000
   * @example new Pool({ minSize: 1, idleTimeout: 5_000 })
   */
  idleTimeout?: number;
  /**
   * Calls one worker runs at the same time. Above 1 it helps async tasks
   * that wait on I/O; a synchronous task still runs one at a time.
   * @default 1
   */
  concurrencyPerWorker?: number;
  /**
   * Calls a worker runs before it is replaced by a fresh one (to contain
   * leaks). `Infinity` never recycles.
   * @default Infinity
   */
  maxTasksPerWorker?: number;
  /**
   * A task run once in every new worker before it takes calls (open a
   * connection, warm a cache). If it throws, the worker does not serve and
   * calls waiting for a worker reject with WorkerInitError.
   * @example new Pool({ init: { task: connect, args: ['postgres://…'] } })
   */
  init?: Task | { task: Task; args?: unknown[] };
  /** Heap limits per worker (threads: Worker resourceLimits; processes: V8 flags). */
  resourceLimits?: ResourceLimits;
  /**
   * Most calls waiting for a worker; one more throws QueueFullError (nothing
   * already accepted is lost).
   * @default Infinity
   */
  maxQueue?: number;
  /**
   * How many times a failed call (task error, worker crash or timeout) runs
   * again before its future rejects. Cancellation is never retried.
   * @default 0
   */
  retries?: number;
  /** Extra environment variables for the workers, over the caller's own. */
  env?: Record<string, string>;
  /**
   * Node options for the workers. Unset, workers inherit the caller's (so a
   * loader such as tsx carries over).
   * @example new Pool({ backend: 'process', execArgv: ['--max-old-space-size=512'] })
   */
  execArgv?: string[];
}

/** Options of one call: `submit(task, args, options)`. */
export interface CallOptions {
  /** Aborting it cancels the call (see `Future.cancel`). */
  signal?: AbortSignal;
  /**
   * Milliseconds the call may run, counted from when it starts on a worker.
   * Past it the future rejects with TaskTimeoutError and the worker is
   * stopped and replaced (inline: only the task's signal is aborted).
   */
  timeout?: number;
  /** Objects to move, not copy, to a thread worker (ArrayBuffer, MessagePort). */
  transfer?: readonly TransferListItem[];
  /**
   * Higher runs first among queued calls; equal priorities keep their order.
   * @default 0
   */
  priority?: number;
}

/** Options of `map` and `starmap`. */
export interface MapOptions extends Omit<CallOptions, 'transfer'> {
  /**
   * Items per message to a worker. `'auto'` sizes chunks from the input
   * length and the pool size, so per-item overhead stays far below one
   * message per item.
   * @default 'auto'
   */
  chunksize?: number | 'auto';
}

/** Options of `imap`. */
export interface ImapOptions extends MapOptions {
  /**
   * `true` yields results in input order; `false` yields each as soon as it is
   * ready.
   * @default true
   */
  ordered?: boolean;
}

export interface ResolvedOptions {
  backend: BackendKind | 'auto';
  isolate: boolean;
  redis: { url: string; queue: string } | null;
  size: number;
  minSize: number;
  idleTimeout: number;
  concurrencyPerWorker: number;
  maxTasksPerWorker: number;
  init: { task: Task; args: unknown[] } | null;
  resourceLimits: ResourceLimits | undefined;
  maxQueue: number;
  retries: number;
  env: Record<string, string> | undefined;
  execArgv: string[] | undefined;
}

const POOL_KEYS = new Set([
  'backend',
  'isolate',
  'redis',
  'queue',
  'size',
  'minSize',
  'idleTimeout',
  'concurrencyPerWorker',
  'maxTasksPerWorker',
  'init',
  'resourceLimits',
  'maxQueue',
  'retries',
  'env',
  'execArgv',
]);
const BACKENDS = ['thread', 'process', 'inline', 'auto', 'redis'];

export function resolvePoolOptions(options: PoolOptions | undefined): ResolvedOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
  for (const key of Object.keys(options)) {
    if (!POOL_KEYS.has(key)) throw new InvalidOptionError(key, (options as Record<string, unknown>)[key], `one of the known options (${[...POOL_KEYS].join(', ')})`);
  }
  const backend = options.backend ?? 'thread';
  if (!BACKENDS.includes(backend)) throw new InvalidOptionError('backend', backend, "'thread', 'process', 'inline', 'auto' or 'redis'");
  let redis: ResolvedOptions['redis'] = null;
  if (backend === 'redis') {
    if (typeof options.redis !== 'string' || !/^rediss?:\/\/[^\s]+$/.test(options.redis)) {
      throw new InvalidOptionError('redis', options.redis, "a Redis URL such as 'redis://127.0.0.1:6379' or 'rediss://user:password@host:6380'");
    }
    if (typeof options.queue !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(options.queue)) {
      throw new InvalidOptionError('queue', options.queue, 'a queue name of letters, digits, _ . - (the same name `tandem worker --queue` serves)');
    }
    redis = { url: options.redis, queue: options.queue };
  } else if (options.redis !== undefined || options.queue !== undefined) {
    throw new InvalidOptionError(options.redis !== undefined ? 'redis' : 'queue', options.redis ?? options.queue, "used only with backend: 'redis'");
  }
  const isolate = options.isolate ?? false;
  if (typeof isolate !== 'boolean') throw new InvalidOptionError('isolate', isolate, 'true or false');
  if (isolate && backend !== 'auto') {
    throw new InvalidOptionError('isolate', isolate, "used only with backend: 'auto' (for isolation of every task, use backend: 'process')");
  }
  const size = integer('size', options.size ?? availableParallelism(), 1, false);
  const minSize = integer('minSize', options.minSize ?? 0, 0, false);
  if (minSize > size) throw new InvalidOptionError('minSize', minSize, `at most size (${size})`);
  const idleTimeout = number('idleTimeout', options.idleTimeout ?? 30_000, 0);
  const concurrencyPerWorker = integer('concurrencyPerWorker', options.concurrencyPerWorker ?? 1, 1, false);
  const maxTasksPerWorker = integer('maxTasksPerWorker', options.maxTasksPerWorker ?? Infinity, 1, true);
  const maxQueue = integer('maxQueue', options.maxQueue ?? Infinity, 0, true);
  const retries = integer('retries', options.retries ?? 0, 0, false);
  let init: ResolvedOptions['init'] = null;
  if (options.init !== undefined) {
    if (typeof options.init === 'function') init = { task: options.init, args: [] };
    else if (options.init !== null && typeof options.init === 'object' && typeof options.init.task === 'function') {
      const args = options.init.args ?? [];
      if (!Array.isArray(args)) throw new InvalidOptionError('init.args', args, 'an array of arguments');
      init = { task: options.init.task, args };
    } else throw new InvalidOptionError('init', options.init, 'a task, or { task, args }');
  }
  const limits = options.resourceLimits;
  if (limits !== undefined) {
    if (limits === null || typeof limits !== 'object') throw new InvalidOptionError('resourceLimits', limits, 'an object');
    for (const [key, value] of Object.entries(limits)) {
      if (!['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'].includes(key)) {
        throw new InvalidOptionError(`resourceLimits.${key}`, value, 'one of maxOldGenerationSizeMb, maxYoungGenerationSizeMb, codeRangeSizeMb, stackSizeMb');
      }
      number(`resourceLimits.${key}`, value, 0);
    }
  }
  const env = options.env;
  if (env !== undefined && (env === null || typeof env !== 'object' || Object.values(env).some((v) => typeof v !== 'string'))) {
    throw new InvalidOptionError('env', env, 'an object of string values');
  }
  const execArgv = options.execArgv;
  if (execArgv !== undefined && (!Array.isArray(execArgv) || execArgv.some((v) => typeof v !== 'string'))) {
    throw new InvalidOptionError('execArgv', execArgv, 'an array of strings');
  }
  return { backend, isolate, redis, size, minSize, idleTimeout, concurrencyPerWorker, maxTasksPerWorker, init, resourceLimits: limits, maxQueue, retries, env, execArgv };
}

/** Checks per-call options; returns the timeout (or 0) and priority. */
export function checkCallOptions(options: CallOptions & MapOptions & ImapOptions): void {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
  if (options.timeout !== undefined) number('timeout', options.timeout, 0, true);
  if (options.priority !== undefined && !Number.isFinite(options.priority)) {
    throw new InvalidOptionError('priority', options.priority, 'a finite number (higher runs first)');
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new InvalidOptionError('signal', options.signal, 'an AbortSignal');
  }
  if (options.transfer !== undefined && !Array.isArray(options.transfer)) {
    throw new InvalidOptionError('transfer', options.transfer, 'an array of transferable objects');
  }
  if (options.chunksize !== undefined && options.chunksize !== 'auto') integer('chunksize', options.chunksize, 1, false);
  if (options.ordered !== undefined && typeof options.ordered !== 'boolean') {
    throw new InvalidOptionError('ordered', options.ordered, 'true or false');
  }
}

function integer(name: string, value: unknown, min: number, allowInfinity: boolean): number {
  if (typeof value === 'number' && ((allowInfinity && value === Infinity) || (Number.isInteger(value) && value >= min))) return value;
  throw new InvalidOptionError(name, value, `an integer >= ${min}${allowInfinity ? ' (or Infinity)' : ''}`);
}

function number(name: string, value: unknown, min: number, positive = false): number {
  if (typeof value === 'number' && !Number.isNaN(value) && value >= min && (!positive || value > 0)) return value;
  throw new InvalidOptionError(name, value, `a number ${positive ? '>' : '>='} ${min}`);
}
