import {
  type Batch,
  FRAME_FIELDS,
  type RemoteError,
  W_CHUNK_FAIL,
  W_CHUNK_OK,
  W_DYING,
  W_FAIL,
  W_INIT_FAILED,
  W_MEASURE,
  W_OK,
  W_PACE,
  W_READY,
  W_REVOKED,
  W_STARTED,
  W_STATS,
} from '../protocol.js';
import type { Job } from './job.js';
import type { LastWords, Worker } from './worker.js';

/** What the scheduler does with each kind of frame a worker sends. */
export interface InboxHandler {
  /** W_OK / W_FAIL / W_CHUNK_OK / W_CHUNK_FAIL for a call the worker holds; `at` is the frame's tag. */
  answered(worker: Worker, job: Job, tag: number, batch: Batch, at: number): void;
  started(worker: Worker, job: Job): void;
  revoked(worker: Worker, job: Job): void;
  pace(key: number, kind: number, short: boolean): void;
  /** Closes every batch: the worker's busy milliseconds, and how many calls the batch answered. */
  busy(worker: Worker, busyMs: number, answered: number): void;
  measured(job: Job, wallMs: number, activeMs: number, resultBytes: number): void;
  workerReady(worker: Worker): void;
  initFailed(worker: Worker, error: RemoteError): void;
  dying(worker: Worker, words: LastWords): void;
}

/**
 * Reads one batch from a worker, frame by frame, in order. Frames about a
 * call the worker no longer holds (it was cancelled and released, or timed
 * out on the inline backend) are dropped here: only the owner of the call's
 * place may settle it.
 */
export function readBatch(worker: Worker, batch: Batch, handler: InboxHandler): void {
  let answered = 0;
  for (let i = 0; i < batch.length; ) {
    const tag = batch[i] as number;
    switch (tag) {
      case W_OK:
      case W_FAIL:
      case W_CHUNK_OK:
      case W_CHUNK_FAIL: {
        answered++;
        const job = worker.call(batch[i + 1] as number);
        if (job !== undefined) handler.answered(worker, job, tag, batch, i);
        break;
      }
      case W_STARTED: {
        const job = worker.call(batch[i + 1] as number);
        if (job !== undefined) handler.started(worker, job);
        break;
      }
      case W_REVOKED: {
        const job = worker.call(batch[i + 1] as number);
        if (job !== undefined) handler.revoked(worker, job);
        break;
      }
      case W_PACE:
        handler.pace(batch[i + 1] as number, batch[i + 2] as number, batch[i + 3] === 1);
        break;
      case W_STATS:
        handler.busy(worker, batch[i + 1] as number, answered);
        break;
      case W_MEASURE: {
        const job = worker.call(batch[i + 1] as number);
        if (job !== undefined) handler.measured(job, batch[i + 2] as number, batch[i + 3] as number, batch[i + 4] as number);
        break;
      }
      case W_READY:
        handler.workerReady(worker);
        break;
      case W_INIT_FAILED:
        handler.initFailed(worker, batch[i + 1] as RemoteError);
        break;
      case W_DYING:
        handler.dying(worker, { running: batch[i + 1] as number[], error: batch[i + 2] as RemoteError | null });
        break;
    }
    i += 1 + FRAME_FIELDS[tag];
  }
}
