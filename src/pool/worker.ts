import type { TransferListItem } from 'node:worker_threads';
import type { WorkerHandle } from '../backends/backend.js';
import type { RemoteError } from '../protocol.js';
import { DONE, type Job, ON_WORKER } from './job.js';

/**
 * starting ──► ready ──► retiring ──► stopping ──► exited
 *    │           └──────────────────────┘ ▲
 *    └────────────────────────────────────┘
 * `retiring`: served its maxTasksPerWorker, takes nothing new, stops when empty.
 * `stopping`: asked to shut down or killed; its exit follows.
 */
export type WorkerState = 'starting' | 'ready' | 'retiring' | 'stopping' | 'exited';

/** Why the pool stops a worker, when it does. */
export type StopCause = 'timeout' | 'shutdown' | 'init' | 'terminate';

/** What a worker said before it died on its own (an uncaught error, or a task's process.exit()). */
export interface LastWords {
  /** Ids of the calls that were running. */
  running: number[];
  error: RemoteError | null;
}

/**
 * The pool's view of one worker, and the one owner of what it holds: the
 * calls sent to it and not yet answered, in the order they were sent. A job
 * is on a worker if and only if it is in that worker's table (`assign` and
 * `release` are the only ways in and out), so "assigned", "in flight" and
 * "counted" cannot drift apart. The worker keeps the caller's process alive
 * exactly while it holds calls or is stopping.
 */
export class Worker {
  handle!: WorkerHandle;
  #state: WorkerState = 'starting';
  readonly #calls = new Map<number, Job>();
  /** Task keys whose definition this worker has received. */
  readonly defined: boolean[] = [];
  /** Frames waiting to be sent this tick, and what they transfer. */
  outbox: unknown[] = [];
  transfer: TransferListItem[] | null = null;
  dirty = false;
  /** Calls assigned over its life (for maxTasksPerWorker). */
  assigned = 0;
  /** Busy milliseconds the worker last reported. */
  busyMs = 0;
  readonly startedAt = performance.now();
  #referenced = true;
  idleTimer: NodeJS.Timeout | null = null;
  idleSince = 0;
  stopCause: StopCause | null = null;
  /** A shutdown frame has been queued. */
  shutdownSent = false;
  /**
   * Where, in the order this worker received calls, the call whose timeout
   * made the pool stop it was (-1: none). A number, not the job: the job is
   * retried and may be sent to another worker (with a seq of that worker's)
   * before this one's exit is seen.
   */
  timedOutSeq = -1;
  lastWords: LastWords | null = null;
  /** No new calls while a measured call waits for this worker to empty. */
  reserved = false;
  /** A measured call it runs alone: nothing else is sent to it meanwhile. */
  #exclusive: Job | null = null;

  constructor(
    readonly id: number,
    /** Calls it runs at once. */
    readonly places: number,
  ) {}

  get state(): WorkerState {
    return this.#state;
  }

  /** Calls it holds (running, sent ahead, or cancelled but still running). */
  get load(): number {
    return this.#calls.size;
  }

  /** The calls it holds, in the order they were sent. */
  calls(): IterableIterator<Job> {
    return this.#calls.values();
  }

  call(id: number): Job | undefined {
    return this.#calls.get(id);
  }

  /** Can take a new call now: serving, not reserved, and with `limit` (its places, or a pipeline depth) not reached. */
  accepts(limit: number): boolean {
    // After its last words it runs nothing more: a call sent then would only wait for its exit.
    return this.#state === 'ready' && !this.reserved && this.#exclusive === null && this.#calls.size < limit && this.lastWords === null;
  }

  /** Counts toward the pool's `size`: starting, serving, or finishing its last calls before it is recycled. */
  get alive(): boolean {
    return this.#state === 'starting' || this.#state === 'ready' || this.#state === 'retiring';
  }

  /** Gives it a job. Counted from here until `release`. */
  assign(job: Job, maxTasks: number): void {
    job.place = ON_WORKER;
    job.worker = this;
    job.seq = this.assigned;
    if (job.exclusive) this.#exclusive = job;
    this.#calls.set(job.id, job);
    this.#ref(true);
    if (++this.assigned >= maxTasks && this.#state === 'ready') this.#state = 'retiring';
  }

  /** Takes a job off it (answered, taken back, timed out, or lost with the worker). */
  release(job: Job): boolean {
    if (job.worker !== this) return false;
    this.#calls.delete(job.id);
    if (this.#exclusive === job) this.#exclusive = null;
    job.worker = null;
    job.place = DONE;
    job.deadline = 0;
    job.revoking = false;
    if (this.#calls.size === 0 && this.#state !== 'stopping') this.#ref(false);
    return true;
  }

  /** Takes every job off it (its exit), in the order they were sent. */
  releaseAll(): Job[] {
    const jobs = [...this.#calls.values()];
    for (const job of jobs) this.release(job);
    return jobs;
  }

  becameReady(): boolean {
    if (this.#state !== 'starting') return false;
    this.#state = 'ready';
    if (this.#calls.size === 0) this.#ref(false);
    return true;
  }

  /** Enters `stopping`; true if the worker must be killed now rather than asked to finish. */
  stopping(cause: StopCause): boolean {
    this.stopCause ??= cause;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const graceful = cause === 'shutdown' && this.#state !== 'starting' && this.#calls.size === 0;
    this.#state = 'stopping';
    // Until it has exited, a stopping worker keeps the process alive, so that
    // `await pool.close()` returns before the program ends.
    this.#ref(true);
    return !graceful;
  }

  exited(): void {
    this.#state = 'exited';
    if (this.idleTimer) clearTimeout(this.idleTimer);
  }

  #ref(ref: boolean): void {
    if (this.#referenced === ref || this.#state === 'exited') return;
    this.#referenced = ref;
    this.handle?.setRef(ref);
  }
}
