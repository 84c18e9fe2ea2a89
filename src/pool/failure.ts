/**
 * Failure policy: what happens to the calls of a worker that died, and to a
 * call that failed. Kept apart from dispatch so that the rules that make
 * "a crash blames exactly the calls that were running" true are in one place.
 *
 * The worker runtime makes the rules decidable (see src/worker/runtime.ts):
 * it announces (W_STARTED) every call that is not known to be short, after
 * sending every result it holds, and sends such a call's result as soon as it
 * ends. So for a worker that runs one call at a time, the last announced call
 * it has not answered was running, and every call sent after it had not
 * started. A worker that dies of an uncaught error or a task's process.exit()
 * says which calls were running (its last words, after its results), which is
 * exact for any concurrency. A thread's claim words (src/worker/claims.ts)
 * outlive it, so for threads which calls had started is known exactly, even
 * after a kill. Only a child process killed without last words (SIGKILL, out
 * of memory) while it held short, unannounced calls leaves their fate unknown
 * — and the error says so. A call whose fate is not "running" is never run
 * again: it may have run already.
 */
import type { ExitInfo } from '../backends/backend.js';
import { WorkerCrashedError } from '../errors.js';
import { remoteToError } from '../remote-error.js';
import type { Job } from './job.js';
import type { Worker } from './worker.js';

export interface Fates {
  /** Were running: fail (or run again within retries). */
  running: Job[];
  /** Never started: back to the head of the queue, no retry spent. */
  unstarted: Job[];
  /** Had finished, but the worker died before sending the result: fail, saying so; never run again. */
  lost: Job[];
  /** Cannot be told apart: fail, saying so; never run again (it may have run). */
  unknown: Job[];
}

/** Sorts the calls a dead worker held (in the order it received them). */
export function fatesOf(worker: Worker, jobs: readonly Job[]): Fates {
  const fates: Fates = { running: [], unstarted: [], lost: [], unknown: [] };
  const words = worker.lastWords;
  if (words !== null) {
    // Its results were sent before these words: whatever it held and was not running had not started.
    const running = new Set(words.running);
    for (const job of jobs) (running.has(job.id) ? fates.running : fates.unstarted).push(job);
    return fates;
  }
  const hadStarted = worker.handle.hadStarted;
  if (hadStarted !== undefined) {
    // A thread's claim words outlive it: which calls started is known exactly.
    const started = jobs.filter((job) => job.started || hadStarted(job.seq));
    for (const job of jobs) if (!started.includes(job)) fates.unstarted.push(job);
    if (worker.places > 1) fates.running.push(...started);
    else {
      // One call at a time: the last one started was running; any started before it had finished.
      const last = worker.timedOutSeq < 0 ? started.at(-1) : undefined;
      for (const job of started) (job === last ? fates.running : fates.lost).push(job);
    }
    return fates;
  }
  if (worker.places === 1) {
    // One call at a time, in order: the call running was the last one known to have started.
    let anchor = worker.timedOutSeq;
    for (const job of jobs) if (job.started && job.seq > anchor) anchor = job.seq;
    for (const job of jobs) {
      if (anchor < 0) fates.unknown.push(job);
      else if (job.seq > anchor) fates.unstarted.push(job);
      else if (job.seq === anchor) fates.running.push(job);
      else fates.unknown.push(job); // cannot happen: answered before the anchor started
    }
    return fates;
  }
  for (const job of jobs) (job.started ? fates.running : fates.unknown).push(job);
  return fates;
}

/** The error of a call its worker died with. */
export function crashError(worker: Worker, info: ExitInfo, job: Job, state: 'running' | 'lost' | 'unknown'): WorkerCrashedError {
  const words = worker.lastWords;
  const stoppedForTimeout = worker.stopCause === 'timeout';
  return new WorkerCrashedError({
    workerId: worker.id,
    exitCode: info.exitCode,
    signal: info.signal,
    reason: stoppedForTimeout ? 'stopped' : exitReason(worker, info),
    taskId: job.id,
    callState: state,
    detail: stoppedForTimeout ? 'it was stopped because another call on it timed out' : undefined,
    cause: words?.error ? remoteToError(words.error) : (info.error ?? undefined),
  });
}

/** Why a worker ended, with what it said before it did. */
export function exitReason(worker: Worker, info: ExitInfo): ExitInfo['reason'] {
  return worker.lastWords?.error ? 'uncaught' : info.reason;
}
