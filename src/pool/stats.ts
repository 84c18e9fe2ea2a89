import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { Worker } from './worker.js';

/** What `pool.stats()` reports. */
export interface PoolStats {
  /** The pool's backend (`'auto'` for an auto pool). */
  backend: string;
  /** The pool's `size`: most workers at once. */
  size: number;
  /**
   * Workers that exist: starting, serving, or stopping. A worker stopped for a
   * timeout or a crash is replaced at once, so while it exits this can
   * briefly be one above `size`.
   */
  workers: number;
  /** Workers running at least one call. */
  busy: number;
  /**
   * Calls accepted so far (a map sends its items in chunks; each chunk counts
   * as one call). Always `queued + running + completed + failed + cancelled`.
   */
  accepted: number;
  /** Calls waiting to start: in the pool's queue, or sent ahead to a busy worker (short calls only). */
  queued: number;
  /** Calls running on a worker: at most `concurrencyPerWorker` per worker. */
  running: number;
  /** Calls that fulfilled. */
  completed: number;
  /** Calls that failed for good (after their retries). */
  failed: number;
  /** Calls cancelled (by `cancel()`, their signal, or `terminate()` while queued). */
  cancelled: number;
  /** Share of worker time spent running tasks since the pool started, 0..1. */
  utilisation: number;
  /** Milliseconds from submit to result, over completed calls. */
  latency: {
    /** Arithmetic mean. */
    mean: number;
    /** Median. */
    p50: number;
    /** 90th percentile. */
    p90: number;
    /** 99th percentile. */
    p99: number;
    /** Slowest. */
    max: number;
  };
}

/**
 * The counters behind `stats()`. Latency goes into Node's own HDR histogram
 * (perf_hooks), in nanoseconds: one native call per completed job.
 */
export class PoolCounters {
  accepted = 0;
  completed = 0;
  failed = 0;
  cancelled = 0;
  readonly #latency: RecordableHistogram = createHistogram();
  #busyMsOfExited = 0;
  #lifeMsOfExited = 0;

  /** A job submitted at `submittedAt` completed at `now` (both performance.now() ms). */
  completedJob(submittedAt: number, now: number): void {
    this.completed++;
    this.#latency.record(Math.max(1, Math.round((now - submittedAt) * 1e6)));
  }

  /** Keeps an exited worker's time in the utilisation. */
  workerExited(worker: Worker): void {
    this.#busyMsOfExited += worker.busyMs;
    this.#lifeMsOfExited += performance.now() - worker.startedAt;
  }

  snapshot(backend: string, size: number, workers: readonly Worker[], queued: number): PoolStats {
    const now = performance.now();
    let busyMs = this.#busyMsOfExited;
    let lifeMs = this.#lifeMsOfExited;
    let busy = 0;
    let running = 0;
    for (const worker of workers) {
      busyMs += worker.busyMs;
      lifeMs += now - worker.startedAt;
      if (worker.load > 0) busy++;
      // A cancelled call may still hold its place until its worker answers; it is counted as cancelled.
      let held = 0;
      for (const job of worker.calls()) if (!job.cancelled) held++;
      // The first calls on a worker hold its places; calls beyond them were sent ahead and wait there.
      const onPlaces = Math.min(held, worker.places);
      running += onPlaces;
      queued += held - onPlaces;
    }
    const h = this.#latency;
    const any = h.count > 0;
    const ms = (ns: number): number => (any && Number.isFinite(ns) ? ns / 1e6 : 0);
    // Bun's histogram answers a percentile with its bucket's upper bound, which can pass the largest value recorded.
    const pct = (p: number): number => Math.min(h.percentile(p), h.max);
    return {
      backend,
      size,
      workers: workers.length,
      busy,
      accepted: this.accepted,
      queued,
      running,
      completed: this.completed,
      failed: this.failed,
      cancelled: this.cancelled,
      utilisation: lifeMs > 0 ? Math.min(1, busyMs / lifeMs) : 0,
      latency: { mean: ms(h.mean), p50: ms(pct(50)), p90: ms(pct(90)), p99: ms(pct(99)), max: ms(h.max) },
    };
  }
}
