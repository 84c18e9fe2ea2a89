import { BrokenBarrierError, InvalidOptionError } from '../errors.js';
import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import { assertMayBlock, blockAsync, blockSync, deadlineOf, remaining, type SyncWaitOptions, type AsyncWaitOptions } from './wait.js';

const COUNT = 0; // arrived in this generation
const PHASE = 1; // generation << 1 | broken bit: the word waiters sleep on
const PARTIES = 2;
const KIND = 'tandem.Barrier';
let adopting: SharedArrayBuffer | null = null;

/** Options of {@link Barrier}. */
export interface BarrierOptions {
  /**
   * Called by the last thread to arrive, before the others are released. It
   * is a function, so it stays in the thread that created the barrier: it runs
   * only when that thread (with this object) arrives last. If it throws, the
   * barrier breaks.
   */
  action?: () => void;
}

/**
 * A meeting point for a fixed number of threads (Python's `threading.Barrier`):
 * each wait() returns once `parties` threads wait, then the barrier is ready
 * for the next round. A wait that times out breaks it, as does abort(); waiters
 * then get BrokenBarrierError until reset(). Barrier waits are not part of
 * deadlock detection.
 */
export class Barrier implements Shareable {
  readonly #words: Int32Array;
  readonly #action: (() => void) | undefined;

  constructor(parties: number, options: BarrierOptions = {}) {
    if (adopting) {
      this.#words = new Int32Array(adopting);
    } else {
      if (!Number.isInteger(parties) || parties < 1) throw new InvalidOptionError('parties', parties, 'an integer >= 1');
      this.#words = new Int32Array(new SharedArrayBuffer(12));
      this.#words[PARTIES] = parties;
    }
    this.#action = options.action;
  }

  /** Threads that must arrive for a round to pass. */
  get parties(): number {
    return this.#words[PARTIES];
  }

  /** Threads waiting in the current round. */
  get nWaiting(): number {
    return Atomics.load(this.#words, COUNT);
  }

  /** Whether the barrier is broken (see {@link Barrier.abort}); waits fail until reset(). */
  get broken(): boolean {
    return (Atomics.load(this.#words, PHASE) & 1) === 1;
  }

  /**
   * Waits for the other parties. Resolves to this thread's arrival index
   * (0 ... parties - 1, a different one for each). Throws BrokenBarrierError if
   * the barrier is or gets broken; a timeout breaks it for everyone.
   */
  async wait(options: AsyncWaitOptions = {}): Promise<number> {
    const deadline = deadlineOf(options.timeout);
    const { phase, index } = this.#arrive();
    if (index === this.parties - 1) return this.#complete(phase, index);
    try {
      for (;;) {
        const now = this.#check(phase);
        if (now !== phase) return index;
        if (remaining(deadline) <= 0) return this.#timedOut(phase, index);
        await blockAsync(this.#words, PHASE, phase, deadline, options.signal, 'waiting at a Barrier');
      }
    } catch (error) {
      if (!(error instanceof BrokenBarrierError)) this.#break(phase); // aborted: the others must not wait forever
      throw error;
    }
  }

  /** Blocking form of wait(), for workers. */
  waitSync(options: SyncWaitOptions = {}): number {
    assertMayBlock('barrier.waitSync()');
    const deadline = deadlineOf(options.timeout);
    const { phase, index } = this.#arrive();
    if (index === this.parties - 1) return this.#complete(phase, index);
    for (;;) {
      const now = this.#check(phase);
      if (now !== phase) return index;
      if (remaining(deadline) <= 0) return this.#timedOut(phase, index);
      blockSync(this.#words, PHASE, phase, deadline);
    }
  }

  /** Breaks the barrier: current and future waiters get BrokenBarrierError until reset(). */
  abort(): void {
    for (;;) {
      const phase = Atomics.load(this.#words, PHASE);
      if (phase & 1 || this.#break(phase)) return;
    }
  }

  /** Makes a broken (or busy) barrier usable again; threads waiting now get BrokenBarrierError. */
  reset(): void {
    this.abort();
    const phase = Atomics.load(this.#words, PHASE);
    Atomics.store(this.#words, COUNT, 0);
    Atomics.store(this.#words, PHASE, ((phase >> 1) + 1) << 1);
    Atomics.notify(this.#words, PHASE);
  }

  #arrive(): { phase: number; index: number } {
    const phase = Atomics.load(this.#words, PHASE);
    if (phase & 1) throw new BrokenBarrierError();
    return { phase, index: Atomics.add(this.#words, COUNT, 1) };
  }

  /** The current phase; throws if the round `phase` was broken. */
  #check(phase: number): number {
    const now = Atomics.load(this.#words, PHASE);
    if (now === (phase | 1)) throw new BrokenBarrierError('the barrier broke while this thread waited');
    return now;
  }

  #complete(phase: number, index: number): number {
    if (this.#action) {
      try {
        this.#action();
      } catch (error) {
        this.#break(phase);
        throw new BrokenBarrierError(`the barrier action threw (${error instanceof Error ? error.message : String(error)})`);
      }
    }
    Atomics.store(this.#words, COUNT, 0);
    if (Atomics.compareExchange(this.#words, PHASE, phase, phase + 2) !== phase) {
      throw new BrokenBarrierError('the barrier broke while this thread arrived');
    }
    Atomics.notify(this.#words, PHASE);
    return index;
  }

  #timedOut(phase: number, index: number): number {
    if (this.#break(phase)) {
      throw new BrokenBarrierError(`a wait at the barrier timed out (arrival ${index} of ${this.parties}), which broke it`);
    }
    this.#check(phase); // broken by another thread: throws
    return index; // the round completed just as this wait timed out
  }

  #break(phase: number): boolean {
    if (Atomics.compareExchange(this.#words, PHASE, phase, phase | 1) !== phase) return false;
    Atomics.notify(this.#words, PHASE);
    return true;
  }

  [encodeShared](): SharedState {
    return { kind: KIND, state: this.#words.buffer };
  }
}

registerShareable(KIND, (buffer) => {
  adopting = buffer as SharedArrayBuffer;
  try {
    return new Barrier(0);
  } finally {
    adopting = null;
  }
});
