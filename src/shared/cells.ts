/**
 * Atomic access to the elements of a typed array over shared memory, for every
 * element type SharedValue and SharedArray offer. Integer types use Atomics
 * directly; float64 elements are read, written and updated through their bit
 * pattern (a BigInt64Array over the same memory), so add and compareExchange
 * stay lock-free for them too (compareExchange compares bit patterns).
 */
import { InvalidOptionError } from '../errors.js';

/** The typed array over a SharedArray's memory, for each element type (see {@link SharedArray.view}). */
export interface SharedViews {
  /** Signed 8-bit integers. */
  int8: Int8Array;
  /** Unsigned 8-bit integers. */
  uint8: Uint8Array;
  /** Signed 16-bit integers. */
  int16: Int16Array;
  /** Unsigned 16-bit integers. */
  uint16: Uint16Array;
  /** Signed 32-bit integers. */
  int32: Int32Array;
  /** Unsigned 32-bit integers. */
  uint32: Uint32Array;
  /** Signed 64-bit integers, as bigint. */
  bigint64: BigInt64Array;
  /** Unsigned 64-bit integers, as bigint. */
  biguint64: BigUint64Array;
  /** 64-bit floats (updated atomically through their bit pattern). */
  float64: Float64Array;
}

/** Element types of SharedValue and SharedArray. */
export type SharedNumberType = keyof SharedViews;
/** The JavaScript type of an element: bigint for the 64-bit integer types, number otherwise. */
export type ElementOf<T extends SharedNumberType> = T extends 'bigint64' | 'biguint64' ? bigint : number;
/** The typed array of an element type, e.g. Int32Array for 'int32'. */
export type ViewOf<T extends SharedNumberType> = SharedViews[T];

// Typed by hand, not `typeof CONSTRUCTORS`: the public types then name the element types themselves.
const CONSTRUCTORS: {
  readonly [K in SharedNumberType]: { new (buffer: SharedArrayBuffer): SharedViews[K]; readonly BYTES_PER_ELEMENT: number };
} = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  bigint64: BigInt64Array,
  biguint64: BigUint64Array,
  float64: Float64Array,
};

type IntegerArray = Int32Array; // Atomics' signatures, for every integer array (cast)

// Per-thread scratch for float64 <-> bits conversions.
const scratchFloat = new Float64Array(1);
const scratchBits = new BigInt64Array(scratchFloat.buffer);

function toBits(value: number): bigint {
  scratchFloat[0] = value;
  return scratchBits[0];
}

function fromBits(bits: bigint): number {
  scratchBits[0] = bits;
  return scratchFloat[0];
}

export function checkType(type: unknown): asserts type is SharedNumberType {
  if (typeof type !== 'string' || !Object.hasOwn(CONSTRUCTORS, type)) {
    throw new InvalidOptionError(
      'type',
      type,
      `one of ${Object.keys(CONSTRUCTORS)
        .map((name) => `'${name}'`)
        .join(', ')}`,
    );
  }
}

/** What a SharedValue or SharedArray crosses to a thread worker as (see src/shareable.ts). */
export interface CellsState {
  type: SharedNumberType;
  buffer: SharedArrayBuffer;
}

export class Cells<T extends SharedNumberType> {
  readonly type: T;
  readonly view: ViewOf<T>;
  readonly #ints: IntegerArray;
  readonly #bits: BigInt64Array | null;

  constructor(type: T, buffer: SharedArrayBuffer) {
    checkType(type);
    this.type = type;
    const Constructor = CONSTRUCTORS[type] as new (buffer: SharedArrayBuffer) => ViewOf<T>;
    this.view = new Constructor(buffer);
    this.#bits = type === 'float64' ? new BigInt64Array(buffer as unknown as ArrayBuffer) : null;
    this.#ints = this.view as unknown as IntegerArray;
  }

  static bytes(type: SharedNumberType, length: number): number {
    if (!Number.isInteger(length) || length < 0) throw new InvalidOptionError('length', length, 'an integer >= 0');
    return CONSTRUCTORS[type].BYTES_PER_ELEMENT * length;
  }

  load(index: number): ElementOf<T> {
    if (this.#bits) return fromBits(Atomics.load(this.#bits, index)) as ElementOf<T>;
    return Atomics.load(this.#ints, index) as ElementOf<T>;
  }

  store(index: number, value: ElementOf<T>): void {
    if (this.#bits) Atomics.store(this.#bits, index, toBits(value as number));
    else Atomics.store(this.#ints, index, value as number);
  }

  exchange(index: number, value: ElementOf<T>): ElementOf<T> {
    if (this.#bits) return fromBits(Atomics.exchange(this.#bits, index, toBits(value as number))) as ElementOf<T>;
    return Atomics.exchange(this.#ints, index, value as number) as ElementOf<T>;
  }

  compareExchange(index: number, expected: ElementOf<T>, replacement: ElementOf<T>): ElementOf<T> {
    if (this.#bits) {
      const previous = Atomics.compareExchange(this.#bits, index, toBits(expected as number), toBits(replacement as number));
      return fromBits(previous) as ElementOf<T>;
    }
    return Atomics.compareExchange(this.#ints, index, expected as number, replacement as number) as ElementOf<T>;
  }

  add(index: number, delta: ElementOf<T>): ElementOf<T> {
    const bits = this.#bits;
    if (!bits) return Atomics.add(this.#ints, index, delta as number) as ElementOf<T>;
    for (;;) {
      const old = Atomics.load(bits, index);
      const next = toBits(fromBits(old) + (delta as number));
      if (Atomics.compareExchange(bits, index, old, next) === old) return fromBits(old) as ElementOf<T>;
    }
  }
}
