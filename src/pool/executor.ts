import type { Explanation } from '../auto/profile.js';
import type { JobOwner } from './job.js';
import type { Scheduler } from './scheduler.js';
import type { PoolStats } from './stats.js';

/** Where the calls of one task go now: a scheduler, what to add to each call, and who follows its outcome. */
export interface Lane {
  readonly scheduler: Scheduler;
  /** Protocol flags added to each call (auto: FLAG_MEASURE on the calls it measures). */
  readonly flags: number;
  /**
   * Who receives the outcome of each call instead of the call's own future
   * (auto: to learn from measured calls and to rerun elsewhere a call its
   * backend could not run); null for the future itself.
   */
  readonly owner: JobOwner | null;
}

/**
 * What a Pool holds exactly one of: the local scheduler of a fixed backend
 * (thread, process, inline, redis), or the auto router over several. The
 * Pool checks arguments, makes futures and jobs; the executor decides where
 * they run.
 */
export interface Executor {
  /** Where the next call of `task` goes. */
  lane(task: Function): Lane;
  /** Where calls of `task` that are not measured go now (map and imap chunks). */
  schedulerFor(task: Function): Scheduler;
  /** auto: the task has not been measured yet (its first calls run as probes). */
  isUndecided(task: Function): boolean;
  explain(task: Function): Explanation | null;
  ready(): Promise<void>;
  close(): Promise<void>;
  terminate(): Promise<void>;
  stats(): PoolStats;
}
