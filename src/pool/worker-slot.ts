import type { TransferListItem } from 'node:worker_threads';
import type { WorkerHandle } from '../backends/backend.js';
import type { Job } from './job.js';

export type SlotState = 'starting' | 'ready' | 'retiring' | 'stopping' | 'exited';

/**
 * The pool's view of one worker: what it holds, what it has been told, and the
 * outgoing batch being filled this tick.
 */
export class WorkerSlot {
  handle!: WorkerHandle;
  state: SlotState = 'starting';
  /** Jobs sent and not yet answered, in the order they were sent. */
  readonly inFlight = new Map<number, Job>();
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
  referenced = true;
  idleTimer: NodeJS.Timeout | null = null;
  idleSince = 0;
  /** Why the pool is stopping it, when it is. */
  stopCause: 'timeout' | 'shutdown' | 'init' | 'terminate' | null = null;
  /** A shutdown frame has been queued. */
  shutdownSent = false;

  constructor(readonly id: number) {}
}
