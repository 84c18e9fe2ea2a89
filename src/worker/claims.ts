/**
 * Claims: how a call sent ahead to a busy worker is taken back, exactly, even
 * while the worker is deep in a long synchronous call and reads no message.
 *
 * Every call a worker receives has a ticket: its number in the order the
 * worker receives calls. A shared Int32Array holds one word per ticket (modulo
 * its length) that moves, by compare-and-swap, from "pending" to either
 * "started" (the worker, just before it runs the call) or "taken" (whoever
 * takes it back: the pool itself for a thread worker, which shares its
 * memory; for a child process, a small keeper thread inside the child, which
 * shares the child's memory and answers the pool over a pipe of its own). Only
 * one of the two can win, so a call taken back never runs, and a call that
 * runs is never taken back.
 *
 * A call may be taken back before its frame has even reached the worker: the
 * word then says "taken" for that ticket when the frame arrives, and the
 * worker drops it. Words hold the ticket they are about, so a word left over
 * from an older ticket on the same slot is never mistaken for this one.
 *
 * The functions below are self-contained (no imports, no outer names): the
 * process keeper thread runs their source as it is.
 */

/**
 * The environment variable by which a pool tells a child process the file
 * descriptor of the side pipe to its keeper thread (removed by the child
 * before any task module loads).
 */
export const SIDE_FD_ENV = 'TANDEM_SIDE_FD';

/** An answer on the side pipe: the ticket and 1 (taken) or 0 (it had started), two float64s. */
export const SIDE_RECORD_BYTES = 16;
/**
 * The ticket of a child's last words on the side pipe (no take-back has it):
 * the record's second number is the length of the V8-serialized batch that
 * follows. Used where the channel cannot be written from an 'exit' listener.
 */
export const LAST_WORDS_TICKET = -1;
/**
 * The ticket of a rescue record on the side pipe: copies of results the
 * child's main thread holds while it is stuck in a call (src/worker/rescue.ts),
 * sent by its keeper thread; the second number is their length in bytes.
 */
export const RESCUE_TICKET = -2;

/** Words per worker: more than the calls one worker may hold at once (the pool keeps below half of it). */
export const CLAIM_SLOTS = 1 << 14;

/** The worker received call `ticket`: marks it pending; false if it was taken back before it arrived. */
export function claimArrived(claims: Int32Array, ticket: number): boolean {
  const slot = ticket & ((1 << 14) - 1);
  const t = ticket & 0x1fffffff;
  for (;;) {
    const word = Atomics.load(claims, slot);
    if (word === -t - 1) return false;
    if (Atomics.compareExchange(claims, slot, word, 2 * t + 1) === word) return true;
  }
}

/** The worker is about to run call `ticket`: false if it was taken back. */
export function claimStart(claims: Int32Array, ticket: number): boolean {
  const t = ticket & 0x1fffffff;
  return Atomics.compareExchange(claims, ticket & ((1 << 14) - 1), 2 * t + 1, 2 * t + 2) === 2 * t + 1;
}

/** Takes back call `ticket` unless it has started: true if it will never run. */
export function claimTakeBack(claims: Int32Array, ticket: number): boolean {
  const slot = ticket & ((1 << 14) - 1);
  const t = ticket & 0x1fffffff;
  for (;;) {
    const word = Atomics.load(claims, slot);
    if (word === 2 * t + 2) return false;
    if (word === -t - 1) return true;
    // Pending, or a word of an older ticket: its frame has not arrived yet.
    if (Atomics.compareExchange(claims, slot, word, -t - 1) === word) return true;
  }
}

/** Whether call `ticket` has started (for a dead thread's calls: read after it exited). */
export function claimStarted(claims: Int32Array, ticket: number): boolean {
  return Atomics.load(claims, ticket & ((1 << 14) - 1)) === 2 * (ticket & 0x1fffffff) + 2;
}
