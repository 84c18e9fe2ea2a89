import type { TransferListItem } from 'node:worker_threads';
import type { Future } from '../future.js';
import type { Worker } from './worker.js';

export const RUN = 0;
export const CHUNK = 1;

/**
 * Receives the outcome of a job. Every job has one: a call's future, a map's
 * collector (map, starmap, imap), or whoever wraps them (auto). The scheduler
 * calls exactly one of `jobDone` / `jobFailed`, exactly once per job, unless
 * the job was cancelled first.
 */
export interface JobOwner {
  jobDone(job: Job, value: unknown): void;
  /** `handled`: the caller brought the failure about (terminate): it must not surface as an unhandled rejection. */
  jobFailed(job: Job, error: unknown, handled?: boolean): void;
  /** A call sent with FLAG_MEASURE reported how long it ran and how much of it was CPU. */
  jobMeasured?(job: Job, wallMs: number, activeMs: number, resultBytes: number): void;
}

/**
 * Where a job is. A job moves only forward, except that a retry, a worker's
 * death or a take-back puts it back in the queue.
 */
export const NEW = 0; // made, not yet queued
export const QUEUED = 1; // in the scheduler's queue
export const ON_WORKER = 2; // sent to a worker (or about to be, this tick), not yet answered
export const DONE = 3; // answered, failed, cancelled or given up: nothing will happen to it again
export type JobPlace = typeof NEW | typeof QUEUED | typeof ON_WORKER | typeof DONE;

/**
 * One unit the pool schedules: a single call (RUN, behind a Future) or a chunk
 * of map items (CHUNK). Plain fields, no closures: the pool makes one per call
 * on its hottest path. `worker` and `place` are written only by the
 * scheduler's Worker and queue (src/pool/worker.ts, task-queue.ts).
 */
export class Job {
  place: JobPlace = NEW;
  /** The worker holding the job, iff place is OnWorker. */
  worker: Worker | null = null;
  /** The caller no longer waits for it (cancelled, or timed out on a worker that goes on running it). */
  cancelled = false;
  /** The worker said the call started (W_STARTED), or answered it. */
  started = false;
  /** The pool asked its worker to give it back (P_REVOKE) and waits for the answer. */
  revoking = false;
  /** Sent with FLAG_MEASURE: runs alone on its worker. */
  exclusive = false;
  /** Its place in the order its worker received calls (calls start in that order). */
  seq = 0;
  /** Absolute deadline (performance.now() ms) once it runs with a timeout, else 0. */
  deadline = 0;
  /** For chunk jobs: position of the chunk's first item in the input. */
  offset = 0;
  /** For imap chunks: the chunk's number in pulling order. */
  sequence = 0;
  /** Released once the job settles: the listener on the caller's AbortSignal. */
  abortListener: (() => void) | null = null;

  constructor(
    readonly id: number,
    readonly kind: typeof RUN | typeof CHUNK,
    /** The task's key in the scheduler that runs the job. */
    readonly key: number,
    /** Argument list, the single argument itself (FLAG_SINGLE), or a chunk's items. */
    readonly payload: unknown,
    public flags: number,
    readonly priority: number,
    readonly timeout: number,
    public retriesLeft: number,
    readonly transfer: readonly TransferListItem[] | undefined,
    /** The call's future (RUN jobs), for its running state; null for chunks. */
    readonly future: Future<unknown> | null,
    readonly owner: JobOwner,
    readonly submittedAt: number,
  ) {}
}
