/**
 * performance.now(), read at most once per tick: the calls submitted in one
 * synchronous loop share one timestamp instead of paying a clock read each
 * (bench "submit 100k trivial"). Good enough for latency percentiles, which
 * is all it is used for.
 */
let cached = -1;
const forget = (): void => {
  cached = -1;
};

export function tickNow(): number {
  if (cached < 0) {
    cached = performance.now();
    queueMicrotask(forget);
  }
  return cached;
}

/**
 * The longest delay setTimeout takes (2^31 - 1 ms, about 24.8 days); a longer
 * one fires at once with a TimeoutOverflowWarning. Timers that may be longer
 * are armed for at most this and re-armed when they fire early.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay setTimeout accepts as it is. */
export function timerDelay(ms: number): number {
  return ms > MAX_TIMER_MS ? MAX_TIMER_MS : ms < 0 ? 0 : ms;
}
