/*
 * What the auto backend knows of one task: the measured share of its wall
 * time during which the worker's event loop was busy. A task that computes
 * keeps the loop busy (share near 1) and wants another core; a task that
 * waits on I/O or timers leaves it idle (share near 0) and wants many calls in
 * flight on one event loop, where a thread would only add copying.
 */

/** Where `backend: 'auto'` runs a task's calls: this event loop, worker threads, or child processes. */
export type Placement = 'inline' | 'thread' | 'process';

/** Calls measured before the first decision. */
export const PROBE_CALLS = 3;
/** After the decision, one call in this many is measured again. */
export const RESAMPLE_EVERY = 16;
// Hysteresis: a task must cross well past the middle to change its class.
const CPU_ABOVE = 0.5;
const IO_BELOW = 0.25;

/** The decision for a task and the figures behind it, as `pool.explain(task)` returns it. */
export interface Explanation {
  /** Where calls of the task go now; `undecided` until the first calls are measured. */
  backend: Placement | 'redis' | 'undecided';
  /** The reason, in words. */
  reason: string;
  /** Calls measured so far. */
  samples: number;
  /** Share of wall time the event loop was busy running the task (0..1), averaged. */
  cpuShare: number;
  /** Mean wall time of a measured call, ms. */
  meanWallMs: number;
  /** Mean serialized size of a call's arguments, bytes. */
  meanArgBytes: number;
  /** Mean serialized size of a call's result, bytes. */
  meanResultBytes: number;
  /** Decisions that moved the task to another backend after the first. */
  changes: number;
}

export class TaskProfile {
  samples = 0;
  calls = 0;
  changes = 0;
  placement: Placement | null = null;
  reason = 'not measured yet: its first calls run on threads and are timed';
  #share = 0;
  #wallMs = 0;
  #argBytes = 0;
  #resultBytes = 0;
  #argSamples = 0;

  constructor(
    readonly name: string,
    readonly isolate: boolean,
  ) {}

  /** Whether the next call should be measured. */
  wantsMeasure(): boolean {
    return this.placement === null || this.calls % RESAMPLE_EVERY === 0;
  }

  recordArguments(bytes: number): void {
    this.#argSamples++;
    this.#argBytes += (bytes - this.#argBytes) / this.#argSamples;
  }

  /** Adds one measured call; returns true if the placement changed. */
  record(wallMs: number, activeMs: number, resultBytes: number): boolean {
    this.samples++;
    const share = wallMs > 0 ? Math.min(1, activeMs / wallMs) : 1;
    // Wall time and result size: a plain mean over the probe calls, then a moving average that can follow a
    // change of behaviour (the share too, after the probes).
    const weight = this.samples <= PROBE_CALLS ? 1 / this.samples : 0.25;
    if (this.samples <= PROBE_CALLS) {
      // The first decision takes the lowest share of the probes. What a loaded
      // machine adds to a measure is busy time, never idle time: a cold worker,
      // a collection, or the thread blocked on the process's shared V8
      // helper threads (a worker measured 9 ms busy in a 30 ms call of a task
      // that only sleeps, while it ran 2 ms and waited 1 ms for a core). Two
      // such probes of three had made the median of a sleeping task 'CPU-bound'.
      // A task that computes keeps its loop busy in every call, so its lowest
      // share stays high.
      this.#share = this.samples === 1 ? share : Math.min(this.#share, share);
    } else {
      this.#share += (share - this.#share) * weight;
    }
    this.#wallMs += (wallMs - this.#wallMs) * weight;
    this.#resultBytes += (resultBytes - this.#resultBytes) * weight;
    if (this.samples < PROBE_CALLS) return false;
    return this.#decide();
  }

  /** The task cannot run in a worker thread (it used an operation threads do not support). */
  needsProcess(detail: string): boolean {
    if (this.placement === 'process') return false;
    this.placement = 'process';
    this.changes++;
    this.reason = `it used an operation worker threads do not support (${detail}), so it runs in child processes`;
    return true;
  }

  explain(): Explanation {
    return {
      backend: this.placement ?? 'undecided',
      reason: this.reason,
      samples: this.samples,
      cpuShare: this.#share,
      meanWallMs: this.#wallMs,
      meanArgBytes: this.#argBytes,
      meanResultBytes: this.#resultBytes,
      changes: this.changes,
    };
  }

  #decide(): boolean {
    if (this.placement === 'process' && this.reason.startsWith('it used an operation')) return false;
    const percent = Math.round(this.#share * 100);
    const wall = this.#wallMs < 1 ? `${(this.#wallMs * 1000).toFixed(0)} µs` : `${this.#wallMs.toFixed(1)} ms`;
    let next: Placement;
    let reason: string;
    const cpuBound =
      this.placement === null
        ? this.#share >= (CPU_ABOVE + IO_BELOW) / 2
        : this.#share >= (this.placement === 'inline' ? CPU_ABOVE : IO_BELOW);
    if (cpuBound) {
      next = this.isolate ? 'process' : 'thread';
      reason =
        `CPU-bound: its event loop was busy ${percent}% of each ${wall} call, so it needs cores of its own ` +
        `(${this.isolate ? 'child processes, as isolate: true asks' : 'worker threads'})`;
    } else {
      next = this.isolate ? 'process' : 'inline';
      reason =
        `I/O-bound: its event loop was busy only ${percent}% of each ${wall} call and waited the rest, so many calls overlap on ` +
        `${this.isolate ? 'few child processes (isolate: true)' : 'this event loop, with no copying to a worker'}`;
    }
    this.reason = reason;
    if (next === this.placement) return false;
    if (this.placement !== null) this.changes++;
    this.placement = next;
    return true;
  }
}
