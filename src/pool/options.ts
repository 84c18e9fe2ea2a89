import type { TransferListItem } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { BackendKind, ResourceLimits } from '../backends/backend.js';
import { InvalidOptionError } from '../errors.js';
import { checkResourceLimits } from '../runtimes.js';
import type { Task } from '../task.js';
import { type Crossing, leavesProcess } from '../serialize.js';

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
  init?:
    | Task
    | {
        /** The task each new worker runs once. */
        task: Task;
        /** Its arguments. @default [] */
        args?: unknown[];
      };
  /** Heap and stack limits per worker, each in MB and > 0 (threads: Worker resourceLimits; processes: V8 flags). */
  resourceLimits?: ResourceLimits;
  /**
   * Most calls waiting for a worker (at least 1); one more throws
   * QueueFullError (nothing already accepted is lost).
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

/** Options of one call: `submit(task, args, options)`. A key not listed here throws InvalidOptionError. */
export interface CallOptions {
  /** Aborting it cancels the call (see `Future.cancel`). */
  signal?: AbortSignal;
  /**
   * Milliseconds the call may run, counted from when it starts on a worker.
   * Past it the future rejects with TaskTimeoutError and the worker is
   * stopped and replaced (inline: only the task's signal is aborted).
   */
  timeout?: number;
  /**
   * Objects to move, not copy, to a thread worker (ArrayBuffer, MessagePort).
   * Only `submit` takes it, and a process (or redis) pool refuses it: a child
   * process shares no memory to move anything into. Inline calls ignore it.
   */
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

const POOL_KEYS = [
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
] as const;
const POOL_KEY_SET = new Set<string>(POOL_KEYS);
/** Names other pools use for an option of ours, suggested when one is passed. */
const POOL_ALIASES = new Map<string, string>([
  ['workers', 'size'],
  ['maxWorkers', 'size'],
  ['max_workers', 'size'],
  ['processes', 'size'],
  ['threads', 'size'],
  ['maxThreads', 'size'],
  ['minThreads', 'minSize'],
  ['minWorkers', 'minSize'],
  ['maxtasksperchild', 'maxTasksPerWorker'],
  ['initializer', 'init'],
  ['concurrency', 'concurrencyPerWorker'],
  ['maxQueueSize', 'maxQueue'],
]);
const LIMIT_KEYS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;
const BACKENDS = ['thread', 'process', 'inline', 'auto', 'redis'];

export function resolvePoolOptions(options: PoolOptions | undefined): ResolvedOptions {
  if (options === undefined) options = {};
  if (!isRecord(options)) throw new InvalidOptionError('options', options, 'an object of pool options, e.g. { size: 4 }');
  for (const key of Object.keys(options)) {
    if (!POOL_KEY_SET.has(key))
      throw unknownOption(key, key, (options as Record<string, unknown>)[key], POOL_KEYS, 'new Pool', { alias: POOL_ALIASES.get(key) });
  }
  // `null` is a value like any other: only a missing (undefined) option takes its default.
  const backend = options.backend === undefined ? 'thread' : options.backend;
  if (!BACKENDS.includes(backend)) throw new InvalidOptionError('backend', backend, "'thread', 'process', 'inline', 'auto' or 'redis'");
  let redis: ResolvedOptions['redis'] = null;
  if (backend === 'redis') {
    if (typeof options.redis !== 'string' || !/^rediss?:\/\/[^\s]+$/.test(options.redis)) {
      throw new InvalidOptionError(
        'redis',
        options.redis,
        "a Redis URL such as 'redis://127.0.0.1:6379' or 'rediss://user:password@host:6380'",
      );
    }
    if (typeof options.queue !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(options.queue)) {
      throw new InvalidOptionError(
        'queue',
        options.queue,
        'a queue name of letters, digits, _ . - (the same name `tandem worker --queue` serves)',
      );
    }
    redis = { url: options.redis, queue: options.queue };
  } else if (options.redis !== undefined || options.queue !== undefined) {
    throw new InvalidOptionError(
      options.redis !== undefined ? 'redis' : 'queue',
      options.redis ?? options.queue,
      "used only with backend: 'redis'",
    );
  }
  const isolate = options.isolate === undefined ? false : options.isolate;
  if (typeof isolate !== 'boolean') throw new InvalidOptionError('isolate', isolate, 'true or false');
  if (isolate && backend !== 'auto') {
    throw new InvalidOptionError(
      'isolate',
      isolate,
      "used only with backend: 'auto' (for isolation of every task, use backend: 'process')",
    );
  }
  const size = integer('size', valueOr(options.size, availableParallelism()), 1, false);
  const minSize = integer('minSize', valueOr(options.minSize, 0), 0, false);
  if (minSize > size) throw new InvalidOptionError('minSize', minSize, `at most size (${size})`);
  const idleTimeout = number('idleTimeout', valueOr(options.idleTimeout, 30_000), 0);
  const concurrencyPerWorker = integer('concurrencyPerWorker', valueOr(options.concurrencyPerWorker, 1), 1, false);
  const maxTasksPerWorker = integer('maxTasksPerWorker', valueOr(options.maxTasksPerWorker, Infinity), 1, true);
  // 0 would refuse every call with QueueFullError: a pool that can take nothing is a mistake, not a setting.
  const maxQueue = integer('maxQueue', valueOr(options.maxQueue, Infinity), 1, true);
  const retries = integer('retries', valueOr(options.retries, 0), 0, false);
  let init: ResolvedOptions['init'] = null;
  if (options.init !== undefined) {
    if (typeof options.init === 'function') init = { task: options.init, args: [] };
    else if (isRecord(options.init) && typeof options.init.task === 'function') {
      const args = options.init.args === undefined ? [] : options.init.args;
      if (!Array.isArray(args)) throw new InvalidOptionError('init.args', args, 'an array of arguments');
      init = { task: options.init.task, args };
    } else throw new InvalidOptionError('init', options.init, 'a task, or { task, args }');
  }
  const limits = options.resourceLimits;
  if (limits !== undefined) {
    if (!isRecord(limits)) throw new InvalidOptionError('resourceLimits', limits, `an object with any of ${LIMIT_KEYS.join(', ')}`);
    for (const [key, value] of Object.entries(limits)) {
      if (!(LIMIT_KEYS as readonly string[]).includes(key))
        throw unknownOption(`resourceLimits.${key}`, key, value, LIMIT_KEYS, 'resourceLimits');
      // 0 MB is no heap or stack at all (and is silently ignored by the process backend): every limit is a size > 0.
      number(`resourceLimits.${key}`, value, 0, true);
    }
    checkResourceLimits(backend as BackendKind | 'auto', isolate);
  }
  const env = options.env;
  if (env !== undefined && (!isRecord(env) || Object.values(env).some((v) => typeof v !== 'string'))) {
    throw new InvalidOptionError('env', env, "an object of string values, e.g. { NODE_ENV: 'production' }");
  }
  const execArgv = options.execArgv;
  if (execArgv !== undefined && (!Array.isArray(execArgv) || execArgv.some((v) => typeof v !== 'string'))) {
    throw new InvalidOptionError('execArgv', execArgv, 'an array of strings');
  }
  return {
    backend,
    isolate,
    redis,
    size,
    minSize,
    idleTimeout,
    concurrencyPerWorker,
    maxTasksPerWorker,
    init,
    resourceLimits: limits,
    maxQueue,
    retries,
    env,
    execArgv,
  };
}

/** Which public call the options were given to: each takes its own set. */
export type CallKind = 'submit' | 'map' | 'imap';

const CALL_KEYS: Record<CallKind, readonly string[]> = {
  submit: ['signal', 'timeout', 'transfer', 'priority'],
  map: ['signal', 'timeout', 'priority', 'chunksize'],
  imap: ['signal', 'timeout', 'priority', 'chunksize', 'ordered'],
};
const CALL_KEY_SETS: Record<CallKind, ReadonlySet<string>> = {
  submit: new Set(CALL_KEYS.submit),
  map: new Set(CALL_KEYS.map),
  imap: new Set(CALL_KEYS.imap),
};
const CALL_NAMES: Record<CallKind, string> = { submit: 'submit', map: 'map and starmap', imap: 'imap' };
/** Options of another kind of call: what to do instead. */
const MISPLACED = new Map<string, string>([
  [
    'transfer',
    'left out of map, starmap and imap (their items are copied, in chunks); to move buffers, submit each call with { transfer }',
  ],
  ['chunksize', 'given to map, starmap or imap only: submit runs one call, there is nothing to chunk'],
  ['ordered', 'given to imap only: map and submit always give results in input order'],
]);
/** Keys that ask for another call rather than misspell an option. */
const CALL_HINTS = new Map<string, string>([
  ['star', 'To pass each item as the argument list of its call, use pool.starmap(task, items)'],
  ['args', 'Arguments go in the second parameter: submit(task, [arg1, arg2], options)'],
]);

/** Checks the options of one call: unknown keys and wrong values throw InvalidOptionError naming the option. */
export function checkCallOptions(options: CallOptions & MapOptions & ImapOptions, kind: CallKind): void {
  if (!isRecord(options))
    throw new InvalidOptionError('options', options, `an object of ${CALL_NAMES[kind]} options (${CALL_KEYS[kind].join(', ')})`);
  const known = CALL_KEY_SETS[kind];
  for (const key in options) {
    if (known.has(key)) continue;
    const value = (options as Record<string, unknown>)[key];
    const misplaced = MISPLACED.get(key);
    if (misplaced !== undefined) throw new InvalidOptionError(key, value, misplaced);
    throw unknownOption(key, key, value, CALL_KEYS[kind], CALL_NAMES[kind], { hint: CALL_HINTS.get(key) });
  }
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

/**
 * `transfer` moves objects to a thread; where the call goes cannot take them
 * (a child process or another host shares no memory with the caller), the
 * call fails at submit instead of copying what the caller meant to move.
 */
export function checkTransfer(options: CallOptions, boundary: Crossing, backend: string): void {
  if (options.transfer !== undefined && leavesProcess(boundary)) {
    throw new InvalidOptionError(
      'transfer',
      options.transfer,
      `left out with backend '${backend}': a child process or another host shares no memory with the caller, so nothing can be moved to ` +
        `it (without transfer, values are copied)`,
    );
  }
}

/** The options of map/imap that a single call takes too (auto's first, measured calls of a map). */
export function singleCallOptions(options: MapOptions): CallOptions {
  const out: CallOptions = {};
  if (options.signal !== undefined) out.signal = options.signal;
  if (options.timeout !== undefined) out.timeout = options.timeout;
  if (options.priority !== undefined) out.priority = options.priority;
  return out;
}

/** `label` is how the error names the key (`resourceLimits.stackSize`); `alias` is what another pool's name for it means here. */
function unknownOption(
  label: string,
  key: string,
  value: unknown,
  known: readonly string[],
  where: string,
  extra: { alias?: string | undefined; hint?: string | undefined } = {},
): InvalidOptionError {
  const suggestion = extra.alias ?? nearestName(key, known);
  return new InvalidOptionError(label, value, `The options of ${where} are: ${known.join(', ')}.`, {
    suggestion,
    hint: suggestion === undefined ? extra.hint : undefined,
  });
}

/**
 * The known name `key` most likely meant: the same name in another case
 * (`chunkSize`), one that starts with it (`concurrency…`), or one a couple of
 * typing mistakes away (`timout`, `priorty`); undefined when none is close.
 */
export function nearestName(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  for (const name of known) if (name.toLowerCase() === lower) return name;
  if (lower.length >= 4) for (const name of known) if (name.toLowerCase().startsWith(lower)) return name;
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(key.length / 3)));
  for (const name of known) {
    const distance = editDistance(lower, name.toLowerCase());
    if (distance <= bestDistance && (best === undefined || distance < bestDistance)) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/** Edits (insert, delete, replace, swap of neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) rows.push([i]);
  for (let j = 1; j <= b.length; j++) rows[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1);
      rows[i][j] = d;
    }
  }
  return rows[a.length][b.length];
}

// biome-ignore lint/suspicious/noExplicitAny: the checks that follow each call narrow the fields they read
function isRecord(value: unknown): value is Record<string, any> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function valueOr<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}

function integer(name: string, value: unknown, min: number, allowInfinity: boolean): number {
  if (typeof value === 'number' && ((allowInfinity && value === Infinity) || (Number.isInteger(value) && value >= min))) return value;
  throw new InvalidOptionError(name, value, `an integer >= ${min}${allowInfinity ? ' (or Infinity)' : ''}`);
}

function number(name: string, value: unknown, min: number, exclusive = false): number {
  if (typeof value === 'number' && !Number.isNaN(value) && (exclusive ? value > min : value >= min)) return value;
  throw new InvalidOptionError(name, value, `a number ${exclusive ? '>' : '>='} ${min}`);
}
