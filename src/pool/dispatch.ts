/**
 * Dispatch policy: which worker takes the next call, and when a call sent
 * ahead is taken back. Kept apart so the promise "a call never waits behind a
 * busy worker while another worker is idle or could be started" is decided in
 * one place.
 *
 * A call goes to a free place first (the least loaded ready worker with fewer
 * calls than places). With no free place, and the pool below `size`, the call
 * waits in the queue for the worker being started. Only when every worker the
 * pool may have is ready and busy (none is starting), and only for a task known to be short
 * (its workers say so: W_PACE), is a call sent *ahead* to a busy worker, up
 * to about PIPELINE_MS of work per worker: tiny calls then travel many to a
 * message and a worker never waits for its next one. A call sent ahead that
 * has not started is taken back (P_REVOKE) as soon as another worker has a
 * free place and nothing is queued for it.
 */
import { KIND_CHUNK, KIND_RUN } from '../protocol.js';
import { CLAIM_SLOTS } from '../worker/claims.js';
import { CHUNK, type Job } from './job.js';
import type { Worker } from './worker.js';

// Work queued on each worker beyond its places: enough to hide a round trip,
// too little to unbalance. The cap bounds how many calls one message carries
// (bench "submit 100k trivial": 64 → 256 took threads from ~360k to ~410k/s).
const PIPELINE_MS = 2;
const MAX_DEPTH = 256;
// A worker never holds so many calls that two of them share a claim word.
const MAX_HELD = CLAIM_SLOTS / 2;

export class Dispatch {
  /** Per task key × kind: its workers last said its calls are short. */
  readonly #short: boolean[] = [];
  /** Mean milliseconds per call on the workers, learnt from their reports (-1: none yet). */
  #callMs = -1;
  /** Calls one worker may hold beyond its places, for short tasks. */
  #ahead = 0;

  /** A worker says a task's calls became short, or long. */
  pace(key: number, kind: number, short: boolean): void {
    this.#short[key * 2 + kind] = short;
  }

  isShort(job: Job): boolean {
    return this.#short[job.key * 2 + (job.kind === CHUNK ? KIND_CHUNK : KIND_RUN)] === true;
  }

  /** A worker answered `answered` calls in `spentMs` of its busy time. */
  learn(spentMs: number, answered: number): void {
    const perCall = spentMs / answered;
    this.#callMs = this.#callMs < 0 ? perCall : this.#callMs * 0.7 + perCall * 0.3;
    this.#ahead = Math.min(MAX_DEPTH, Math.max(1, Math.floor(PIPELINE_MS / Math.max(this.#callMs, 0.001))));
  }

  /**
   * The worker that takes `job` now, or null: it waits in the queue.
   * `canGrow()`: the pool may start another worker (asked only when no place is free).
   */
  choose(job: Job, workers: readonly Worker[], canGrow: () => boolean): Worker | null {
    let best: Worker | null = null;
    for (const worker of workers) {
      if (!worker.accepts(Math.min(worker.places, MAX_HELD))) continue;
      if (best === null || worker.load < best.load) best = worker;
    }
    if (job.exclusive) return best !== null && best.load === 0 ? best : null;
    if (best !== null || !this.isShort(job) || canGrow()) return best;
    // A worker being started will have free places: calls wait for it rather
    // than queue behind a busy one, where one that turns out long would hold them.
    for (const worker of workers) if (worker.state === 'starting') return null;
    for (const worker of workers) {
      if (!worker.accepts(Math.min(worker.places * (1 + this.#ahead), MAX_HELD))) continue;
      if (best === null || worker.load < best.load) best = worker;
    }
    return best;
  }

  /**
   * A measured call waits for a worker of its own: the least loaded one stops
   * taking calls until it is empty (unless one is empty already, or the pool
   * can start one).
   */
  reserveFor(workers: readonly Worker[]): void {
    let best: Worker | null = null;
    for (const worker of workers) {
      if (worker.reserved && worker.alive) return;
      if (worker.state !== 'ready') continue;
      if (best === null || worker.load < best.load) best = worker;
    }
    if (best !== null) best.reserved = true;
  }

  /**
   * Calls sent ahead that should come back: with nothing queued, every free
   * place elsewhere is worth one call that waits behind another on a busy
   * worker. Taken from the back, where they have the longest to wait.
   */
  toTakeBack(workers: readonly Worker[]): Job[] {
    let free = 0;
    for (const worker of workers) if (worker.accepts(worker.places)) free += worker.places - worker.load;
    if (free === 0) return [];
    const back: Job[] = [];
    for (const worker of workers) {
      if (worker.state === 'stopping' || worker.state === 'exited') continue;
      let waiting = worker.load - worker.places;
      if (waiting <= 0) continue;
      const held = [...worker.calls()];
      for (let i = held.length - 1; i >= 0 && waiting > 0 && back.length < free; i--, waiting--) {
        const job = held[i];
        if (!job.started && !job.revoking && !job.cancelled) back.push(job);
      }
    }
    return back;
  }
}
