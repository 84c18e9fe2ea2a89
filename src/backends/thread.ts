import type { TransferListItem } from 'node:worker_threads';
import { Worker } from 'node:worker_threads';
import type { Backend, ExitInfo, SpawnSpec, WorkerEvents, WorkerHandle } from './backend.js';
import { workerEntry } from './entry.js';
import { CLAIM_SLOTS, claimStarted, claimTakeBack } from '../worker/claims.js';
import { threadExited } from '../sync/liveness.js';
import { RESCUE_BYTES, RescueWatch } from '../worker/rescue.js';

/** Workers are `worker_threads`: one process, shared memory, cheap messages. */
export const threadBackend: Backend = {
  kind: 'thread',
  reportsStart: true,
  preemptible: true,
  boundary: 'thread',
  spawn(spec: SpawnSpec, events: WorkerEvents): WorkerHandle {
    // The pool shares the claim words with the thread: it takes calls back itself.
    const claims = new SharedArrayBuffer(CLAIM_SLOTS * Int32Array.BYTES_PER_ELEMENT);
    const words = new Int32Array(claims);
    // Copies of results the thread holds, which the pool reads only if the thread is stuck (src/worker/rescue.ts).
    const rescue = new SharedArrayBuffer(RESCUE_BYTES);
    const entry = workerEntry('thread');
    const worker = new Worker(entry.file, {
      workerData: { ...entry.workerData, claims, rescue },
      resourceLimits: spec.resourceLimits,
      env: spec.env ? { ...process.env, ...spec.env } : undefined,
      // Unset, a thread inherits the caller's execArgv (so tsx keeps working).
      ...(spec.execArgv ? { execArgv: spec.execArgv } : {}),
    });
    // Read now: a worker that has stopped reports -1.
    const threadId = worker.threadId;
    let error: unknown = null;
    let killed = false;
    worker.on('message', (batch: unknown[]) => events.message(batch));
    const watch = new RescueWatch(rescue, (batch) => events.message(batch));
    worker.on('error', (err) => {
      error = err;
    });
    worker.once('exit', (exitCode) => {
      // Locks the thread still held go to their next waiter (src/sync/owner-word.ts).
      threadExited(threadId);
      watch.set(false);
      const info: ExitInfo = { exitCode, signal: null, error, reason: 'exit' };
      if ((error as { code?: string } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY') info.reason = 'out-of-memory';
      else if (error !== null) info.reason = 'uncaught';
      else if (killed) info.reason = 'killed';
      events.exit(info);
    });
    return {
      send: (batch, transfer) => worker.postMessage(batch, transfer as TransferListItem[] | undefined),
      kill: () => {
        killed = true;
        void worker.terminate();
      },
      setRef: (ref) => {
        if (ref) worker.ref();
        else worker.unref();
        // Watched only while it holds calls: then the pool waits for its results.
        watch.set(ref);
      },
      takeBack: (ticket, answer) => answer(claimTakeBack(words, ticket)),
      hadStarted: (ticket) => claimStarted(words, ticket),
    };
  },
};
