import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import {
  assertMayBlock,
  deadlineOf,
  remaining,
  runAsync,
  runBlocking,
  sleepOn,
  type AsyncWaitOptions,
  type SyncWaitOptions,
  type WaitLoop,
} from './wait.js';

// One word: generation << 1 | flag. set() raises the flag and starts a new
// generation; clear() only lowers the flag. A waiter remembers the word it
// saw: any change means a set() happened since, even one that clear() undid
// before the waiter woke, and then it returns true, as Python's does.
const STATE = 0;
const FLAG = 1;
const KIND = 'tandem.Event';

/**
 * A flag in shared memory that threads wait for (Python's `threading.Event`):
 * set() wakes every waiter, clear() makes waits block again. A wait returns
 * true if the flag was set at any moment while it waited, even when clear()
 * followed at once.
 *
 * @example
 * ```ts
 * const ready = new Event();
 * const worker = pool.run(warmUp, ready);          // the task calls ready.set()
 * if (!(await ready.wait({ timeout: 5_000 }))) throw new Error('warm-up took too long');
 * ```
 */
export class Event implements Shareable {
  readonly #words: Int32Array;

  constructor();
  /** @internal Over the memory of an existing event: see {@link Event.fromShared}. */
  constructor(shared: SharedArrayBuffer);
  constructor(shared?: SharedArrayBuffer) {
    this.#words = new Int32Array(shared ?? new SharedArrayBuffer(4));
  }

  /** @internal The same event, over the memory its `[encodeShared]()` state holds (how it arrives in a worker). */
  static fromShared(state: unknown): Event {
    return new Event(state as SharedArrayBuffer);
  }

  /** Whether the flag is set. */
  isSet(): boolean {
    return (Atomics.load(this.#words, STATE) & FLAG) === FLAG;
  }

  /** Sets the flag and wakes every waiter. */
  set(): void {
    const words = this.#words;
    for (let seen = Atomics.load(words, STATE); (seen & FLAG) === 0; seen = Atomics.load(words, STATE)) {
      // The next generation, flag raised (`|` wraps the generation within the int32 word).
      if (Atomics.compareExchange(words, STATE, seen, (seen + 2) | FLAG) === seen) {
        Atomics.notify(words, STATE);
        return;
      }
    }
  }

  /** Clears the flag: waits block again until the next set(). */
  clear(): void {
    Atomics.and(this.#words, STATE, ~FLAG);
  }

  /** Waits until the flag is set; resolves false if `timeout` passed first. */
  async wait(options: AsyncWaitOptions = {}): Promise<boolean> {
    const deadline = deadlineOf(options.timeout);
    return this.isSet() || runAsync(this.#waitLoop(deadline, options.signal));
  }

  /** Blocking form of wait(), for workers. */
  waitSync(options: SyncWaitOptions = {}): boolean {
    assertMayBlock('event.waitSync()');
    const deadline = deadlineOf(options.timeout);
    return this.isSet() || runBlocking(this.#waitLoop(deadline, undefined));
  }

  *#waitLoop(deadline: number, signal: AbortSignal | undefined): WaitLoop<boolean> {
    const words = this.#words;
    const seen = Atomics.load(words, STATE);
    if ((seen & FLAG) === FLAG) return true;
    while (Atomics.load(words, STATE) === seen) {
      if (remaining(deadline) <= 0) return false;
      yield sleepOn(words, STATE, seen, deadline, signal, 'waiting for an Event');
    }
    return true;
  }

  [encodeShared](): SharedState {
    return { kind: KIND, state: this.#words.buffer };
  }
}

registerShareable(KIND, Event.fromShared);
