import { readFileSync } from 'node:fs';

/**
 * How long this thread's event loop was busy (running code, not waiting for
 * I/O or timers) during one measured call: what the auto backend classes a
 * task by. Node measures it itself (`performance.eventLoopUtilization`). Bun
 * and Deno provide that function but it always answers zero, so there a timer
 * due every TICK_MS cuts the call into short spans, and a span counts as busy
 * when the thread ran in it (Linux) or when the timer fired late (elsewhere:
 * a loop that was waiting runs it on time, a busy one late by as long as it
 * was busy).
 */
export interface LoopActivity {
  /** Busy milliseconds since the start; call once, when the call has settled. */
  stop(): number;
}

/**
 * Small enough that a task awaiting between short bursts of computing shows
 * its bursts; large enough that the timer's own wake-ups stay far below the
 * shares auto decides by.
 */
const TICK_MS = 2;
/**
 * Lateness up to this is the timer's own jitter, not work: Deno fires a timer
 * up to a millisecond late on an idle loop.
 */
const JITTER_MS = 1;
/**
 * Where Linux tells how long this thread ran and how long it waited for a
 * core (schedstat), a tick counts the thread's own time instead of its
 * lateness: a loaded machine also wakes an idle thread late, and a fresh Deno
 * worker fires its first timer late, neither of which is the task's work. A
 * span counts only if the thread ran more than this in it: running the tick
 * takes a few hundredths of a millisecond, and Deno's own timer and promise
 * work in a worker that only waits up to about one (measured on Deno 2.9).
 * A call shorter than this is not worth a thread anyway.
 */
const RAN_MS = 1;

let measuredByRuntime: boolean | undefined;

export function startLoopActivity(): LoopActivity {
  // Asked the first time a call is measured: by then the loop has run, so a real measure is above zero.
  if (measuredByRuntime === undefined) {
    const sofar = performance.eventLoopUtilization();
    measuredByRuntime = sofar.idle > 0 || sofar.active > 0;
  }
  return measuredByRuntime ? new RuntimeMeasure() : new LateTimer();
}

class RuntimeMeasure implements LoopActivity {
  readonly #start = performance.eventLoopUtilization();
  stop(): number {
    return performance.eventLoopUtilization(this.#start).active;
  }
}

class LateTimer implements LoopActivity {
  #busy = 0;
  #last = performance.now();
  #sched = threadSchedule();
  #timer: ReturnType<typeof setTimeout>;

  constructor() {
    // Not unref'd: an unref'd timer in a Deno worker waits for something else to wake the loop.
    this.#timer = setTimeout(this.#tick, TICK_MS);
  }

  readonly #tick = (): void => {
    this.#count();
    this.#timer = setTimeout(this.#tick, TICK_MS);
  };

  #count(): void {
    const now = performance.now();
    const sched = threadSchedule();
    const span = now - this.#last;
    if (sched === undefined || this.#sched === undefined) {
      const late = span - TICK_MS - JITTER_MS;
      if (late > 0) this.#busy += late;
    } else {
      const ran = sched.runMs - this.#sched.runMs;
      // While the loop is busy, its waits for a core count too, as in Node's own measure.
      if (ran > RAN_MS) this.#busy += Math.min(span, ran + sched.waitMs - this.#sched.waitMs);
    }
    this.#last = now;
    this.#sched = sched;
  }

  stop(): number {
    clearTimeout(this.#timer);
    this.#count();
    return this.#busy;
  }
}

let schedstat = process.platform === 'linux';

/** How long this thread has run and waited to run, ms (Linux's schedstat counts ns), or undefined where it cannot be read. */
function threadSchedule(): { runMs: number; waitMs: number } | undefined {
  if (!schedstat) return undefined;
  try {
    const [run, wait] = readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ');
    return { runMs: Number(run) / 1e6, waitMs: Number(wait) / 1e6 };
  } catch {
    schedstat = false;
    return undefined;
  }
}

// A fresh Deno worker spends milliseconds setting up the first file read and
// the first timer it fires: done as the worker starts, they are not counted
// as the first measured call's work.
if (process.versions.deno !== undefined) {
  threadSchedule();
  setTimeout(() => {}, 0);
}
