import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import { Cells, checkType, type CellsState, type ElementOf, type SharedNumberType } from './cells.js';

const KIND = 'tandem.SharedValue';

/**
 * One number in shared memory (Python's `multiprocessing.Value`, without the
 * lock: every operation is atomic on its own). For updates made of several
 * steps, hold a Lock.
 *
 * @example
 * ```ts
 * const hits = new SharedValue('int32', 0);
 * await pool.starmap(crawl, urls.map((url) => [url, hits]));
 * console.log(hits.value);
 * ```
 */
export class SharedValue<T extends SharedNumberType = SharedNumberType> implements Shareable {
  readonly #cells: Cells<T>;

  constructor(type: T, initial?: ElementOf<T>);
  /** @internal Over the memory of an existing value: see {@link SharedValue.fromShared}. */
  constructor(type: T, initial: undefined, shared: SharedArrayBuffer);
  constructor(type: T, initial?: ElementOf<T>, shared?: SharedArrayBuffer) {
    checkType(type);
    this.#cells = new Cells(type, shared ?? new SharedArrayBuffer(Cells.bytes(type, 1)));
    if (!shared && initial !== undefined) this.#cells.store(0, initial);
  }

  /** @internal The same value, over the memory its `[encodeShared]()` state holds (how it arrives in a worker). */
  static fromShared(state: unknown): SharedValue {
    const { type, buffer } = state as CellsState;
    return new SharedValue(type, undefined, buffer);
  }

  /** The element type it was made with. */
  get type(): T {
    return this.#cells.type;
  }

  /** The value now (an atomic load); assigning stores atomically. */
  get value(): ElementOf<T> {
    return this.#cells.load(0);
  }
  /** Stores atomically. */
  set value(value: ElementOf<T>) {
    this.#cells.store(0, value);
  }

  /** Adds `delta` atomically; returns the value before, like Atomics.add. */
  add(delta: ElementOf<T>): ElementOf<T> {
    return this.#cells.add(0, delta);
  }

  /** Subtracts `delta` atomically; returns the value before. */
  sub(delta: ElementOf<T>): ElementOf<T> {
    return this.#cells.add(0, -delta as ElementOf<T>);
  }

  /** Stores `value`; returns the value before. */
  exchange(value: ElementOf<T>): ElementOf<T> {
    return this.#cells.exchange(0, value);
  }

  /** Stores `replacement` if the value is `expected`; returns the value before (equal to `expected` when it stored). */
  compareExchange(expected: ElementOf<T>, replacement: ElementOf<T>): ElementOf<T> {
    return this.#cells.compareExchange(0, expected, replacement);
  }

  [encodeShared](): SharedState {
    const state: CellsState = { type: this.type, buffer: this.#cells.view.buffer as SharedArrayBuffer };
    return { kind: KIND, state };
  }
}

registerShareable(KIND, SharedValue.fromShared);
