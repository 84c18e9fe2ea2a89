import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { WorkerSlot } from './worker-slot.js';

/** What `pool.stats()` reports. */
export interface PoolStats {
  backend: string;
  size: number;
  /** Workers alive (starting or serving). */
  workers: number;
  /** Workers running at least one call. */
  busy: number;
  /** Calls waiting to start (in the pool's queue, or sent ahead to a busy worker). */
  queued: number;
  /** Calls that have started on a worker. */
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Share of worker time spent running tasks since the pool started, 0..1. */
  utilisation: number;
  /** Milliseconds from submit to result, over completed calls. */
  latency: { mean: number; p50: number; p90: number; p99: number; max: number };
}

/**
 * The counters behind `stats()`. Latency goes into Node's own HDR histogram
 * (perf_hooks), in nanoseconds: one native call per completed job.
 */
export class PoolCounters {
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
  workerExited(slot: WorkerSlot): void {
    this.#busyMsOfExited += slot.busyMs;
    this.#lifeMsOfExited += performance.now() - slot.startedAt;
  }

  snapshot(backend: string, size: number, slots: readonly WorkerSlot[], queued: number, concurrency: number): PoolStats {
    const now = performance.now();
    let busyMs = this.#busyMsOfExited;
    let lifeMs = this.#lifeMsOfExited;
    let busy = 0;
    let running = 0;
    for (const slot of slots) {
      busyMs += slot.busyMs;
      lifeMs += now - slot.startedAt;
      if (slot.inFlight.size > 0) busy++;
      // Calls past the first `concurrency` on a worker were sent ahead and wait there.
      running += Math.min(slot.inFlight.size, concurrency);
      queued += Math.max(0, slot.inFlight.size - concurrency);
    }
    const h = this.#latency;
    const any = h.count > 0;
    const ms = (ns: number): number => (any && Number.isFinite(ns) ? ns / 1e6 : 0);
    return {
      backend,
      size,
      workers: slots.length,
      busy,
      queued,
      running,
      completed: this.completed,
      failed: this.failed,
      cancelled: this.cancelled,
      utilisation: lifeMs > 0 ? Math.min(1, busyMs / lifeMs) : 0,
      latency: { mean: ms(h.mean), p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), max: ms(h.max) },
    };
  }
}
