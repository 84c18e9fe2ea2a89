/**
 * Rescue copies: how the results of short calls still leave a worker that is
 * stuck in a call that was expected to be short.
 *
 * A worker runs calls of tasks known to be short back to back and sends their
 * results in batches (src/worker/runtime.ts). If one such call then blocks for
 * long, the results finished just before it sit in the worker's outbox, and the
 * blocked thread cannot send them. So before it starts a short call while
 * results are waiting, the worker also writes a copy of the results not yet
 * copied into a shared buffer, which costs the caller nothing. The common
 * results (numbers, strings, booleans, null, undefined) are written as they
 * are, in well under a microsecond; everything else is V8-serialized, which
 * costs a few microseconds per copy. Someone
 * who does not share the worker's thread watches that buffer: the pool itself
 * for a thread worker (the buffer is shared memory), the keeper thread of a
 * child process (which then writes the copies on its side pipe, RESCUE_TICKET
 * in claims.ts). When copies have waited there for one whole check period with
 * no flush, the watcher takes them and the pool reads them as a batch.
 *
 * No result arrives twice: taking the copies records how many outbox entries
 * they cover, and the worker's next batch leaves those out. Taken copies carry
 * no W_STATS: the worker's next batch reports the busy time, as it would have.
 *
 * Shared memory layout (int32 words, then bytes):
 *   0 lock (0 free, 1 held)   1 bytes of copies   2 entries taken by the watcher
 *   3 entries the copies cover   4 flushes (changes at each flush after copies)
 *   from byte 24: records of float64s (typed-array writes: a DataView costs
 *   more than the copy is worth), each its kind, then
 *     SERIALIZED: byte length, V8-serialized frames (padded to 8 bytes)
 *     OK_NUMBER:  id, value                          (a W_OK frame)
 *     OK_STRING:  id, length, UTF-16 code units (padded to 8 bytes)
 *     OK_CONSTANT: id, 0 undefined, 1 null, 2 false, 3 true
 */
import { deserialize, serialize } from 'node:v8';
import { type Batch, FRAME_FIELDS, W_OK } from '../protocol.js';

/** Bytes per worker; frames whose copy does not fit are sent at once instead. */
export const RESCUE_BYTES = 256 * 1024;
/** How often the watcher looks: copies are taken once they have waited one whole period. */
export const RESCUE_CHECK_MS = 5;

const LOCK = 0;
const LENGTH = 1;
/**
 * The word that holds how many bytes of copies wait: a watcher may sleep on it while it is 0 (the
 * worker notifies it when it writes the first copies after a flush).
 */
export const RESCUE_LENGTH_WORD = LENGTH;
const TAKEN = 2;
const COVERED = 3;
const FLUSHES = 4;
const DATA = 24;

const SERIALIZED = 0;
const OK_NUMBER = 1;
const OK_STRING = 2;
const OK_CONSTANT = 3;
const CONSTANTS: readonly (boolean | null | undefined)[] = [undefined, null, false, true];

/** The worker's side: writes copies, and learns at each flush what the watcher took. */
export class RescueCopies {
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #numbers: Float64Array;
  readonly #units: Uint16Array;
  /** Outbox entries copied since the last flush. */
  #copied = 0;

  constructor(buffer: SharedArrayBuffer) {
    this.#words = new Int32Array(buffer, 0, DATA / 4);
    this.#bytes = new Uint8Array(buffer, DATA);
    this.#numbers = new Float64Array(buffer, DATA);
    this.#units = new Uint16Array(buffer, DATA);
  }

  /** Copies the outbox entries not copied yet; false if they cannot be (too large, or not serializable): send them now. */
  copy(outbox: unknown[]): boolean {
    if (outbox.length === this.#copied) return true;
    const words = this.#words;
    this.#lock();
    const start = words[LENGTH];
    const end = this.#write(outbox, start);
    if (end >= 0) {
      Atomics.store(words, LENGTH, end);
      words[COVERED] = outbox.length;
    }
    Atomics.store(words, LOCK, 0);
    // The first copies since the last flush: wake a watcher that sleeps until there are some.
    if (start === 0 && end > 0) Atomics.notify(words, LENGTH);
    if (end < 0) return false;
    this.#copied = outbox.length;
    return true;
  }

  /** Writes records for the frames not copied yet from byte `at` (a multiple of 8); where they end, or -1. */
  #write(outbox: unknown[], at: number): number {
    const numbers = this.#numbers;
    const room = this.#bytes.length;
    let n = at / 8;
    for (let i = this.#copied; i < outbox.length; ) {
      const tag = outbox[i] as number;
      const width = 1 + FRAME_FIELDS[tag];
      const value = tag === W_OK ? outbox[i + 2] : null;
      const type = typeof value;
      if (tag === W_OK && (type === 'number' || type === 'string' || type === 'boolean' || value == null)) {
        const size = type === 'string' ? 24 + padded(2 * (value as string).length) : 24;
        if (n * 8 + size > room) return -1;
        numbers[n + 1] = outbox[i + 1] as number;
        if (type === 'number') {
          numbers[n] = OK_NUMBER;
          numbers[n + 2] = value as number;
        } else if (type === 'string') {
          const text = value as string;
          numbers[n] = OK_STRING;
          numbers[n + 2] = text.length;
          const units = this.#units;
          const first = (n + 3) * 4;
          for (let c = 0; c < text.length; c++) units[first + c] = text.charCodeAt(c);
        } else {
          numbers[n] = OK_CONSTANT;
          numbers[n + 2] = CONSTANTS.indexOf(value as boolean | null | undefined);
        }
        n += size / 8;
      } else {
        let body: Uint8Array;
        try {
          body = serialize(outbox.slice(i, i + width));
        } catch {
          return -1;
        }
        if (n * 8 + 16 + body.length > room) return -1;
        numbers[n] = SERIALIZED;
        numbers[n + 1] = body.length;
        this.#bytes.set(body, n * 8 + 16);
        n += 2 + padded(body.length) / 8;
      }
      i += width;
    }
    return n * 8;
  }

  /** A flush: how many entries at the head of the outbox the watcher has delivered already (leave them out). */
  flushing(): number {
    if (this.#copied === 0) return 0;
    const words = this.#words;
    this.#lock();
    const taken = words[TAKEN];
    words[TAKEN] = 0;
    words[LENGTH] = 0;
    words[COVERED] = 0;
    Atomics.store(words, LOCK, 0);
    return taken;
  }

  /** The flushed batch is sent: the watcher's stall clock starts over. */
  flushed(): void {
    if (this.#copied === 0) return;
    this.#copied = 0;
    Atomics.add(this.#words, FLUSHES, 1);
  }

  #lock(): void {
    // The watcher holds the lock only while it copies bytes out.
    while (Atomics.compareExchange(this.#words, LOCK, 0, 1) !== 0) Atomics.wait(this.#words, LOCK, 1, 1);
  }
}

/**
 * The watcher's side, called every RESCUE_CHECK_MS: the copies, once they have
 * waited a whole period with no flush, else null. `watch` remembers what the
 * last look saw. Self-contained (no imports, no outer names): the process
 * keeper thread runs its source as it is.
 */
export function rescueTake(buffer: SharedArrayBuffer, watch: { flushes: number }): Uint8Array | null {
  const words = new Int32Array(buffer, 0, 6);
  // Words: 0 lock, 1 bytes of copies, 2 entries taken, 3 entries covered, 4 flushes; bytes from 24.
  const flushes = Atomics.load(words, 4);
  if (Atomics.load(words, 1) === 0) {
    watch.flushes = -1;
    return null;
  }
  if (watch.flushes !== flushes) {
    watch.flushes = flushes;
    return null;
  }
  if (Atomics.compareExchange(words, 0, 0, 1) !== 0) return null; // the worker is writing: it is not stuck
  const length = words[1];
  const copies = new Uint8Array(buffer, 24, length).slice();
  words[1] = 0;
  words[2] = words[3];
  Atomics.store(words, 0, 0);
  Atomics.notify(words, 0);
  watch.flushes = -1;
  return copies;
}

/** The batch the pool reads from taken copies. */
export function rescuedBatch(copies: Uint8Array): Batch {
  // Copied out of the shared buffer at offset 24: aligned again for float64s.
  const aligned = copies.byteOffset % 8 === 0 ? copies : copies.slice();
  const numbers = new Float64Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 8);
  const units = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2);
  const batch: unknown[] = [];
  for (let n = 0; n < numbers.length; ) {
    const kind = numbers[n];
    if (kind === SERIALIZED) {
      const length = numbers[n + 1];
      const start = n * 8 + 16;
      for (const field of deserialize(aligned.subarray(start, start + length)) as unknown[]) batch.push(field);
      n += 2 + padded(length) / 8;
      continue;
    }
    const id = numbers[n + 1];
    if (kind === OK_NUMBER) {
      batch.push(W_OK, id, numbers[n + 2]);
      n += 3;
    } else if (kind === OK_STRING) {
      const length = numbers[n + 2];
      const first = (n + 3) * 4;
      let text = '';
      for (let c = 0; c < length; c += 4096) text += String.fromCharCode(...units.subarray(first + c, first + Math.min(length, c + 4096)));
      batch.push(W_OK, id, text);
      n += 3 + padded(2 * length) / 8;
    } else {
      batch.push(W_OK, id, CONSTANTS[numbers[n + 2]]);
      n += 3;
    }
  }
  return batch;
}

/** `bytes` rounded up to a multiple of 8. */
function padded(bytes: number): number {
  return (bytes + 7) & ~7;
}

/** Watches a thread worker's copies from the pool's own thread while the worker holds calls. */
export class RescueWatch {
  readonly #buffer: SharedArrayBuffer;
  readonly #deliver: (batch: Batch) => void;
  readonly #watch = { flushes: -1 };
  #timer: ReturnType<typeof setInterval> | null = null;
  #on = false;

  constructor(buffer: SharedArrayBuffer, deliver: (batch: Batch) => void) {
    this.#buffer = buffer;
    this.#deliver = deliver;
  }

  /**
   * Watches while `on`; the timer never keeps the process alive. A worker
   * goes from holding calls to none and back for nearly every batch of short
   * calls: turning off only marks it, and the timer stops at its next tick.
   */
  set(on: boolean): void {
    this.#on = on;
    if (on && this.#timer === null) {
      this.#timer = setInterval(() => this.#tick(), RESCUE_CHECK_MS);
      this.#timer.unref?.();
    }
  }

  #tick(): void {
    if (!this.#on) {
      clearInterval(this.#timer ?? undefined);
      this.#timer = null;
      this.#watch.flushes = -1;
      return;
    }
    const copies = rescueTake(this.#buffer, this.#watch);
    if (copies !== null) this.#deliver(rescuedBatch(copies));
  }
}
