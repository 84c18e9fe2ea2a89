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
 * again, so a task whose behaviour changes is moved.
 */
import { LOCAL_BACKENDS } from '../backends/local.js';
import { TaskError } from '../errors.js';
import type { ResolvedOptions } from '../pool/options.js';
import { Scheduler } from '../pool/scheduler.js';
import type { PoolStats } from '../pool/stats.js';
import { type Explanation, type Placement, TaskProfile } from './profile.js';

/** I/O-bound calls placed on the event loop run this many times the pool size at once. */
export const IO_FANOUT = 16;


export class AutoRouter {
  readonly #options: ResolvedOptions;
  readonly #schedulers = new Map<Placement, Scheduler>();
  readonly #profiles = new Map<Function, TaskProfile>();

  constructor(options: ResolvedOptions) {
    this.#options = options;
  }

  /** Where the next call of `fn` goes, and whether to measure it. */
  route(fn: Function): { scheduler: Scheduler; measure: boolean; profile: TaskProfile } {
    const profile = this.#profile(fn);
    const measure = profile.wantsMeasure();
    profile.calls++;
    return { scheduler: this.scheduler(profile.placement ?? this.#probePlacement()), measure, profile };
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
      scheduler = new Scheduler(options, LOCAL_BACKENDS[placement], {
        measured: (fn, wallMs, activeMs, resultBytes) => this.#profile(fn).record(wallMs, activeMs, resultBytes),
        reroute: (fn, error) => this.#reroute(fn, error),
      });
      this.#schedulers.set(placement, scheduler);
    }
    return scheduler;
  }

  /** The scheduler a pool without calls starts (for `ready()`). */
  primary(): Scheduler {
    return this.scheduler(this.#probePlacement());
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

  /** A call that failed because threads cannot do what the task does runs again in a process. */
  #reroute(fn: Function, error: unknown): Scheduler | null {
    if (!(error instanceof TaskError) || error.properties.code !== 'ERR_WORKER_UNSUPPORTED_OPERATION') return null;
    this.#profile(fn).needsProcess(error.message);
    return this.scheduler('process');
  }
}
