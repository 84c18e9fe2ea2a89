/**
 * SharedQueue streams from process workers, the server's side. A process
 * worker's puts and gets would each be a round trip to the caller (a few
 * hundred µs), where a raw process.send stream pipelines; so (client.ts,
 * pipelineQueue):
 *
 *   puts   are one-way: the child encodes the value itself (its errors are
 *          thrown there, before anything is sent) and sends the bytes
 *          without waiting. The server puts them in the order they came,
 *          one FIFO per queue: while the queue is full, later puts wait
 *          behind the first. Every so many puts (and any put with options)
 *          one is a round trip, answered once that put is in the queue, so
 *          a producer runs at most a window ahead of the queue, and the
 *          failure of a one-way put (the queue was closed) is the answer to
 *          the next round trip.
 *   gets   take values ahead: one request takes up to `max` values (waiting
 *          for the first only); the child hands them out one by one and
 *          says so ('took', one-way, written before the value is returned),
 *          so the server knows which are still unused. Those go back to the
 *          front of the queue when the child's call ends (settle) or the
 *          child dies: each value is used by exactly one task, as with
 *          threads. Until it is used, a value taken ahead keeps its room in
 *          the queue: it can always go back, even once producers filled the
 *          rest, or closed the queue.
 *
 * A settle request is answered once every put the child sent is in its
 * queue: a caller that has a task's result finds what the task put there.
 * When the child dies, puts it sent that still wait for room go to the
 * caller's main thread (host.ts), which puts them: none is lost.
 */
import type { SharedQueue } from '../shared/queue.js';

/** Values a child may take ahead in one request (it asks for fewer unless it uses them quickly: client.ts). */
export const MAX_TAKE = 256;

interface Put {
  readonly bytes: Uint8Array;
  readonly timeout: number | undefined;
  readonly signal: AbortSignal | undefined;
  /** Absent for a one-way put. */
  readonly settle?: (error?: unknown) => void;
}

/** What one child has in flight on one queue. */
interface Stream {
  readonly queue: SharedQueue;
  /** The put waiting for room now, then the puts behind it, in order. */
  readonly puts: Put[];
  /** Ends the wait of the first put when the child is gone. */
  stop: AbortController;
  /** Values taken ahead that the child has not used yet, oldest first. */
  loaned: Uint8Array[];
  /** Called when `puts` empties (settle waits for it). */
  readonly onDrained: (() => void)[];
}

export class QueueSide {
  readonly #streams = new Map<number, Stream>();
  /** The error of the first one-way put that failed, by queue, until the child's next put that waits takes it. */
  readonly #failures = new Map<number, unknown>();

  /** The error of a one-way put to `queueId` that failed since the last call, if any: the answer to the put that waits. */
  takeFailure(queueId: number): { error: unknown } | undefined {
    if (!this.#failures.has(queueId)) return undefined;
    const error = this.#failures.get(queueId);
    this.#failures.delete(queueId);
    return { error };
  }

  #failed(queueId: number, error: unknown): void {
    if (!this.#failures.has(queueId)) this.#failures.set(queueId, error);
  }

  #stream(queueId: number, queue: SharedQueue): Stream {
    let stream = this.#streams.get(queueId);
    if (!stream) {
      stream = { queue, puts: [], stop: new AbortController(), loaned: [], onDrained: [] };
      this.#streams.set(queueId, stream);
    }
    return stream;
  }

  /**
   * A put of the child, round trip: in the queue at once if nothing of the child waits before it and
   * there is room (undefined), else a promise that settles when it is in (or failed).
   */
  put(
    queueId: number,
    queue: SharedQueue,
    bytes: Uint8Array,
    timeout: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> | undefined {
    const stream = this.#stream(queueId, queue);
    if (stream.puts.length === 0 && queue.tryPutEncoded(bytes)) return undefined;
    return new Promise<void>((resolve, reject) => {
      this.#enqueue(queueId, stream, { bytes, timeout, signal, settle: (error) => (error === undefined ? resolve() : reject(error)) });
    });
  }

  /** A one-way put: its failure goes to the child's next round trip on the queue. */
  putOneWay(queueId: number, queue: SharedQueue, bytes: Uint8Array): void {
    const stream = this.#stream(queueId, queue);
    try {
      if (stream.puts.length === 0 && queue.tryPutEncoded(bytes)) return;
    } catch (error) {
      this.#failed(queueId, error);
      return;
    }
    this.#enqueue(queueId, stream, { bytes, timeout: undefined, signal: undefined });
  }

  #enqueue(queueId: number, stream: Stream, put: Put): void {
    // A copy: the bytes may be a view of the chunk the socket read, and this put may wait long.
    stream.puts.push({ ...put, bytes: new Uint8Array(put.bytes) });
    if (stream.puts.length === 1) this.#runFirst(queueId, stream);
  }

  /** Waits for room for the first put; then the next, until none is left. */
  #runFirst(queueId: number, stream: Stream): void {
    while (stream.puts.length > 0) {
      const put = stream.puts[0];
      const signal = put.signal ? AbortSignal.any([put.signal, stream.stop.signal]) : stream.stop.signal;
      let running: Promise<void> | undefined;
      try {
        // A put first in line may find room at once (the first of the line just went in).
        running = stream.queue.putEncoded(put.bytes, { timeout: put.timeout, signal });
      } catch (error) {
        this.#done(queueId, stream, put, error);
        continue;
      }
      if (running === undefined) {
        this.#done(queueId, stream, put, undefined);
        continue;
      }
      running.then(
        () => this.#after(queueId, stream, put, undefined),
        (error: unknown) => this.#after(queueId, stream, put, error),
      );
      return;
    }
    for (const drained of stream.onDrained.splice(0)) drained();
  }

  #after(queueId: number, stream: Stream, put: Put, error: unknown): void {
    // Stopped because the child is gone: the put stays first in line, for end() to hand over.
    if (stream.stop.signal.aborted && error !== undefined) return;
    this.#done(queueId, stream, put, error);
    this.#runFirst(queueId, stream);
  }

  #done(queueId: number, stream: Stream, put: Put, error: unknown): void {
    stream.puts.shift();
    if (put.settle) put.settle(error);
    else if (error !== undefined) this.#failed(queueId, error);
  }

  /**
   * Takes up to `max` values for the child, packed (see {@link pack}). `ahead`: it still has values
   * and takes more while it uses them: only values already there, all loaned until it says it used
   * each; else it waits for the first, which is its task's at once, and the others are loaned.
   */
  async take(
    queueId: number,
    queue: SharedQueue,
    max: number,
    timeout: number | undefined,
    signal: AbortSignal | undefined,
    ahead = false,
  ): Promise<Uint8Array> {
    // Another consumer waiting gets its share: take one only (none ahead).
    if (ahead && queue.hasGetters) return pack([]);
    const most = queue.hasGetters ? 1 : Math.max(1, Math.min(Math.floor(max) || 1, MAX_TAKE));
    const values = await queue.takeEncoded(most, { timeout, signal }, !ahead);
    const loans = ahead ? values : values.slice(1);
    if (loans.length > 0) this.#stream(queueId, queue).loaned.push(...loans);
    return pack(values);
  }

  /** The child handed out the oldest value it took ahead. */
  took(queueId: number): void {
    const stream = this.#streams.get(queueId);
    if (!stream) return;
    const bytes = stream.loaned.shift();
    if (bytes) stream.queue.endLoan(bytes.length);
  }

  /**
   * The child dropped the `count` oldest values it took ahead of queue `queueId` (all of every queue
   * without arguments): they go back to the front of the queue, in their order.
   */
  giveBack(queueId?: number, count = Infinity): void {
    for (const [id, stream] of this.#streams) {
      if ((queueId !== undefined && id !== queueId) || stream.loaned.length === 0) continue;
      // Their room is still theirs (SharedQueue.takeEncoded): producers cannot have filled it meanwhile.
      stream.queue.giveBack(stream.loaned.splice(0, count));
    }
  }

  /** Settles when every put the child sent so far (to queue `queueId`, or to any) is in its queue or failed; undefined: they are. */
  drained(queueId?: number): Promise<void> | undefined {
    const waits: Promise<void>[] = [];
    for (const [id, stream] of this.#streams) {
      if (stream.puts.length > 0 && (queueId === undefined || id === queueId))
        waits.push(new Promise<void>((resolve) => stream.onDrained.push(resolve)));
    }
    return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
  }

  /**
   * The child is gone: what it took ahead goes back; returns, by queue, the one-way puts it sent that
   * are not in their queue yet (once the put waiting for room has stopped waiting). Those returned to
   * its task already and must not be lost; a put that waited for its answer had not returned: it is
   * dropped (it may have got in already, had room come before the server saw the child die).
   */
  async end(): Promise<[queueId: number, values: Uint8Array[]][]> {
    this.giveBack();
    const orphans: [number, Uint8Array[]][] = [];
    for (const [id, stream] of this.#streams) {
      if (stream.puts.length === 0) continue;
      stream.stop.abort();
      // The first put's wait ends now (or it went in just before): then the line is what is left.
      await new Promise((resolve) => setImmediate(resolve));
      const values = stream.puts.splice(0).flatMap((put) => (put.settle ? [] : [put.bytes]));
      if (values.length > 0) orphans.push([id, values]);
    }
    return orphans;
  }
}

/**
 * Values as one byte array, each its length (uint32 LE) then its bytes: a
 * reply of many values serializes as one typed array, not as one per value.
 */
export function pack(values: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const value of values) length += 4 + value.length;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const value of values) {
    view.setUint32(at, value.length, true);
    out.set(value, at + 4);
    at += 4 + value.length;
  }
  return out;
}

/** The values {@link pack} packed (views into `packed`). */
export function unpack(packed: Uint8Array): Uint8Array[] {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.length);
  const out: Uint8Array[] = [];
  for (let at = 0; at < packed.length; ) {
    const length = view.getUint32(at, true);
    out.push(packed.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
}
