/**
 * setTimeout for delays of any length. Node's timers hold at most 2^31 - 1 ms
 * (about 24.8 days): a longer delay fires after 1 ms instead, with a
 * TimeoutOverflowWarning. A longer timer here sleeps in steps of at most that
 * and fires at its time.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `callback` once, `ms` milliseconds from now (Infinity: never), keeping
 * the event loop alive until then. Returns the function that cancels it.
 */
export function setLongTimeout(callback: () => void, ms: number): () => void {
  if (ms === Infinity) return noop;
  const due = performance.now() + ms;
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const left = due - performance.now();
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(callback, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}

/**
 * A delay setTimeout takes as it is, for timers that re-arm themselves when
 * they fire early (the pool's deadline heap and idle timers).
 */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(ms, 0), MAX_TIMER_MS);
}

function noop(): void {}
