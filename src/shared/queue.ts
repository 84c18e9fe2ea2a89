/**
 * SharedQueue: a bounded multi-producer multi-consumer FIFO in one
 * SharedArrayBuffer. Values are serialized with node:v8 (the structured clone
 * format postMessage uses) into a byte ring:
 *
 *   header (Int32 words)                      ring (bytes)
 *   [mutex, head, tail, used, count, ...]     ... [len:4][payload:len] [len:4][payload] ...
 *                                                  ^head                          ^tail
 *
 * A short mutex guards the indexes and the copy in or out; serializing and
 * deserializing happen outside it. Getters sleep on NOT_EMPTY and putters on
 * NOT_FULL (sequence words bumped by every put or get), and are only notified
 * when some are sleeping, so a queue that never fills or empties costs no wake-ups.
 */
import { deserialize, serialize } from 'node:v8';
import { InvalidOptionError, QueueClosedError, SerializationError, SyncTimeoutError } from '../errors.js';
import { encodeShared, registerShareable, type Shareable, type SharedState } from '../shareable.js';
import { lockSpin, unlockSpin } from '../sync/spin-mutex.js';
import {
  assertMayBlock,
  blockAsync,
  blockSync,
  deadlineOf,
  remaining,
  type SyncWaitOptions,
  type WaitOptions,
} from '../sync/wait.js';

const MUTEX = 0;
const HEAD = 1;
const TAIL = 2;
const USED = 3;
const COUNT = 4;
const CLOSED = 5;
const NOT_EMPTY = 6;
const NOT_FULL = 7;
const GETTERS = 8;
const PUTTERS = 9;
const CAPACITY = 10;
const MAX_SIZE = 11;
const HEADER_BYTES = 12 * 4;
const LENGTH_BYTES = 4;

const KIND = 'tandem.SharedQueue';
let adopting: SharedArrayBuffer | null = null;
const EMPTY = Symbol('empty');
const CLOSED_AND_EMPTY = Symbol('closed');

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

  constructor(options: SharedQueueOptions = {}) {
    if (adopting) {
      this.#words = new Int32Array(adopting, 0, HEADER_BYTES / 4);
    } else {
      const byteLength = options.byteLength ?? 65536;
      if (!Number.isInteger(byteLength) || byteLength < 16) throw new InvalidOptionError('byteLength', byteLength, 'an integer >= 16');
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

  /** Values in the queue now. */
  get size(): number {
    return Atomics.load(this.#words, COUNT);
  }

  get closed(): boolean {
    return Atomics.load(this.#words, CLOSED) === 1;
  }

  /** Puts `value`, waiting while the queue is full. Throws SyncTimeoutError past `timeout`, QueueClosedError once closed. */
  async put(value: T, options: WaitOptions = {}): Promise<void> {
    const bytes = this.#serialize(value);
    if (this.#tryPut(bytes)) return;
    const deadline = deadlineOf(options.timeout);
    for (;;) {
      const seq = Atomics.load(this.#words, NOT_FULL);
      if (this.#tryPut(bytes)) return;
      if (remaining(deadline) <= 0) throw new SyncTimeoutError('putting into a full SharedQueue', options.timeout ?? Infinity);
      Atomics.add(this.#words, PUTTERS, 1);
      try {
        await blockAsync(this.#words, NOT_FULL, seq, deadline, options.signal, 'putting into a SharedQueue');
      } finally {
        Atomics.sub(this.#words, PUTTERS, 1);
      }
    }
  }

  /** Blocking form of put(), for workers. */
  putSync(value: T, options: SyncWaitOptions = {}): void {
    const bytes = this.#serialize(value);
    if (this.#tryPut(bytes)) return;
    assertMayBlock('sharedQueue.putSync()');
    const deadline = deadlineOf(options.timeout);
    for (;;) {
      const seq = Atomics.load(this.#words, NOT_FULL);
      if (this.#tryPut(bytes)) return;
      if (remaining(deadline) <= 0) throw new SyncTimeoutError('putting into a full SharedQueue', options.timeout ?? Infinity);
      Atomics.add(this.#words, PUTTERS, 1);
      blockSync(this.#words, NOT_FULL, seq, deadline);
      Atomics.sub(this.#words, PUTTERS, 1);
    }
  }

  /** Takes the oldest value, waiting while the queue is empty. Throws SyncTimeoutError past `timeout`, QueueClosedError once closed and drained. */
  async get(options: WaitOptions = {}): Promise<T> {
    const value = await this.#takeAsync(options);
    if (value === CLOSED_AND_EMPTY) throw new QueueClosedError('get() on a closed, empty SharedQueue');
    return value;
  }

  /** Blocking form of get(), for workers. */
  getSync(options: SyncWaitOptions = {}): T {
    let value = this.#take();
    if (value === EMPTY) {
      assertMayBlock('sharedQueue.getSync()');
      const deadline = deadlineOf(options.timeout);
      for (;;) {
        const seq = Atomics.load(this.#words, NOT_EMPTY);
        value = this.#take();
        if (value !== EMPTY) break;
        if (remaining(deadline) <= 0) throw new SyncTimeoutError('getting from an empty SharedQueue', options.timeout ?? Infinity);
        Atomics.add(this.#words, GETTERS, 1);
        blockSync(this.#words, NOT_EMPTY, seq, deadline);
        Atomics.sub(this.#words, GETTERS, 1);
      }
    }
    if (value === CLOSED_AND_EMPTY) throw new QueueClosedError('getSync() on a closed, empty SharedQueue');
    return value;
  }

  /** Takes the oldest value if there is one, without waiting. */
  tryGet(): { value: T } | undefined {
    const value = this.#take();
    return value === EMPTY || value === CLOSED_AND_EMPTY ? undefined : { value };
  }

  /** Ends the queue: puts throw from now on, gets drain what is left and then throw; all waiters wake. */
  close(): void {
    Atomics.store(this.#words, CLOSED, 1);
    Atomics.add(this.#words, NOT_EMPTY, 1);
    Atomics.add(this.#words, NOT_FULL, 1);
    Atomics.notify(this.#words, NOT_EMPTY);
    Atomics.notify(this.#words, NOT_FULL);
  }

  /** Yields values until the queue is closed and drained. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const value = await this.#takeAsync({});
      if (value === CLOSED_AND_EMPTY) return;
      yield value;
    }
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

  async #takeAsync(options: WaitOptions): Promise<T | typeof CLOSED_AND_EMPTY> {
    let value = this.#take();
    if (value !== EMPTY) return value;
    const deadline = deadlineOf(options.timeout);
    for (;;) {
      const seq = Atomics.load(this.#words, NOT_EMPTY);
      value = this.#take();
      if (value !== EMPTY) return value;
      if (remaining(deadline) <= 0) throw new SyncTimeoutError('getting from an empty SharedQueue', options.timeout ?? Infinity);
      Atomics.add(this.#words, GETTERS, 1);
      try {
        await blockAsync(this.#words, NOT_EMPTY, seq, deadline, options.signal, 'getting from a SharedQueue');
      } finally {
        Atomics.sub(this.#words, GETTERS, 1);
      }
    }
  }

  #serialize(value: T): Uint8Array {
    let bytes: Uint8Array;
    try {
      bytes = serialize(value);
    } catch (error) {
      throw new SerializationError(0, 'the value put into the SharedQueue', (error as Error).message, { cause: error });
    }
    if (bytes.length + LENGTH_BYTES > this.#capacity) {
      throw new SerializationError(
        0,
        'the value put into the SharedQueue',
        `it takes ${bytes.length + LENGTH_BYTES} bytes serialized, more than the queue's byteLength of ${this.#capacity}; create the queue with a larger byteLength`,
      );
    }
    return bytes;
  }

  #tryPut(bytes: Uint8Array): boolean {
    const words = this.#words;
    const need = bytes.length + LENGTH_BYTES;
    lockSpin(words, MUTEX);
    if (words[CLOSED] === 1) {
      unlockSpin(words, MUTEX);
      throw new QueueClosedError('put() into a closed SharedQueue');
    }
    if (words[USED] + need > this.#capacity || words[COUNT] >= words[MAX_SIZE]) {
      unlockSpin(words, MUTEX);
      return false;
    }
    let tail = words[TAIL];
    const length = bytes.length;
    for (let shift = 0; shift < 32; shift += 8) {
      this.#ring[tail] = (length >>> shift) & 0xff;
      tail = tail + 1 === this.#capacity ? 0 : tail + 1;
    }
    tail = this.#copyIn(bytes, tail);
    words[TAIL] = tail;
    words[USED] += need;
    Atomics.add(words, COUNT, 1);
    unlockSpin(words, MUTEX);
    Atomics.add(words, NOT_EMPTY, 1);
    if (Atomics.load(words, GETTERS) > 0) Atomics.notify(words, NOT_EMPTY, 1);
    return true;
  }

  #take(): T | typeof EMPTY | typeof CLOSED_AND_EMPTY {
    const words = this.#words;
    lockSpin(words, MUTEX);
    if (words[COUNT] === 0) {
      const closed = words[CLOSED] === 1;
      unlockSpin(words, MUTEX);
      return closed ? CLOSED_AND_EMPTY : EMPTY;
    }
    let head = words[HEAD];
    let length = 0;
    for (let shift = 0; shift < 32; shift += 8) {
      length |= this.#ring[head] << shift;
      head = head + 1 === this.#capacity ? 0 : head + 1;
    }
    const bytes = new Uint8Array(length);
    head = this.#copyOut(bytes, head);
    words[HEAD] = head;
    words[USED] -= length + LENGTH_BYTES;
    Atomics.sub(words, COUNT, 1);
    unlockSpin(words, MUTEX);
    Atomics.add(words, NOT_FULL, 1);
    // Freed space may fit several smaller values: wake every sleeping putter.
    if (Atomics.load(words, PUTTERS) > 0) Atomics.notify(words, NOT_FULL);
    return deserialize(bytes) as T;
  }

  #copyIn(bytes: Uint8Array, at: number): number {
    const first = Math.min(bytes.length, this.#capacity - at);
    this.#ring.set(first === bytes.length ? bytes : bytes.subarray(0, first), at);
    if (first === bytes.length) return at + first === this.#capacity ? 0 : at + first;
    this.#ring.set(bytes.subarray(first), 0);
    return bytes.length - first;
  }

  #copyOut(bytes: Uint8Array, at: number): number {
    const first = Math.min(bytes.length, this.#capacity - at);
    bytes.set(this.#ring.subarray(at, at + first), 0);
    if (first === bytes.length) return at + first === this.#capacity ? 0 : at + first;
    bytes.set(this.#ring.subarray(0, bytes.length - first), first);
    return bytes.length - first;
  }

  [encodeShared](): SharedState {
    return { kind: KIND, state: this.#words.buffer };
  }
}

registerShareable(KIND, (buffer) => {
  adopting = buffer as SharedArrayBuffer;
  try {
    return new SharedQueue();
  } finally {
    adopting = null;
  }
});
