import type { TransferListItem } from 'node:worker_threads';
import type { Future } from '../future.js';
import type { WorkerSlot } from './worker-slot.js';

export const RUN = 0;
export const CHUNK = 1;

/** Receives the outcome of a chunk job (map, starmap, imap). */
export interface ChunkOwner {
  chunkDone(job: Job, results: unknown[]): void;
  chunkFailed(job: Job, error: unknown): void;
}

/**
 * One unit the pool schedules: a single call (RUN, behind a Future) or a chunk
 * of map items (CHUNK, behind its ChunkOwner). Plain fields, no closures: the
 * pool makes one per call on its hottest path.
 */
export class Job {
  /** Where the job is: queued, on a worker, or done. */
  queued = false;
  slot: WorkerSlot | null = null;
  cancelled = false;
  /** Absolute deadline (performance.now() ms) while running with a timeout, else 0. */
  deadline = 0;
  /** For chunk jobs: position of the chunk's first item in the input. */
  offset = 0;
  /** For imap chunks: the chunk's number in pulling order. */
  sequence = 0;
  /** Released once the job settles: the listener on the caller's AbortSignal. */
  abortListener: (() => void) | null = null;
  /** Set when another scheduler adopted the job (auto backend). */
  scheduler: import('./scheduler.js').Scheduler | null = null;

  constructor(
    readonly id: number,
    readonly kind: typeof RUN | typeof CHUNK,
    /** The task's key in the scheduler that runs the job (changes if the job is rerouted). */
    public key: number,
    /** Argument list, the single argument itself (FLAG_SINGLE), or a chunk's items. */
    readonly payload: unknown,
    readonly flags: number,
    readonly priority: number,
    readonly timeout: number,
    public retriesLeft: number,
    readonly transfer: readonly TransferListItem[] | undefined,
    readonly future: Future<unknown> | null,
    readonly owner: ChunkOwner | null,
    readonly submittedAt: number,
  ) {}
}
