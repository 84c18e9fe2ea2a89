/**
 * tandem: multiprocessing and multithreading for TypeScript on Node.js,
 * behind one API.
 *
 * @example
 * ```ts
 * import { Pool, task } from 'tandem';
 * export const fib = task(import.meta.url, function fib(n: number): number {
 *   return n < 2 ? n : fib(n - 1) + fib(n - 2);
 * });
 * await using pool = new Pool({ backend: 'thread' });
 * console.log(await pool.map(fib, [30, 31, 32]));
 * ```
 */
// When this program is an app's bundle started as a worker, it serves before the app's own code runs.
import './worker/bundle-entry.js';
export { Pool } from './pool/pool.js';
export type { PoolOptions, CallOptions, MapOptions, ImapOptions } from './pool/options.js';
export type { PoolStats } from './pool/stats.js';
export type { Explanation, Placement } from './auto/profile.js';
export type { BackendKind, ResourceLimits } from './backends/backend.js';
export { task, type Task } from './task.js';
export { registerClass } from './classes.js';
export { runWorker, type RedisWorkerOptions, type RedisWorkerSummary } from './redis/worker.js';
export { currentSignal, isWorker } from './worker/current.js';
export { Future, asCompleted, wait, type FutureState, type FutureIterator, type AsCompletedOptions, type WaitOptions } from './future.js';
export {
  TandemError,
  TaskError,
  WorkerCrashedError,
  TaskTimeoutError,
  CancelledError,
  PoolClosedError,
  QueueFullError,
  SerializationError,
  TaskNotFoundError,
  InvalidOptionError,
  InvalidTaskError,
  WorkerInitError,
  WorkerEntryError,
  WaitTimeoutError,
  OutsideTaskError,
  RedisUnavailableError,
  UnguardedPoolError,
  MissingDependencyError,
  UnsupportedRuntimeError,
  SharedObjectUnavailableError,
  type CrashReason,
} from './errors.js';
export { encodeShared, registerShareable, type Shareable, type SharedState } from './shareable.js';
export * from './sync/index.js';
export * from './shared/index.js';
