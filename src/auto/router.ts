/**
 * The `auto` backend: one pool over three schedulers (inline, thread,
 * process), and a profile per task that says which one its calls go to.
 *
 *   submit(task) ──► TaskProfile ──► placement ──► Scheduler (inline | thread | process)
 *                        ▲                               │ measured calls (FLAG_MEASURE)
 *                        └──────── W_MEASURE ◄───────────┘
 *
 * A task's first calls run on threads (processes with `isolate`) and are
 * measured; then it is placed, and one call in RESAMPLE_EVERY is measured
 * again, so a task whose behaviour changes is moved. A measured call always
 * runs alone on a thread (or process) worker: the event loop it is timed on
 * runs nothing else, so a task's class never depends on its neighbours.
 * The router owns the outcome of its tasks' calls (a JobOwner per task): it
 * learns from measured ones, and reruns in a process a call that failed
 * because threads cannot do what the task does.
 */
import { serialize } from 'node:v8';
import { LOCAL_BACKENDS } from '../backends/local.js';
import { TaskError } from '../errors.js';
import { FLAG_MEASURE, FLAG_SHARED } from '../protocol.js';
import type { Executor, Lane } from '../pool/executor.js';
import { Job, type JobOwner, RUN } from '../pool/job.js';
import type { ResolvedOptions } from '../pool/options.js';
import { FUTURE_OWNER, Scheduler } from '../pool/scheduler.js';
import type { PoolStats } from '../pool/stats.js';
import { type Explanation, type Placement, TaskProfile } from './profile.js';

function sizeOf(payload: unknown): number {
  try {
    return serialize(payload).byteLength;
  } catch {
    return 0; // the argument check reports what cannot be sent
  }
}

/** I/O-bound calls placed on the event loop run this many times the pool size at once. */
export const IO_FANOUT = 16;

export class AutoRouter implements Executor {
  readonly #options: ResolvedOptions;
  readonly #schedulers = new Map<Placement, Scheduler>();
  readonly #profiles = new Map<Function, TaskProfile>();
  /** Per task: the owner of its calls' outcomes, which learns from them and reroutes them. */
  readonly #owners = new Map<TaskProfile, JobOwner>();

  constructor(options: ResolvedOptions) {
    this.#options = options;
  }

  /**
   * Where the next call of `fn` goes. A measured call runs on the probe
   * backend (threads, or processes with isolate) *alone on its worker*, so
   * what is measured is the call's own work and never its neighbours'; the
   * others go where the task is placed.
   */
  lane(fn: Function): Lane {
    const profile = this.#profile(fn);
    const measure = profile.wantsMeasure();
    profile.calls++;
    const placement = measure ? this.#probePlacement() : (profile.placement ?? this.#probePlacement());
    return { scheduler: this.scheduler(placement), flags: measure ? FLAG_MEASURE : 0, owner: this.#ownerOf(fn, profile) };
  }

  schedulerFor(fn: Function): Scheduler {
    return this.scheduler(this.#profile(fn).placement ?? this.#probePlacement());
  }

  isUndecided(fn: Function): boolean {
    return this.#profile(fn).placement === null;
  }

  explain(fn: Function): Explanation {
    return this.#profile(fn).explain();
  }

  scheduler(placement: Placement): Scheduler {
    let scheduler = this.#schedulers.get(placement);
    if (!scheduler) {
      const options =
        placement === 'inline'
          ? { ...this.#options, backend: placement, minSize: 0, concurrencyPerWorker: this.#options.concurrencyPerWorker * IO_FANOUT }
          : { ...this.#options, backend: placement };
      scheduler = new Scheduler(options, LOCAL_BACKENDS[placement]);
      this.#schedulers.set(placement, scheduler);
    }
    return scheduler;
  }

  /** Starts the workers of the scheduler a pool without calls uses first. */
  ready(): Promise<void> {
    return this.scheduler(this.#probePlacement()).ready();
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((s) => s.close()));
  }

  async terminate(): Promise<void> {
    await Promise.all(this.all().map((s) => s.terminate()));
  }

  all(): Scheduler[] {
    return [...this.#schedulers.values()];
  }

  /** Counters summed over the schedulers; latency of the one that completed the most calls. */
  stats(): PoolStats {
    const parts = this.all().map((s) => s.stats());
    const total: PoolStats = {
      backend: 'auto',
      size: this.#options.size,
      workers: 0,
      busy: 0,
      accepted: 0,
      queued: 0,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
      utilisation: 0,
      latency: { mean: 0, p50: 0, p90: 0, p99: 0, max: 0 },
    };
    let busiest = -1;
    for (const part of parts) {
      total.workers += part.workers;
      total.busy += part.busy;
      total.accepted += part.accepted;
      total.queued += part.queued;
      total.running += part.running;
      total.completed += part.completed;
      total.failed += part.failed;
      total.cancelled += part.cancelled;
      total.utilisation = Math.max(total.utilisation, part.utilisation);
      if (part.completed > busiest) {
        busiest = part.completed;
        total.latency = part.latency;
      }
    }
    return total;
  }

  #probePlacement(): Placement {
    return this.#options.isolate ? 'process' : 'thread';
  }

  #profile(fn: Function): TaskProfile {
    let profile = this.#profiles.get(fn);
    if (!profile) {
      profile = new TaskProfile(fn.name || 'anonymous', this.#options.isolate);
      this.#profiles.set(fn, profile);
    }
    return profile;
  }

  #ownerOf(fn: Function, profile: TaskProfile): JobOwner {
    let owner = this.#owners.get(profile);
    if (!owner) {
      owner = {
        jobDone: FUTURE_OWNER.jobDone,
        jobFailed: (job, error, handled) => {
          if (!this.#rerouted(fn, profile, job, error)) FUTURE_OWNER.jobFailed(job, error, handled);
        },
        jobMeasured: (job, wallMs, activeMs, resultBytes) => {
          profile.recordArguments(sizeOf(job.payload));
          profile.record(wallMs, activeMs, resultBytes);
        },
      };
      this.#owners.set(profile, owner);
    }
    return owner;
  }

  /** A call that failed because threads cannot do what the task does runs again in a process, and so do the task's next calls. */
  #rerouted(fn: Function, profile: TaskProfile, job: Job, error: unknown): boolean {
    if (!(error instanceof TaskError) || !threadsCannot(error)) return false;
    // Shared memory cannot go to a process; a chunk's items have their own collector.
    if (job.kind !== RUN || (job.flags & FLAG_SHARED) !== 0 || job.future === null) return false;
    profile.needsProcess(error.message);
    const scheduler = this.scheduler('process');
    const again = new Job(
      job.id,
      RUN,
      scheduler.keyOf(fn),
      job.payload,
      job.flags & ~FLAG_MEASURE,
      job.priority,
      job.timeout,
      job.retriesLeft,
      undefined,
      job.future,
      FUTURE_OWNER,
      job.submittedAt,
    );
    again.abortListener = job.abortListener;
    job.abortListener = null;
    job.future.rebind(scheduler, again);
    scheduler.enqueue(again);
    return true;
  }
}

/**
 * The task did what worker threads do not support (`process.chdir()`, …).
 * Node and Deno say so by the error's code; Bun's stub throws a TypeError
 * whose message alone says it.
 */
function threadsCannot(error: TaskError): boolean {
  return (
    error.properties.code === 'ERR_WORKER_UNSUPPORTED_OPERATION' ||
    (error.remoteName === 'TypeError' && / not supported in workers/.test(error.message))
  );
}
