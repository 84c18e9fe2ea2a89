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
