/**
 * SharedQueue: a bounded multi-producer multi-consumer FIFO in one
 * SharedArrayBuffer. Values are encoded (./codec.ts: a fast path for small
 * plain values, else node:v8, the structured clone format postMessage uses)
 * into a byte ring:
 *
 *   header (Int32 words, one 64-byte line per side)     ring (bytes)
 *   producers: [put mutex, tail]                        ... [len:4][bytes] [len:4][bytes] ...
 *   consumers: [get mutex, head]                             ^head                  ^tail
 *   shared:    [used bytes, count, closed, ...]
 *   wake-ups:  [notEmpty seq, getters, notFull seq, putters]
 *
 * A two-lock queue: producers serialize on their mutex and write past the
 * tail, consumers on theirs and read at the head, so a producer and a consumer
 * never wait for each other. A producer publishes a value by incrementing
 * `count` after writing it; a consumer frees its bytes by decrementing `used`
 * after reading them (Atomics order the plain ring accesses). Encoding and
 * decoding happen outside both mutexes. A side about to sleep registers in
 * `getters`/`putters` and checks again; the other side bumps the sequence word
 * and notifies only when someone is registered, so a queue that never fills or
 * empties costs no wake-ups.
 */
import { InvalidOptionError, QueueClosedError, SerializationError, SyncTimeoutError } from '../errors.js';
import { Encoder, decode } from './codec.js';
import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import { lockSpin, unlockSpin } from '../sync/spin-mutex.js';
import {
  assertMayBlock,
  checkTimeout,
  deadlineOf,
  remaining,
  runAsync,
  runBlocking,
  sleepOn,
  type AsyncWaitOptions,
  type SyncWaitOptions,
  type WaitLoop,
} from '../sync/wait.js';

const PUT_MUTEX = 0;
const TAIL = 1;
const GET_MUTEX = 16;
const HEAD = 17;
const USED = 32;
const COUNT = 33;
const CLOSED = 34;
const CAPACITY = 35;
const MAX_SIZE = 36;
const NOT_EMPTY = 48;
const GETTERS = 49;
const NOT_FULL = 50;
const PUTTERS = 51;
const HEADER_BYTES = 64 * 4;
const LENGTH_BYTES = 4;

const KIND = 'tandem.SharedQueue';
// Per thread: values are encoded into, and read out of, reused buffers.
const encoder = new Encoder();
let readBuffer = Buffer.allocUnsafe(256);
const EMPTY = Symbol('empty');
/** Polls before sleeping: when the producer is running, a value comes sooner than a sleep and wake-up would. */
const SPINS = 2048;

function isEmpty(words: Int32Array): boolean {
  return Atomics.load(words, COUNT) === 0 && Atomics.load(words, CLOSED) === 0;
}

function spinWhileEmpty(words: Int32Array): void {
  for (let i = 0; i < SPINS && isEmpty(words); i++);
}
const CLOSED_AND_EMPTY = Symbol('closed');

/** Options of {@link SharedQueue}. */
export interface SharedQueueOptions {
  /** Bytes of serialized values the queue can hold at once (each value also takes 4). @default 65536 */
  byteLength?: number;
  /** Values the queue can hold at once, like Python's `Queue(maxsize)`. @default Infinity (bounded by byteLength only) */
  maxSize?: number;
}

/**
 * A bounded queue of structured-cloneable values in shared memory, for many
 * producers and consumers across the main thread and thread workers (Python's
 * `multiprocessing.Queue`, without a feeder thread). put waits while it is
 * full, get while it is empty; close() ends it: puts then throw and gets throw
 * once it is drained, which ends `for await` loops.
 *
 * @example
 * ```ts
 * const jobs = new SharedQueue<string>({ maxSize: 100 });
 * const consumers = [1, 2, 3].map(() => pool.run(consume, jobs)); // getSync() in workers
 * for (const url of urls) await jobs.put(url);
 * jobs.close();
 * await Promise.all(consumers);
 * ```
 */
export class SharedQueue<T = unknown> implements Shareable, AsyncIterable<T> {
  readonly #words: Int32Array;
  readonly #ring: Uint8Array;
  readonly #capacity: number;

  constructor(options?: SharedQueueOptions);
  /** @internal Over the memory of an existing queue: see {@link SharedQueue.fromShared}. */
  constructor(options: SharedQueueOptions, shared: SharedArrayBuffer);
  constructor(options: SharedQueueOptions = {}, shared?: SharedArrayBuffer) {
    if (shared) {
      this.#words = new Int32Array(shared, 0, HEADER_BYTES / 4);
    } else {
      const byteLength = options.byteLength ?? 65536;
      if (!Number.isInteger(byteLength) || byteLength < 16 || byteLength > 2 ** 30) {
        throw new InvalidOptionError('byteLength', byteLength, 'an integer from 16 to 2 ** 30 (1 GiB)');
      }
      const maxSize = options.maxSize ?? Infinity;
      if (maxSize !== Infinity && (!Number.isInteger(maxSize) || maxSize < 1)) {
        throw new InvalidOptionError('maxSize', maxSize, 'an integer >= 1 (or Infinity)');
      }
      this.#words = new Int32Array(new SharedArrayBuffer(HEADER_BYTES + byteLength), 0, HEADER_BYTES / 4);
      this.#words[CAPACITY] = byteLength;
      this.#words[MAX_SIZE] = maxSize === Infinity ? 0x7fffffff : maxSize;
    }
    this.#capacity = this.#words[CAPACITY];
    this.#ring = new Uint8Array(this.#words.buffer, HEADER_BYTES, this.#capacity);
  }

  /** @internal The same queue, over the memory its `[encodeShared]()` state holds (how it arrives in a worker). */
  static fromShared<T = unknown>(state: unknown): SharedQueue<T> {
    return new SharedQueue<T>({}, state as SharedArrayBuffer);
  }

  /** Values in the queue now. */
  get size(): number {
    return Atomics.load(this.#words, COUNT);
  }

  /** Bytes of serialized values the queue holds at most (its `byteLength` option; each value also takes 4). */
  get byteLength(): number {
    return this.#capacity;
  }

  /** Values the queue holds at most (its `maxSize` option; Infinity when only `byteLength` bounds it). */
  get maxSize(): number {
    const max = this.#words[MAX_SIZE];
    return max === 0x7fffffff ? Infinity : max;
  }

  /** Whether close() was called: no more values go in. */
  get closed(): boolean {
    return Atomics.load(this.#words, CLOSED) === 1;
  }

  /** Puts `value`, waiting while the queue is full. Throws SyncTimeoutError past `timeout`, QueueClosedError once closed. */
  async put(value: T, options: AsyncWaitOptions = {}): Promise<void> {
    checkTimeout(options.timeout);
    const length = this.#encode(value);
    if (this.#tryPut(encoder.bytes, length)) return;
    // The encoder's buffer is reused by the next put of this thread, which may run while this one waits
    // (a copy: Buffer's slice() is a view).
    const bytes = new Uint8Array(encoder.bytes.subarray(0, length));
    return runAsync(this.#putLoop(bytes, length, options.timeout, options.signal));
  }

  /**
   * @internal put() of a value a process worker encoded (see {@link encodeQueueValue}): the caller's
   * server thread writes its bytes as they came, with no decoding and encoding again.
   */
  putEncoded(bytes: Uint8Array, options: AsyncWaitOptions = {}): Promise<void> | undefined {
    if (this.tryPutEncoded(bytes)) return undefined;
    return runAsync(this.#putLoop(bytes, bytes.length, options.timeout, options.signal));
  }

  /** @internal Puts encoded `bytes` if there is room now (throws once closed); false: no room. */
  tryPutEncoded(bytes: Uint8Array): boolean {
    return this.#tryPut(bytes, bytes.length);
  }

  /**
   * @internal Takes up to `max` values as their bytes, waiting (like get()) for the first unless
   * `wait` is false (then none may come); the others are only those already there. For a process
   * worker that takes values ahead (src/share/queue-side.ts). Values it takes ahead are loans: those
   * after the first, and the first too when `wait` is false. A loan's bytes stay counted as used, so
   * that {@link giveBack} always finds room for it, until {@link endLoan}.
   */
  async takeEncoded(max: number, options: AsyncWaitOptions = {}, wait = true): Promise<Uint8Array[]> {
    checkTimeout(options.timeout);
    let first = this.#takeBytes(!wait);
    if (!wait && (first === EMPTY || first === CLOSED_AND_EMPTY)) return [];
    if (first === EMPTY) first = await runAsync(this.#takeLoop(options.timeout, options.signal, () => this.#takeBytes(false)));
    if (first === CLOSED_AND_EMPTY) throw closedError();
    const out = [first];
    while (out.length < max) {
      const next = this.#takeBytes(true);
      if (next === EMPTY || next === CLOSED_AND_EMPTY) break;
      out.push(next);
    }
    return out;
  }

  /** @internal Whether a thread or process waits in a get now. */
  get hasGetters(): boolean {
    return Atomics.load(this.#words, GETTERS) > 0;
  }

  /**
   * @internal Puts loans of {@link takeEncoded} back at the front, in their order, even past `maxSize`
   * or after close(): they were in the queue before, and their bytes are still counted as used.
   */
  giveBack(values: Uint8Array[]): void {
    if (values.length === 0) return;
    const words = this.#words;
    const ring = this.#ring;
    const capacity = this.#capacity;
    // Both mutexes, consumers' first (nothing else takes both): no put is writing into the room this takes.
    lockSpin(words, GET_MUTEX);
    lockSpin(words, PUT_MUTEX);
    try {
      for (let at = values.length; at > 0; at--) {
        const bytes = values[at - 1];
        let head = words[HEAD] - bytes.length - LENGTH_BYTES;
        if (head < 0) head += capacity;
        words[HEAD] = head;
        for (let shift = 0; shift < 32; shift += 8) {
          ring[head] = (bytes.length >>> shift) & 0xff;
          head = head + 1 === capacity ? 0 : head + 1;
        }
        copy(bytes, 0, ring, head, bytes.length, capacity, true);
        Atomics.add(words, COUNT, 1);
      }
    } finally {
      unlockSpin(words, PUT_MUTEX);
      unlockSpin(words, GET_MUTEX);
    }
    if (Atomics.load(words, GETTERS) > 0) {
      Atomics.add(words, NOT_EMPTY, 1);
      Atomics.notify(words, NOT_EMPTY);
    }
  }

  /** @internal A loan of {@link takeEncoded} of `length` bytes was used: its room is free for producers. */
  endLoan(length: number): void {
    Atomics.sub(this.#words, USED, length + LENGTH_BYTES);
    this.#wakePutters();
  }

  /** Blocking form of put(), for workers. */
  putSync(value: T, options: SyncWaitOptions = {}): void {
    assertMayBlock('sharedQueue.putSync()');
    checkTimeout(options.timeout);
    const length = this.#encode(value);
    if (this.#tryPut(encoder.bytes, length)) return;
    runBlocking(this.#putLoop(encoder.bytes, length, options.timeout, undefined));
  }

  /** Waits for room for `bytes`; called once a put found the queue full. */
  *#putLoop(bytes: Uint8Array, length: number, timeout: number | undefined, signal: AbortSignal | undefined): WaitLoop<void> {
    const deadline = deadlineOf(timeout);
    const words = this.#words;
    while (!this.#tryPut(bytes, length)) {
      if (remaining(deadline) <= 0) throw new SyncTimeoutError('putting into a full SharedQueue', timeout ?? Infinity);
      const seq = Atomics.load(words, NOT_FULL);
      Atomics.add(words, PUTTERS, 1);
      try {
        if (!this.#roomFor(length)) yield sleepOn(words, NOT_FULL, seq, deadline, signal, 'putting into a SharedQueue');
      } finally {
        Atomics.sub(words, PUTTERS, 1);
      }
    }
  }

  /**
   * Takes the oldest value, waiting while the queue is empty. Throws SyncTimeoutError past `timeout`,
   * QueueClosedError once closed and drained.
   */
  get(options: AsyncWaitOptions = {}): Promise<T> {
    // Not an async function: when a value is there, one resolved promise is all it costs.
    let value: T | typeof EMPTY | typeof CLOSED_AND_EMPTY;
    try {
      checkTimeout(options.timeout);
      value = this.#take();
    } catch (error) {
      return Promise.reject(error);
    }
    if (value === EMPTY) return this.#takeAsync(options).then(openOrThrow);
    return value === CLOSED_AND_EMPTY ? Promise.reject(closedError()) : Promise.resolve(value);
  }

  /** Blocking form of get(), for workers. */
  getSync(options: SyncWaitOptions = {}): T {
    assertMayBlock('sharedQueue.getSync()');
    checkTimeout(options.timeout);
    let value = this.#take();
    if (value === EMPTY) value = this.#spinThenTake();
    if (value === EMPTY) value = runBlocking(this.#takeLoop(options.timeout, undefined, () => this.#take()));
    return openOrThrow(value);
  }

  /** Takes the oldest value if there is one, without waiting. */
  tryGet():
    | {
        /** The value taken. */
        value: T;
      }
    | undefined {
    const value = this.#take();
    return value === EMPTY || value === CLOSED_AND_EMPTY ? undefined : { value };
  }

  /** Ends the queue: puts throw from now on, gets drain what is left and then throw; all waiters wake. */
  close(): void {
    const words = this.#words;
    // Under the producers' mutex: a put that saw the queue open has published its value.
    lockSpin(words, PUT_MUTEX);
    Atomics.store(words, CLOSED, 1);
    unlockSpin(words, PUT_MUTEX);
    Atomics.add(words, NOT_EMPTY, 1);
    Atomics.add(words, NOT_FULL, 1);
    Atomics.notify(words, NOT_EMPTY);
    Atomics.notify(words, NOT_FULL);
  }

  /** Yields values until the queue is closed and drained. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    const next = (value: T | typeof CLOSED_AND_EMPTY): IteratorResult<T> =>
      value === CLOSED_AND_EMPTY ? { value: undefined, done: true } : { value, done: false };
    return {
      next: (): Promise<IteratorResult<T>> => {
        // Like get(): no await when a value is already there.
        const value = this.#take();
        return value === EMPTY ? this.#takeAsync({}).then(next) : Promise.resolve(next(value));
      },
    };
  }

  /** Blocking iteration for workers: `for (const job of queue.drainSync())` until closed and drained. */
  *drainSync(): Generator<T> {
    for (;;) {
      let value: T;
      try {
        value = this.getSync();
      } catch (error) {
        if (error instanceof QueueClosedError) return;
        throw error;
      }
      yield value;
    }
  }

  /** Waits for a value; called once a take found the queue empty. */
  async #takeAsync(options: AsyncWaitOptions): Promise<T | typeof CLOSED_AND_EMPTY> {
    // A short spin first, even on the main thread: a wake-up through Atomics.waitAsync takes a
    // turn of the event loop, far longer than a busy producer needs (bench/sync.mjs, "to the main thread").
    const value = this.#spinThenTake();
    return value === EMPTY ? runAsync(this.#takeLoop(options.timeout, options.signal, () => this.#take())) : value;
  }

  /**
   * Spins while the queue is empty, then takes. Done in plain code before a
   * wait builds its loop: a producer that is running usually fills the queue
   * within the spin.
   */
  #spinThenTake(): T | typeof EMPTY | typeof CLOSED_AND_EMPTY {
    spinWhileEmpty(this.#words);
    return this.#take();
  }

  /** Sleeps until a value comes, then takes it with `take`; called once a take after a spin found the queue empty. */
  *#takeLoop<R>(
    timeout: number | undefined,
    signal: AbortSignal | undefined,
    take: () => R | typeof EMPTY | typeof CLOSED_AND_EMPTY,
  ): WaitLoop<R | typeof CLOSED_AND_EMPTY> {
    const deadline = deadlineOf(timeout);
    const words = this.#words;
    for (;;) {
      if (remaining(deadline) <= 0) throw new SyncTimeoutError('getting from an empty SharedQueue', timeout ?? Infinity);
      const seq = Atomics.load(words, NOT_EMPTY);
      Atomics.add(words, GETTERS, 1);
      try {
        if (isEmpty(words)) yield sleepOn(words, NOT_EMPTY, seq, deadline, signal, 'getting from a SharedQueue');
      } finally {
        Atomics.sub(words, GETTERS, 1);
      }
      spinWhileEmpty(words);
      const value = take();
      if (value !== EMPTY) return value;
    }
  }

  /** Encodes `value` into the thread's encoder; returns its length. */
  #encode(value: T): number {
    return encodeInto(value, this.#capacity);
  }

  /**
   * Whether a value of `length` bytes would fit now (or the queue is closed,
   * which a put must also wake up for). A putter checks again after
   * registering in `putters`: the consumer that makes room after that
   * registration sees it and wakes it.
   */
  #roomFor(length: number): boolean {
    const words = this.#words;
    return (
      Atomics.load(words, CLOSED) === 1 ||
      (Atomics.load(words, USED) + length + LENGTH_BYTES <= this.#capacity && Atomics.load(words, COUNT) < words[MAX_SIZE])
    );
  }

  #tryPut(bytes: Uint8Array, length: number): boolean {
    const words = this.#words;
    const need = length + LENGTH_BYTES;
    lockSpin(words, PUT_MUTEX);
    if (Atomics.load(words, CLOSED) === 1) {
      unlockSpin(words, PUT_MUTEX);
      throw new QueueClosedError('put() into a closed SharedQueue');
    }
    // Consumers only ever lower `used` and `count` meanwhile: the room seen here stays free.
    if (Atomics.load(words, USED) + need > this.#capacity || Atomics.load(words, COUNT) >= words[MAX_SIZE]) {
      unlockSpin(words, PUT_MUTEX);
      return false;
    }
    const ring = this.#ring;
    const capacity = this.#capacity;
    let tail = words[TAIL];
    for (let shift = 0; shift < 32; shift += 8) {
      ring[tail] = (length >>> shift) & 0xff;
      tail = tail + 1 === capacity ? 0 : tail + 1;
    }
    words[TAIL] = copy(bytes, 0, ring, tail, length, capacity, true);
    Atomics.add(words, USED, need);
    Atomics.add(words, COUNT, 1); // publishes the value to consumers
    unlockSpin(words, PUT_MUTEX);
    if (Atomics.load(words, GETTERS) > 0) {
      Atomics.add(words, NOT_EMPTY, 1);
      Atomics.notify(words, NOT_EMPTY, 1);
    }
    return true;
  }

  #take(): T | typeof EMPTY | typeof CLOSED_AND_EMPTY {
    const length = this.#takeRaw();
    return typeof length === 'number' ? (decode(readBuffer, length) as T) : length;
  }

  /** `loan`: its bytes stay counted as used (see {@link takeEncoded}). */
  #takeBytes(loan: boolean): Uint8Array | typeof EMPTY | typeof CLOSED_AND_EMPTY {
    const length = this.#takeRaw(loan);
    return typeof length === 'number' ? new Uint8Array(readBuffer.subarray(0, length)) : length;
  }

  /** Takes the oldest value's bytes into `readBuffer`; returns their length. */
  #takeRaw(loan = false): number | typeof EMPTY | typeof CLOSED_AND_EMPTY {
    const words = this.#words;
    lockSpin(words, GET_MUTEX);
    // `closed` before `count`: every value put before close() is counted by then.
    const closed = Atomics.load(words, CLOSED) === 1;
    if (Atomics.load(words, COUNT) === 0) {
      unlockSpin(words, GET_MUTEX);
      return closed ? CLOSED_AND_EMPTY : EMPTY;
    }
    const ring = this.#ring;
    const capacity = this.#capacity;
    let head = words[HEAD];
    let length = 0;
    for (let shift = 0; shift < 32; shift += 8) {
      length |= ring[head] << shift;
      head = head + 1 === capacity ? 0 : head + 1;
    }
    if (readBuffer.length < length) readBuffer = Buffer.allocUnsafe(Math.max(length, readBuffer.length * 2));
    words[HEAD] = copy(ring, head, readBuffer, 0, length, capacity, false);
    Atomics.sub(words, COUNT, 1);
    if (!loan) Atomics.sub(words, USED, length + LENGTH_BYTES); // frees the bytes for producers
    unlockSpin(words, GET_MUTEX);
    this.#wakePutters();
    return length;
  }

  #wakePutters(): void {
    const words = this.#words;
    if (Atomics.load(words, PUTTERS) > 0) {
      // Freed room may fit several smaller values: wake every sleeping putter.
      Atomics.add(words, NOT_FULL, 1);
      Atomics.notify(words, NOT_FULL);
    }
  }

  [encodeShared](): SharedState {
    return { kind: KIND, state: this.#words.buffer };
  }
}

/** Encodes `value` into this thread's encoder for a queue of `capacity` bytes; returns its length. */
function encodeInto(value: unknown, capacity: number): number {
  let length: number;
  try {
    length = encoder.encode(value);
  } catch (error) {
    throw new SerializationError(0, 'the value put into the SharedQueue', (error as Error).message, { cause: error });
  }
  if (length + LENGTH_BYTES > capacity) {
    throw new SerializationError(
      0,
      'the value put into the SharedQueue',
      `it takes ${length + LENGTH_BYTES} bytes serialized, more than the queue's byteLength of ${capacity}; create the queue ` +
        `with a larger byteLength`,
    );
  }
  return length;
}

/**
 * A value as a SharedQueue of `capacity` bytes stores it (a copy), for a
 * process worker that sends it to the caller's server thread: errors are
 * the ones put() throws, in the worker, before anything is sent.
 */
export function encodeQueueValue(value: unknown, capacity: number): Uint8Array {
  return new Uint8Array(encoder.bytes.subarray(0, encodeInto(value, capacity)));
}

/** The value of bytes {@link SharedQueue.takeEncoded} gave. */
export function decodeQueueValue(bytes: Uint8Array): unknown {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return decode(buffer, bytes.length);
}

/**
 * Copies `length` bytes between a plain buffer and the ring, wrapping at
 * `capacity` on the ring side (`into` says which side that is); returns the
 * ring position after them. Short values are copied byte by byte: cheaper
 * than the two subarray views a set() would need.
 */
function copy(from: Uint8Array, fromAt: number, to: Uint8Array, toAt: number, length: number, capacity: number, into: boolean): number {
  let ringAt = into ? toAt : fromAt;
  if (length <= 64) {
    for (let i = 0; i < length; i++) {
      if (into) to[ringAt] = from[fromAt + i];
      else to[toAt + i] = from[ringAt];
      ringAt = ringAt + 1 === capacity ? 0 : ringAt + 1;
    }
    return ringAt;
  }
  const first = Math.min(length, capacity - ringAt);
  if (into) {
    to.set(from.subarray(fromAt, fromAt + first), ringAt);
    to.set(from.subarray(fromAt + first, fromAt + length), 0);
  } else {
    to.set(from.subarray(ringAt, ringAt + first), toAt);
    to.set(from.subarray(0, length - first), toAt + first);
  }
  ringAt += length;
  return ringAt >= capacity ? ringAt - capacity : ringAt;
}

function closedError(): QueueClosedError {
  return new QueueClosedError('get() on a closed, empty SharedQueue');
}

function openOrThrow<T>(value: T | typeof CLOSED_AND_EMPTY): T {
  if (value === CLOSED_AND_EMPTY) throw closedError();
  return value;
}

registerShareable(KIND, SharedQueue.fromShared);
