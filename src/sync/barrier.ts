/**
 * A Barrier's state, in Int32 words of one SharedArrayBuffer.
 *
 * Each round has a record, like a generation object in Java's CyclicBarrier:
 * its state word (PENDING, then TRIPPED, RESET or BROKEN) that its waiters
 * sleep on, and how many waiters still hold it. A record is reused for a new
 * round only once its last waiter has read how its round ended, so a waiter
 * never mistakes a reset() for a trip, however late it wakes. (A waiter whose
 * worker is stopped keeps its record for good; the barrier works on while
 * any of the RECORDS is free.)
 *
 *   header   MUTEX    a spin mutex over everything below: an arrival, a trip,
 *                     a break and a reset each change several words at once
 *            COUNT    parties arrived in the current round
 *            CURRENT  record of the current round; NONE while every record is
 *                     still held by waiters of rounds that ended
 *            BROKEN   1 from a break until reset()
 *            FREED    bumped when a round gets a record after none was free:
 *                     arrivals that found none sleep on it
 *            PARTIES
 *   records  RECORDS x [state, holders]
 */
import { BrokenBarrierError, InvalidOptionError } from '../errors.js';
import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import { lockSpin, unlockSpin } from './spin-mutex.js';
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

const MUTEX = 0;
const COUNT = 1;
const CURRENT = 2;
const BROKEN = 3;
const FREED = 4;
const PARTIES = 5;
const FIRST_RECORD = 8;
/** Rounds whose waiters have not all woken yet, at once; one more arrival then waits for a record to free. */
const RECORDS = 64;
const WORDS = FIRST_RECORD + RECORDS * 2;

const PENDING = 1;
const TRIPPED = 2;
const RESET = 3;
const ENDED_BROKEN = 4;

const NONE = -1;
/** Arrival index when the round is already full (its action runs): the thread joins the next round. */
const FULL = -1;

const KIND = 'tandem.Barrier';

const stateOf = (record: number): number => FIRST_RECORD + record * 2;
const holdersOf = (record: number): number => FIRST_RECORD + record * 2 + 1;

/** One wait at the barrier: the round record it holds (NONE before arriving) and where it sleeps next. */
interface Ticket {
  record: number;
  index: number;
  word: number;
  expected: number;
}

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
 *
 * @example
 * ```ts
 * const barrier = new Barrier(4);
 * // each task calls barrier.waitSync() between the steps of a simulation
 * await Promise.all([0, 1, 2, 3].map((part) => pool.run(simulate, part, barrier)));
 * ```
 */
export class Barrier implements Shareable {
  readonly #words: Int32Array;
  readonly #action: (() => void) | undefined;

  constructor(parties: number, options?: BarrierOptions);
  /** @internal Over the memory of an existing barrier: see {@link Barrier.fromShared}. */
  constructor(parties: number, options: BarrierOptions, shared: SharedArrayBuffer);
  constructor(parties: number, options: BarrierOptions = {}, shared?: SharedArrayBuffer) {
    if (shared) {
      this.#words = new Int32Array(shared);
    } else {
      if (!Number.isInteger(parties) || parties < 1) throw new InvalidOptionError('parties', parties, 'an integer >= 1');
      this.#words = new Int32Array(new SharedArrayBuffer(WORDS * 4));
      this.#words[PARTIES] = parties;
      this.#words[CURRENT] = 0;
      this.#words[stateOf(0)] = PENDING;
    }
    this.#action = options.action;
  }

  /** @internal The same barrier (without its action), over the memory its `[encodeShared]()` state holds (how it arrives in a worker). */
  static fromShared(state: unknown): Barrier {
    return new Barrier(0, {}, state as SharedArrayBuffer);
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
    return Atomics.load(this.#words, BROKEN) === 1;
  }

  /**
   * Waits for the other parties. Resolves to this thread's arrival index
   * (0 ... parties - 1, a different one for each). Throws BrokenBarrierError if
   * the barrier is or gets broken, or is reset while this thread waits; a
   * timeout breaks it for everyone.
   */
  async wait(options: AsyncWaitOptions = {}): Promise<number> {
    return runAsync(this.#waitLoop(deadlineOf(options.timeout), options.signal));
  }

  /** Blocking form of wait(), for workers. */
  waitSync(options: SyncWaitOptions = {}): number {
    assertMayBlock('barrier.waitSync()');
    return runBlocking(this.#waitLoop(deadlineOf(options.timeout), undefined));
  }

  *#waitLoop(deadline: number, signal: AbortSignal | undefined): WaitLoop<number> {
    const ticket: Ticket = { record: NONE, index: 0, word: 0, expected: 0 };
    try {
      while (!this.#advance(ticket, deadline))
        yield sleepOn(this.#words, ticket.word, ticket.expected, deadline, signal, 'waiting at a Barrier');
    } catch (error) {
      // Aborted: the others of its round must not wait forever for it.
      if (ticket.record !== NONE) this.#leave(ticket, true);
      throw error;
    }
    return ticket.index;
  }

  /** Breaks the barrier: current and future waiters get BrokenBarrierError until reset(). */
  abort(): void {
    this.#break(NONE);
  }

  /**
   * Makes the barrier new: broken or not, the current round ends, and the
   * threads waiting in it get BrokenBarrierError (as in Python); threads that
   * arrive afterwards meet in a fresh round.
   */
  reset(): void {
    const words = this.#words;
    lockSpin(words, MUTEX);
    Atomics.store(words, BROKEN, 0);
    const record = Atomics.load(words, CURRENT);
    if (record !== NONE) this.#endRound(record, Atomics.load(words, stateOf(record)) === PENDING ? RESET : ENDED_BROKEN);
    unlockSpin(words, MUTEX);
    if (record !== NONE) Atomics.notify(words, stateOf(record));
  }

  /**
   * Takes a wait one step: true once it passed (ticket.index is its result);
   * false to sleep on ticket.word while it holds ticket.expected. Throws
   * BrokenBarrierError when the round broke or was reset, or the wait timed out.
   */
  #advance(ticket: Ticket, deadline: number): boolean {
    const words = this.#words;
    for (;;) {
      if (ticket.record === NONE) {
        if (!this.#arrive(ticket)) {
          if (remaining(deadline) > 0) return false;
          this.abort(); // a timed-out wait breaks the barrier, even one that never got into a round
          throw new BrokenBarrierError('a wait at the barrier timed out before a round was free, which broke it');
        }
        if (ticket.index === this.parties - 1) return this.#complete(ticket);
      }
      let ended = Atomics.load(words, stateOf(ticket.record));
      if (ended === PENDING) {
        if (remaining(deadline) > 0) {
          ticket.word = stateOf(ticket.record);
          ticket.expected = PENDING;
          return false;
        }
        const index = ticket.index;
        ended = this.#leave(ticket, true);
        if (ended === PENDING) {
          if (index === FULL) this.abort();
          throw new BrokenBarrierError(`a wait at the barrier timed out (arrival ${index} of ${this.parties}), which broke it`);
        }
      } else {
        this.#leave(ticket, false);
      }
      if (ticket.index === FULL) continue; // its round was the one before: arrive again
      if (ended === TRIPPED) return true;
      throw new BrokenBarrierError(
        ended === RESET ? 'the barrier was reset while this thread waited' : 'the barrier broke while this thread waited',
      );
    }
  }

  /** Joins the current round (ticket.record, ticket.index); false if no record is free (sleep on FREED). */
  #arrive(ticket: Ticket): boolean {
    const words = this.#words;
    lockSpin(words, MUTEX);
    if (Atomics.load(words, BROKEN) === 1) {
      unlockSpin(words, MUTEX);
      throw new BrokenBarrierError();
    }
    const record = Atomics.load(words, CURRENT);
    if (record === NONE) {
      ticket.word = FREED;
      ticket.expected = Atomics.load(words, FREED);
      unlockSpin(words, MUTEX);
      return false;
    }
    const parties = words[PARTIES];
    const count = Atomics.load(words, COUNT);
    if (count < parties) Atomics.store(words, COUNT, count + 1);
    // Every arrival but the last holds the record until it has read how the round ended.
    if (count !== parties - 1) Atomics.add(words, holdersOf(record), 1);
    unlockSpin(words, MUTEX);
    ticket.record = record;
    ticket.index = count < parties ? count : FULL;
    return true;
  }

  /** The last arrival: runs the action, then trips the round (unless it broke or was reset meanwhile). */
  #complete(ticket: Ticket): boolean {
    const record = ticket.record;
    ticket.record = NONE;
    if (this.#action) {
      try {
        this.#action();
      } catch (error) {
        this.#break(record);
        throw new BrokenBarrierError(`the barrier action threw (${error instanceof Error ? error.message : String(error)})`);
      }
    }
    const words = this.#words;
    lockSpin(words, MUTEX);
    const trips = Atomics.load(words, CURRENT) === record && Atomics.load(words, stateOf(record)) === PENDING;
    if (trips) this.#endRound(record, TRIPPED);
    unlockSpin(words, MUTEX);
    if (!trips) throw new BrokenBarrierError('the barrier broke while this thread arrived');
    Atomics.notify(words, stateOf(record));
    return true;
  }

  /**
   * Lets go of the ticket's record; returns how its round ended (PENDING: not
   * yet, and then, with `breakIfPending`, this broke it). The last holder of a
   * record hands it to the next round if that round is waiting for one.
   */
  #leave(ticket: Ticket, breakIfPending: boolean): number {
    const words = this.#words;
    const record = ticket.record;
    ticket.record = NONE;
    lockSpin(words, MUTEX);
    const ended = Atomics.load(words, stateOf(record));
    const breaks = ended === PENDING && breakIfPending && ticket.index !== FULL;
    if (breaks) {
      Atomics.store(words, BROKEN, 1);
      Atomics.store(words, stateOf(record), ENDED_BROKEN);
    }
    const freed = Atomics.sub(words, holdersOf(record), 1) === 1 && Atomics.load(words, CURRENT) === NONE;
    if (freed) this.#startRound(record);
    unlockSpin(words, MUTEX);
    if (breaks) Atomics.notify(words, stateOf(record));
    if (freed) Atomics.notify(words, FREED);
    return ended;
  }

  /** Under the mutex: ends the round of `record` and starts the next one, in a record no waiter holds. */
  #endRound(record: number, ended: number): void {
    const words = this.#words;
    Atomics.store(words, stateOf(record), ended);
    Atomics.store(words, COUNT, 0);
    Atomics.store(words, CURRENT, NONE);
    for (let i = 1; i <= RECORDS; i++) {
      const next = (record + i) % RECORDS;
      if (Atomics.load(words, holdersOf(next)) === 0) {
        this.#startRound(next);
        return;
      }
    }
  }

  /** Under the mutex: makes `record` the current round's. */
  #startRound(record: number): void {
    const words = this.#words;
    Atomics.store(words, stateOf(record), PENDING);
    Atomics.store(words, COUNT, 0);
    Atomics.store(words, CURRENT, record);
    Atomics.add(words, FREED, 1);
  }

  /** Breaks the round of `record` if it is still the current one and going (NONE: whatever the current round). */
  #break(record: number): void {
    const words = this.#words;
    lockSpin(words, MUTEX);
    const current = Atomics.load(words, CURRENT);
    const breaks = Atomics.load(words, BROKEN) === 0 && (record === NONE || record === current);
    const endsRound = breaks && current !== NONE && Atomics.load(words, stateOf(current)) === PENDING;
    if (breaks) Atomics.store(words, BROKEN, 1);
    if (endsRound) Atomics.store(words, stateOf(current), ENDED_BROKEN);
    if (breaks) Atomics.add(words, FREED, 1); // arrivals waiting for a record wake to see it broken
    unlockSpin(words, MUTEX);
    if (endsRound) Atomics.notify(words, stateOf(current));
    if (breaks) Atomics.notify(words, FREED);
  }

  [encodeShared](): SharedState {
    return { kind: KIND, state: this.#words.buffer };
  }
}

registerShareable(KIND, Barrier.fromShared);
