/**
 * Python's `threading` toolkit on SharedArrayBuffer + Atomics, usable on the
 * main thread (async forms) and inside thread workers (async and Sync forms),
 * with deadlock detection for Lock and RLock.
 */
export { Lock, type LockOptions } from './lock.js';
export { RLock } from './rlock.js';
export { Semaphore, BoundedSemaphore, type SemaphoreOptions } from './semaphore.js';
export { Condition } from './condition.js';
export { Event } from './event.js';
export { Barrier, type BarrierOptions } from './barrier.js';
export { Guard } from './guard.js';
export { setDeadlockDetection, deadlockDetectionEnabled } from './deadlock.js';
export type { OwnerDied } from './owner-word.js';
export type { AsyncWaitOptions, SyncWaitOptions } from './wait.js';
export {
  DeadlockError,
  MainThreadBlockingError,
  LockNotHeldError,
  SemaphoreOverReleaseError,
  BrokenBarrierError,
  SyncTimeoutError,
  type DeadlockLink,
} from '../errors.js';
