import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import { assertMayBlock, blockAsync, blockSync, deadlineOf, remaining, type SyncWaitOptions, type AsyncWaitOptions } from './wait.js';

const FLAG = 0;
const KIND = 'tandem.Event';
let adopting: SharedArrayBuffer | null = null;

/**
 * A flag in shared memory that threads wait for (Python's `threading.Event`):
 * set() wakes every waiter, clear() makes waits block again.
 */
export class Event implements Shareable {
  readonly #words: Int32Array;

  constructor() {
    this.#words = new Int32Array(adopting ?? new SharedArrayBuffer(4));
  }

  /** Whether the flag is set. */
  isSet(): boolean {
    return Atomics.load(this.#words, FLAG) === 1;
  }

  /** Sets the flag and wakes every waiter. */
  set(): void {
    if (Atomics.exchange(this.#words, FLAG, 1) === 0) Atomics.notify(this.#words, FLAG);
  }

  /** Clears the flag: waits block again until the next set(). */
  clear(): void {
    Atomics.store(this.#words, FLAG, 0);
  }

  /** Waits until the flag is set; resolves false if `timeout` passed first. */
  async wait(options: AsyncWaitOptions = {}): Promise<boolean> {
    const deadline = deadlineOf(options.timeout);
    while (!this.isSet()) {
      if (remaining(deadline) <= 0) return false;
      await blockAsync(this.#words, FLAG, 0, deadline, options.signal, 'waiting for an Event');
    }
    return true;
  }

  /** Blocking form of wait(), for workers. */
  waitSync(options: SyncWaitOptions = {}): boolean {
    assertMayBlock('event.waitSync()');
    if (this.isSet()) return true;
    const deadline = deadlineOf(options.timeout);
    while (!this.isSet()) {
      if (remaining(deadline) <= 0) return false;
      blockSync(this.#words, FLAG, 0, deadline);
    }
    return true;
  }

  [encodeShared](): SharedState {
    return { kind: KIND, state: this.#words.buffer };
  }
}

registerShareable(KIND, (buffer) => {
  adopting = buffer as SharedArrayBuffer;
  try {
    return new Event();
  } finally {
    adopting = null;
  }
});
