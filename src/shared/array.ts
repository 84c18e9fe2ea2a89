import { InvalidOptionError } from '../errors.js';
import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import { Cells, checkType, type CellsState, type ElementOf, type SharedNumberType, type ViewOf } from './cells.js';

const KIND = 'tandem.SharedArray';

/**
 * A fixed-length array of numbers in shared memory (Python's
 * `multiprocessing.Array`). `view` is a plain typed array over it, for fast
 * unsynchronised access (each thread writing its own slice, say); the methods
 * are atomic per element.
 *
 * @example
 * ```ts
 * const histogram = new SharedArray('uint32', 256);
 * await pool.starmap(countBytes, files.map((file) => [file, histogram]));
 * console.log(histogram.view);
 * ```
 */
export class SharedArray<T extends SharedNumberType = SharedNumberType> implements Shareable, Iterable<ElementOf<T>> {
  readonly #cells: Cells<T>;

  /** `values`: a length (all zeros) or initial contents. */
  constructor(type: T, values: number | ArrayLike<ElementOf<T>>);
  /** @internal Over the memory of an existing array: see {@link SharedArray.fromShared}. */
  constructor(type: T, values: 0, shared: SharedArrayBuffer);
  constructor(type: T, values: number | ArrayLike<ElementOf<T>>, shared?: SharedArrayBuffer) {
    checkType(type);
    if (shared) {
      this.#cells = new Cells(type, shared);
      return;
    }
    const length = typeof values === 'number' ? values : values?.length;
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) {
      throw new InvalidOptionError('values', values, 'a length (an integer >= 0) or an array of initial values');
    }
    this.#cells = new Cells(type, new SharedArrayBuffer(Cells.bytes(type, length)));
    if (typeof values !== 'number') (this.#cells.view as unknown as { set(v: ArrayLike<ElementOf<T>>): void }).set(values);
  }

  /** @internal The same array, over the memory its `[encodeShared]()` state holds (how it arrives in a worker). */
  static fromShared(state: unknown): SharedArray {
    const { type, buffer } = state as CellsState;
    return new SharedArray(type, 0, buffer);
  }

  /** The element type it was made with. */
  get type(): T {
    return this.#cells.type;
  }

  /** The typed array over the shared memory (not atomic: see load/store). */
  get view(): ViewOf<T> {
    return this.#cells.view;
  }

  /** Number of elements (fixed). */
  get length(): number {
    return this.#cells.view.length;
  }

  /** Reads an element atomically. */
  load(index: number): ElementOf<T> {
    return this.#cells.load(this.#check(index));
  }

  /** Writes an element atomically. */
  store(index: number, value: ElementOf<T>): void {
    this.#cells.store(this.#check(index), value);
  }

  /** Adds atomically; returns the element's value before. */
  add(index: number, delta: ElementOf<T>): ElementOf<T> {
    return this.#cells.add(this.#check(index), delta);
  }

  /** Writes an element atomically; returns its value before. */
  exchange(index: number, value: ElementOf<T>): ElementOf<T> {
    return this.#cells.exchange(this.#check(index), value);
  }

  /** Writes `replacement` only if the element equals `expected`, atomically; returns its value before. */
  compareExchange(index: number, expected: ElementOf<T>, replacement: ElementOf<T>): ElementOf<T> {
    return this.#cells.compareExchange(this.#check(index), expected, replacement);
  }

  /** A plain (non-shared) copy of the contents. */
  toArray(): ElementOf<T>[] {
    return Array.from(this.#cells.view as unknown as ArrayLike<ElementOf<T>>);
  }

  /** The elements, each read atomically, in index order. */
  *[Symbol.iterator](): Iterator<ElementOf<T>> {
    for (let i = 0; i < this.length; i++) yield this.#cells.load(i);
  }

  #check(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new InvalidOptionError('index', index, `an integer from 0 to ${this.length - 1}`);
    }
    return index;
  }

  [encodeShared](): SharedState {
    const state: CellsState = { type: this.type, buffer: this.#cells.view.buffer as SharedArrayBuffer };
    return { kind: KIND, state };
  }
}

registerShareable(KIND, SharedArray.fromShared);
