/**
 * The loop inside every worker (thread, process, or the inline one on the
 * caller's event loop).
 *
 *   parent batch ──► handle() ──► local queue ──► drain() ──► task(args)
 *                                     ▲                          │
 *       P_DEFINE ─► loadTask() ───────┘ (head waits for it)      ▼
 *   parent ◄── port.send(batch) ◄── flush() ◄── outbox ◄── result / error
 *
 * A batch from the parent is read frame by frame. Calls go to a local FIFO
 * queue and start while fewer than `concurrency` async calls are running; a
 * synchronous task completes inside drain(), so a batch of small calls runs
 * back to back and their results leave together in one message. Async
 * completions are flushed once per turn of the event loop (setImmediate), so
 * a burst of them is coalesced too. Every outgoing batch ends with W_STATS
 * (busy milliseconds), from which the pool derives utilisation and how deep
 * to pipeline.
 */
import { CancelledError, SerializationError } from '../errors.js';
import {
  type Batch,
  FLAG_SHARED,
  FLAG_MEASURE,
  FLAG_SINGLE,
  FLAG_STAR,
  FRAME_FIELDS,
  type HelloData,
  P_ABORT,
  P_CHUNK,
  P_DEFINE,
  P_HELLO,
  P_RUN,
  P_SHUTDOWN,
  type TaskDefinition,
  W_CHUNK_FAIL,
  W_FAIL,
  W_INIT_FAILED,
  W_MEASURE,
  W_OK,
  W_READY,
  W_STATS,
  encodeError,
} from '../protocol.js';
import { installThreadGlobals } from '../shareable.js';
import { serialize } from 'node:v8';
import { current, type SignalSource } from './current.js';
import { pushChunkResults, pushResult } from '../serialize.js';
import { rehydrate, rehydrateItems } from './rehydrate.js';
import { loadTask } from './task-loader.js';

/** How the runtime speaks to its parent. */
export interface RuntimePort {
  /** Sends one batch; may throw if a value cannot be serialized. */
  send(batch: Batch): void;
  /** Ends the worker after a shutdown request. */
  exit(code: number): void;
  /** Overrides how a definition becomes a function (the inline backend uses the caller's own). */
  resolveTask?(definition: TaskDefinition): Promise<Function> | Function;
  /** Results stay on this event loop (inline): checked like any result, but passed as they are. */
  sameThread?: boolean;
}

const QUEUE_FIELDS = 5; // tag, id, key, payload, flags
// Past this much running time, results already in the outbox are sent at once,
// so a long batch of synchronous calls still reports progress.
const FLUSH_AFTER_MS = 4;
// A call that ran this long may have had calls queued behind it cancelled.
const YIELD_AFTER_MS = 2;

export class WorkerRuntime implements SignalSource {
  readonly #port: RuntimePort;
  #concurrency = 1;
  #tasks: (Function | undefined)[] = [];
  #loadErrors = new Map<number, unknown>();
  #loading = new Map<number, Promise<void>>();
  #queue: unknown[] = [];
  #head = 0;
  #blocked = false;
  #running = 0;
  #outbox: unknown[] = [];
  #flushScheduled = false;
  #lastFlush = 0;
  #busyMs = 0;
  #controllers: Map<number, AbortController> | null = null;
  #aborted: Set<number> | null = null;
  /** Async calls holding a place (ids), and the ones whose place was released early. */
  #asyncRunning = new Set<number>();
  #released: Set<number> | null = null;
  #yieldScheduled = false;
  #shuttingDown = false;

  constructor(port: RuntimePort) {
    this.#port = port;
  }

  /** Entry point for every batch the parent sends. */
  handle(batch: Batch): void {
    for (let i = 0; i < batch.length; ) {
      const tag = batch[i] as number;
      switch (tag) {
        case P_RUN:
        case P_CHUNK:
          this.#queue.push(tag, batch[i + 1], batch[i + 2], batch[i + 3], batch[i + 4]);
          break;
        case P_DEFINE:
          this.#define(batch[i + 1] as number, batch[i + 2] as TaskDefinition);
          break;
        case P_ABORT:
          this.#abort(batch[i + 1] as number, batch[i + 2] === 1);
          break;
        case P_HELLO:
          void this.#hello(batch[i + 1] as HelloData);
          break;
        case P_SHUTDOWN:
          this.#shuttingDown = true;
          break;
        default:
          throw new SerializationError(-1, 'message', `unknown protocol tag ${String(tag)}; parent and worker run different versions of tandem`);
      }
      i += 1 + FRAME_FIELDS[tag]!;
    }
    this.#lastFlush = performance.now();
    this.#drain();
    this.#flush();
  }

  signalFor(id: number): AbortSignal {
    const controllers = (this.#controllers ??= new Map());
    let controller = controllers.get(id);
    if (!controller) {
      controller = new AbortController();
      controllers.set(id, controller);
      if (this.#aborted?.delete(id)) controller.abort(new CancelledError());
    }
    return controller.signal;
  }

  async #hello(hello: HelloData): Promise<void> {
    this.#concurrency = hello.concurrency;
    installThreadGlobals(hello.threadGlobals);
    if (hello.init) {
      try {
        const fn = await this.#resolve(hello.init.definition);
        const args = hello.init.flags & FLAG_SHARED ? (rehydrate(hello.init.args) as unknown[]) : hello.init.args;
        await fn(...args);
      } catch (error) {
        this.#port.send([W_INIT_FAILED, encodeError(error)]);
        return;
      }
    }
    this.#port.send([W_READY, process.pid]);
  }

  #resolve(definition: TaskDefinition): Promise<Function> {
    return Promise.resolve(this.#port.resolveTask ? this.#port.resolveTask(definition) : loadTask(definition));
  }

  #define(key: number, definition: TaskDefinition): void {
    const loading = this.#resolve(definition).then(
      (fn) => {
        this.#tasks[key] = fn;
      },
      (error: unknown) => {
        this.#loadErrors.set(key, error);
      },
    );
    this.#loading.set(key, loading);
  }

  #abort(id: number, release: boolean): void {
    const controller = this.#controllers?.get(id);
    if (controller) controller.abort(new CancelledError());
    else (this.#aborted ??= new Set()).add(id);
    // The pool has given up on this call (a timeout on the inline backend,
    // which cannot stop it): its place goes to the next call even if the task
    // ignores its signal and never settles.
    if (release && this.#asyncRunning.delete(id)) {
      this.#running--;
      (this.#released ??= new Set()).add(id);
      this.#drain();
    }
  }

  /** An async call settled: frees its place unless an abort already did. */
  #asyncSettled(id: number): void {
    if (this.#released?.delete(id)) return;
    this.#asyncRunning.delete(id);
    this.#running--;
  }

  #drain(): void {
    const queue = this.#queue;
    // One clock read per call: it ends this call's time and starts the next's.
    let started = performance.now();
    while (this.#running < this.#concurrency && this.#head < queue.length && !this.#blocked && !this.#yieldScheduled) {
      const at = this.#head;
      const key = queue[at + 2] as number;
      const fn = this.#tasks[key];
      if (fn === undefined && !this.#loadErrors.has(key)) {
        // Keep FIFO order: the head waits until its task has loaded.
        this.#blocked = true;
        void this.#loading.get(key)!.then(() => {
          this.#blocked = false;
          this.#drain();
          this.#flush();
        });
        return;
      }
      const tag = queue[at] as number;
      const id = queue[at + 1] as number;
      const payload = queue[at + 3] as unknown[];
      const flags = queue[at + 4] as number;
      this.#head = at + QUEUE_FIELDS;
      if (this.#head > 4096 && this.#head * 2 > queue.length) {
        queue.splice(0, this.#head);
        this.#head = 0;
      }
      let pending = false;
      if (fn === undefined) {
        this.#fail(tag, id, this.#loadErrors.get(key));
      } else if (this.#aborted !== null && this.#aborted.delete(id)) {
        this.#fail(tag, id, new CancelledError('cancelled before it started'));
      } else if (tag === P_RUN) {
        pending = this.#run(id, fn, payload, flags, started);
      } else {
        pending = this.#runChunk(id, fn, payload, flags, started);
      }
      const now = performance.now();
      const spent = now - started;
      started = now;
      // An async call's time is counted when it settles.
      if (!pending) this.#busyMs += spent;
      if (spent > YIELD_AFTER_MS && this.#head < queue.length) {
        // A long call held the event loop: messages that arrived meanwhile
        // (aborts of the calls queued here behind it) are read before the next
        // call starts, so a call cancelled while it waited does not run.
        this.#flush();
        this.#yieldScheduled = true;
        setImmediate(() => {
          this.#yieldScheduled = false;
          this.#drain();
          this.#flush();
        });
        return;
      }
      if (this.#outbox.length > 0 && now - this.#lastFlush > FLUSH_AFTER_MS) this.#flush();
    }
    if (this.#shuttingDown && this.#running === 0 && this.#head >= queue.length) {
      this.#flush();
      this.#port.exit(0);
    }
  }

  #fail(tag: number, id: number, error: unknown): void {
    if (tag === P_RUN) this.#outbox.push(W_FAIL, id, encodeError(error));
    else this.#outbox.push(W_CHUNK_FAIL, id, 0, encodeError(error));
  }

  /** Runs one call; true if it returned a promise (it settles later). */
  #run(id: number, fn: Function, payload: unknown, flags: number, started: number): boolean {
    const measure = flags & FLAG_MEASURE ? new Measurement(id) : null;
    let result: unknown;
    current.source = this;
    current.id = id;
    try {
      const args = flags & FLAG_SHARED ? rehydrate(payload) : payload;
      result = flags & FLAG_SINGLE ? fn(args) : fn(...(args as unknown[]));
    } catch (error) {
      current.source = null;
      this.#settled(id);
      measure?.report(this.#outbox, undefined);
      this.#outbox.push(W_FAIL, id, encodeError(error));
      return false;
    }
    current.source = null;
    if (isThenable(result)) {
      this.#running++;
      this.#asyncRunning.add(id);
      result.then(
        (value) => {
          measure?.report(this.#outbox, value);
          this.#asyncDone(started, id, W_OK, value);
        },
        (error: unknown) => {
          measure?.report(this.#outbox, undefined);
          this.#asyncDone(started, id, W_FAIL, encodeError(error));
        },
      );
      return true;
    }
    this.#settled(id);
    measure?.report(this.#outbox, result);
    pushResult(this.#outbox, id, result, this.#port.sameThread === true);
    return false;
  }

  /**
   * Items of a chunk run one after another, like the calls of one worker slot:
   * an async item is awaited before the next starts, so a chunk never runs
   * more at once than the pool's concurrency allows.
   */
  #runChunk(id: number, fn: Function, items: unknown[], flags: number, started: number): boolean {
    const list = items;
    const star = (flags & FLAG_STAR) !== 0;
    const results = new Array<unknown>(list.length);
    const runFrom = (first: number): PromiseLike<unknown> | null => {
      current.source = this;
      current.id = id;
      let i = first;
      try {
        for (; i < list.length; i++) {
          const value: unknown = star ? fn(...(list[i] as unknown[])) : fn(list[i]);
          if (isThenable(value)) {
            const at = i;
            return value.then(
              (settled) => {
                results[at] = settled;
                return runFrom(at + 1);
              },
              (error: unknown) => Promise.reject(new ChunkItemError(at, error)),
            );
          }
          results[i] = value;
        }
        return null;
      } catch (error) {
        throw new ChunkItemError(i, error);
      } finally {
        current.source = null;
      }
    };
    // Synchronous chunks are timed by #drain; an async one from start to end here.
    const finish = (error: unknown, async: boolean): void => {
      if (async) this.#busyMs += performance.now() - started;
      this.#settled(id);
      if (error === undefined) pushChunkResults(this.#outbox, id, results, this.#port.sameThread === true);
      else {
        const failure = error as ChunkItemError;
        this.#outbox.push(W_CHUNK_FAIL, id, failure.index, encodeError(failure.error));
      }
    };
    let pending: PromiseLike<unknown> | null;
    try {
      if (flags & FLAG_SHARED) rehydrateItems(list, (index, error) => new ChunkItemError(index, error));
      pending = runFrom(0);
    } catch (error) {
      finish(error, false);
      return false;
    }
    if (pending === null) {
      finish(undefined, false);
      return false;
    }
    this.#running++;
    this.#asyncRunning.add(id);
    pending.then(
      () => {
        this.#asyncSettled(id);
        finish(undefined, true);
        this.#afterAsync();
      },
      (error: unknown) => {
        this.#asyncSettled(id);
        finish(error, true);
        this.#afterAsync();
      },
    );
    return true;
  }

  #asyncDone(started: number, id: number, tag: number, value: unknown): void {
    this.#asyncSettled(id);
    this.#busyMs += performance.now() - started;
    this.#settled(id);
    if (tag === W_OK) pushResult(this.#outbox, id, value, this.#port.sameThread === true);
    else this.#outbox.push(tag, id, value);
    this.#afterAsync();
  }

  /**
   * An async call settled. Calls queued here behind it start from the next
   * turn of the event loop, not from this promise callback: messages that
   * came in while it ran (aborts of those very calls) are read first.
   */
  #afterAsync(): void {
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#drain();
        this.#flush();
      });
    }
  }

  #settled(id: number): void {
    if (this.#controllers !== null && this.#controllers.size > 0) this.#controllers.delete(id);
  }

  #flush(): void {
    const outbox = this.#outbox;
    if (outbox.length === 0) return;
    this.#outbox = [];
    this.#lastFlush = performance.now();
    outbox.push(W_STATS, this.#busyMs);
    try {
      this.#port.send(outbox);
    } catch {
      this.#sendOneByOne(outbox);
    }
  }

  /** A value in the batch could not be serialized: find it, and fail only its call. */
  #sendOneByOne(batch: Batch): void {
    for (let i = 0; i < batch.length; ) {
      const tag = batch[i] as number;
      const width = 1 + FRAME_FIELDS[tag]!;
      const frame = batch.slice(i, i + width);
      i += width;
      if (tag === W_STATS) continue;
      try {
        this.#port.send(frame);
      } catch (error) {
        const id = frame[1] as number;
        const why = new SerializationError(-1, 'result', `${(error as Error)?.message ?? String(error)}; return plain data from the task`, {
          cause: error,
          result: true,
        });
        this.#port.send(tag === W_OK || tag === W_FAIL ? [W_FAIL, id, encodeError(why)] : [W_CHUNK_FAIL, id, 0, encodeError(why)]);
      }
    }
    this.#port.send([W_STATS, this.#busyMs]);
  }
}

/**
 * Wall time and event-loop active time of one call. A call that computes
 * keeps its loop busy the whole time; one that waits on I/O or timers leaves
 * it idle. The auto backend routes tasks by that share.
 */
class Measurement {
  readonly #started = performance.now();
  readonly #loop = performance.eventLoopUtilization();
  constructor(readonly id: number) {}

  report(outbox: unknown[], result: unknown): void {
    const wall = performance.now() - this.#started;
    const active = Math.min(wall, performance.eventLoopUtilization(this.#loop).active);
    let bytes = 0;
    try {
      bytes = result === undefined ? 0 : serialize(result).byteLength;
    } catch {
      // An unserializable result fails on its own way back; its size does not matter.
    }
    outbox.push(W_MEASURE, this.id, wall, active, bytes);
  }
}

/** Which item of a chunk failed, carried through the chunk's promise chain. */
class ChunkItemError {
  constructor(
    readonly index: number,
    readonly error: unknown,
  ) {}
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
