/**
 * The loop inside every worker (thread, process, or the inline one on the
 * caller's event loop).
 *
 *   parent batch ──► handle() ──► waiting calls ──► drain() ──► task(args)
 *                                     ▲                            │
 *       P_DEFINE ─► loadTask() ───────┘ (head waits for it)        ▼
 *   parent ◄── port.send(batch) ◄── flush() ◄── outbox ◄── result / error
 *
 * A batch from the parent is read frame by frame. Calls wait in a FIFO and
 * start while a *place* is free: a worker has `concurrency` places, a
 * synchronous call holds one while it runs, an async call until it settles.
 * A call the parent cancels or takes back before it starts is taken out of
 * the FIFO and answered at once, so every call the parent sent is answered
 * exactly once.
 *
 * When results travel: a call that is not known to be short (or that has a
 * timeout) is announced with W_STARTED and everything waiting in the outbox is
 * sent before it starts, and its own result is sent as soon as it ends. Only
 * calls known to be short (each task's pace is measured here, per worker) run
 * back to back with their results batched, at most FLUSH_AFTER_MS apart; if
 * one of those blocks after all, copies of the results it holds reach the
 * parent through a watcher outside this thread (src/worker/rescue.ts). So a
 * finished result never waits for a long call, and the parent always knows
 * which long call a dying worker was running (src/pool/failure.ts). Async
 * completions are flushed once per turn of the event loop. Every outgoing
 * batch ends with W_STATS (busy milliseconds), from which the pool derives
 * utilisation and how deep to pipeline.
 */
import { CancelledError, SerializationError } from '../errors.js';
import {
  type Batch,
  FLAG_MEASURE,
  FLAG_REPORT_START,
  FLAG_SHARED,
  FLAG_SINGLE,
  FLAG_STAR,
  FRAME_FIELDS,
  type HelloData,
  KIND_CHUNK,
  KIND_RUN,
  P_ABORT,
  P_CHUNK,
  P_DEFINE,
  P_HELLO,
  P_REVOKE,
  P_RUN,
  P_SHUTDOWN,
  type TaskDefinition,
  W_CHUNK_FAIL,
  W_DYING,
  W_FAIL,
  W_INIT_FAILED,
  W_MEASURE,
  W_OK,
  W_PACE,
  W_READY,
  W_REVOKED,
  W_STARTED,
  W_STATS,
  encodeError,
} from '../protocol.js';
import { installThreadGlobals } from '../shareable.js';
import { serialize } from 'node:v8';
import { current, type SignalSource } from './current.js';
import { pushChunkResults, pushResult } from '../serialize.js';
import { rehydrate, rehydrateItems } from './rehydrate.js';
import { claimArrived, claimStart } from './claims.js';
import { loadTask } from './task-loader.js';
import { startLoopActivity } from './loop-activity.js';
import { RescueCopies } from './rescue.js';

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
  /**
   * Where copies of waiting results go before a short call starts, for a
   * watcher outside this thread to deliver if that call blocks (src/worker/rescue.ts).
   * Absent (and not sameThread), waiting results are sent before each call instead.
   */
  rescue?: SharedArrayBuffer;
}

const QUEUE_FIELDS = 6; // tag, id, key, payload, flags, ticket
/** Tag of a waiting call that was cancelled or taken back: skipped when reached. */
const REMOVED = 0;
// Results of short calls are batched, but never held longer than this.
const FLUSH_AFTER_MS = 4;
// A call that ran this long may have had calls queued behind it cancelled or
// taken back: messages are read before the next call starts.
const YIELD_AFTER_MS = 2;
/**
 * A task whose calls (the longest of the recent ones) take less than this is
 * short: its calls run without announcing themselves, results batched.
 * Anything longer is announced, so a result never waits behind it.
 */
export const SHORT_MS = 1;
// Each call lowers a task's remembered longest duration by this factor, so a
// task that was slow once becomes short again after some fast calls.
const PACE_DECAY = 0.9;

export class WorkerRuntime implements SignalSource {
  readonly #port: RuntimePort;
  #places = 1;
  #tasks: (Function | undefined)[] = [];
  #loadErrors = new Map<number, unknown>();
  #loading = new Map<number, Promise<void>>();
  #queue: unknown[] = [];
  #head = 0;
  #blocked = false;
  /** Async calls holding a place: id → the AbortController of its signal, made when the task asks for it. */
  readonly #running = new Map<number, AbortController | null>();
  /** The call whose synchronous part runs right now (-1: none), and its signal's controller if it asked. */
  #executing = -1;
  #executingController: AbortController | null = null;
  #outbox: unknown[] = [];
  #flushScheduled = false;
  #lastFlush = 0;
  #busyMs = 0;
  /** Remembered longest call duration (ms) per task key × kind (key * 2 + kind). */
  readonly #pace: number[] = [];
  #yieldScheduled = false;
  #shuttingDown = false;
  /** Set once the worker is ending on its own terms (shutdown) or has said its last words. */
  #ended = false;
  /** The words by which calls sent ahead are taken back (src/worker/claims.ts); null where calls are taken back by message. */
  #claims: Int32Array | null = null;
  readonly #copies: RescueCopies | null = null;

  constructor(port: RuntimePort, claims: SharedArrayBuffer | null = null) {
    this.#port = port;
    if (claims !== null) this.#claims = new Int32Array(claims);
    if (port.rescue !== undefined) this.#copies = new RescueCopies(port.rescue);
  }

  /** Entry point for every batch the parent sends. */
  handle(batch: Batch): void {
    for (let i = 0; i < batch.length; ) {
      const tag = batch[i] as number;
      switch (tag) {
        case P_RUN:
        case P_CHUNK:
          // A call taken back before it arrived is dropped: the pool no longer waits for it.
          if (this.#claims === null || claimArrived(this.#claims, batch[i + 5] as number)) {
            this.#queue.push(tag, batch[i + 1], batch[i + 2], batch[i + 3], batch[i + 4], batch[i + 5]);
          }
          break;
        case P_DEFINE:
          this.#define(batch[i + 1] as number, batch[i + 2] as TaskDefinition);
          break;
        case P_ABORT:
          this.#abort(batch[i + 1] as number, batch[i + 2] === 1);
          break;
        case P_REVOKE:
          this.#revoke(batch[i + 1] as number);
          break;
        case P_HELLO:
          void this.#hello(batch[i + 1] as HelloData);
          break;
        case P_SHUTDOWN:
          this.#shuttingDown = true;
          break;
        default:
          throw new SerializationError(
            -1,
            'message',
            `unknown protocol tag ${String(tag)}; parent and worker run different versions of tandem`,
          );
      }
      i += 1 + FRAME_FIELDS[tag];
    }
    this.#lastFlush = performance.now();
    this.#drain();
    this.#flush();
  }

  signalFor(id: number): AbortSignal {
    if (id === this.#executing) return (this.#executingController ??= new AbortController()).signal;
    let controller = this.#running.get(id);
    if (controller === undefined) return new AbortController().signal; // settled already: nothing will abort it
    if (controller === null) this.#running.set(id, (controller = new AbortController()));
    return controller.signal;
  }

  /**
   * The worker is dying without being asked to (an uncaught error, or
   * process.exit() called by a task): the batch to send as its last words —
   * every result it still holds, then which calls were running. Null if it
   * has already spoken or is ending on request.
   */
  lastWords(error: unknown): Batch | null {
    if (this.#ended) return null;
    this.#ended = true;
    const running = [...this.#running.keys()];
    if (this.#executing >= 0) running.push(this.#executing);
    const words = this.#takeOutbox();
    words.push(W_DYING, running, error === null || error === undefined ? null : encodeError(error), W_STATS, this.#busyMs);
    return words;
  }

  async #hello(hello: HelloData): Promise<void> {
    this.#places = hello.concurrency;
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

  /** Takes a call that has not started out of the FIFO; false if it is not waiting here. */
  #unqueue(id: number): number {
    const queue = this.#queue;
    for (let at = this.#head; at < queue.length; at += QUEUE_FIELDS) {
      if (queue[at + 1] === id && queue[at] !== REMOVED) {
        const tag = queue[at] as number;
        queue[at] = REMOVED;
        queue[at + 3] = undefined;
        return tag;
      }
    }
    return REMOVED;
  }

  #abort(id: number, release: boolean): void {
    const waiting = this.#unqueue(id);
    if (waiting !== REMOVED) {
      this.#fail(waiting, id, new CancelledError('cancelled before it started'));
      return;
    }
    if (!this.#running.has(id)) return; // finished already: its answer is on its way
    const controller = this.#running.get(id) ?? new AbortController();
    this.#running.set(id, controller);
    controller.abort(new CancelledError());
    // The pool has given up on this call (a timeout on the inline backend,
    // which cannot stop it): its place goes to the next call even if the task
    // ignores its signal and never settles.
    if (release) {
      this.#running.delete(id);
      this.#drain();
    }
  }

  #revoke(id: number): void {
    if (this.#unqueue(id) !== REMOVED) this.#outbox.push(W_REVOKED, id);
  }

  #drain(): void {
    const queue = this.#queue;
    const pace = this.#pace;
    // One clock read per call: it ends this call's time and starts the next's.
    let started = performance.now();
    // Once its last words are said, a worker starts nothing: they named the calls that ran, and the pool
    // sends every other one elsewhere. (Deno's process.exit() in a worker can return and let the thread
    // run on for a while before it stops.)
    while (this.#running.size < this.#places && this.#head < queue.length && !this.#blocked && !this.#yieldScheduled && !this.#ended) {
      const at = this.#head;
      const tag = queue[at] as number;
      if (tag === REMOVED) {
        this.#head = at + QUEUE_FIELDS;
        continue;
      }
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
      const id = queue[at + 1] as number;
      const payload = queue[at + 3] as unknown[];
      const flags = queue[at + 4] as number;
      const ticket = queue[at + 5] as number;
      this.#head = at + QUEUE_FIELDS;
      if (this.#head > 4096 && this.#head * 2 > queue.length) {
        queue.splice(0, this.#head);
        this.#head = 0;
      }
      // Taken back while it waited here: it never runs, and the pool expects no answer.
      if (this.#claims !== null && !claimStart(this.#claims, ticket)) continue;
      if (fn === undefined) {
        this.#fail(tag, id, this.#loadErrors.get(key));
        continue;
      }
      const kind = tag === P_RUN ? KIND_RUN : KIND_CHUNK;
      const paceSlot = key * 2 + kind;
      const remembered = pace[paceSlot];
      const quiet = remembered !== undefined && remembered < SHORT_MS && (flags & FLAG_REPORT_START) === 0;
      if (!quiet) {
        // Everything finished so far leaves before a call that may be long starts.
        this.#outbox.push(W_STARTED, id);
        this.#flush();
        started = performance.now();
      } else if (this.#outbox.length > 0 && (started - this.#lastFlush > FLUSH_AFTER_MS || !this.#keepCopies())) {
        this.#flush();
        started = performance.now();
      }
      const pending =
        tag === P_RUN ? this.#run(id, fn, payload, flags, started, paceSlot) : this.#runChunk(id, fn, payload, flags, started, paceSlot);
      const now = performance.now();
      const spent = now - started;
      started = now;
      // An async call's time and pace are counted when it settles.
      if (!pending) {
        this.#busyMs += spent;
        this.#learnPace(paceSlot, spent);
        // A call that was not known to be short ran long enough: its result goes now.
        if (!quiet || spent >= SHORT_MS) {
          this.#flush();
          started = performance.now();
        }
      }
      if (spent > YIELD_AFTER_MS && this.#head < queue.length) {
        // A long call held the event loop: messages that arrived meanwhile
        // (cancels and take-backs of the calls waiting here behind it) are
        // read before the next call starts.
        this.#flush();
        this.#yieldScheduled = true;
        setImmediate(() => {
          this.#yieldScheduled = false;
          this.#drain();
          this.#flush();
        });
        return;
      }
    }
    if (this.#shuttingDown && this.#running.size === 0 && this.#head >= queue.length) {
      this.#flush();
      this.#ended = true;
      this.#port.exit(0);
    }
  }

  /** Remembers how long a task's call took; tells the parent when the task turns short or long. */
  #learnPace(slot: number, ms: number): void {
    const before = this.#pace[slot];
    const after = before === undefined ? ms : Math.max(ms, before * PACE_DECAY);
    this.#pace[slot] = after;
    const wasShort = before !== undefined && before < SHORT_MS;
    if (wasShort !== after < SHORT_MS) this.#outbox.push(W_PACE, slot >> 1, slot & 1, after < SHORT_MS ? 1 : 0);
  }

  #fail(tag: number, id: number, error: unknown): void {
    if (tag === P_RUN) this.#outbox.push(W_FAIL, id, encodeError(error));
    else this.#outbox.push(W_CHUNK_FAIL, id, 0, encodeError(error));
  }

  /** Runs one call; true if it returned a promise (it settles later). */
  #run(id: number, fn: Function, payload: unknown, flags: number, started: number, paceSlot: number): boolean {
    const measure = flags & FLAG_MEASURE ? new Measurement(id) : null;
    let result: unknown;
    this.#enter(id);
    current.name = fn.name;
    try {
      const args = flags & FLAG_SHARED ? rehydrate(payload) : payload;
      result = flags & FLAG_SINGLE ? fn(args) : fn(...(args as unknown[]));
    } catch (error) {
      this.#leave(id, false);
      measure?.report(this.#outbox, undefined);
      this.#outbox.push(W_FAIL, id, encodeError(error));
      return false;
    }
    if (isThenable(result)) {
      this.#leave(id, true);
      result.then(
        (value) => {
          this.#asyncSettled(id, started, paceSlot);
          measure?.report(this.#outbox, value);
          pushResult(this.#outbox, id, value, this.#port.sameThread === true);
        },
        (error: unknown) => {
          this.#asyncSettled(id, started, paceSlot);
          measure?.report(this.#outbox, undefined);
          this.#outbox.push(W_FAIL, id, encodeError(error));
        },
      );
      return true;
    }
    this.#leave(id, false);
    measure?.report(this.#outbox, result);
    pushResult(this.#outbox, id, result, this.#port.sameThread === true);
    return false;
  }

  /** The synchronous part of call `id` starts: `currentSignal()` finds it. */
  #enter(id: number): void {
    current.source = this;
    current.id = id;
    this.#executing = id;
  }

  /** The synchronous part ended; an async call keeps its place (and its signal) until it settles. */
  #leave(id: number, async: boolean): void {
    current.source = null;
    this.#executing = -1;
    if (async) this.#running.set(id, this.#executingController);
    this.#executingController = null;
  }

  /**
   * Items of a chunk run one after another, like the calls of one worker
   * place: an async item is awaited before the next starts, so a chunk never
   * runs more at once than the pool's concurrency allows.
   */
  #runChunk(id: number, fn: Function, items: unknown[], flags: number, started: number, paceSlot: number): boolean {
    const list = items;
    const star = (flags & FLAG_STAR) !== 0;
    const results = new Array<unknown>(list.length);
    const runFrom = (first: number): PromiseLike<unknown> | null => {
      current.source = this;
      current.id = id;
      current.name = fn.name;
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
    const pushOutcome = (error: unknown): void => {
      if (error === undefined) pushChunkResults(this.#outbox, id, results, this.#port.sameThread === true);
      else {
        const failure = error as ChunkItemError;
        this.#outbox.push(W_CHUNK_FAIL, id, failure.index, encodeError(failure.error));
      }
    };
    const settled = (error: unknown): void => {
      this.#asyncSettled(id, started, paceSlot);
      pushOutcome(error);
    };
    let pending: PromiseLike<unknown> | null;
    this.#executing = id;
    try {
      if (flags & FLAG_SHARED) rehydrateItems(list, (index, error) => new ChunkItemError(index, error));
      pending = runFrom(0);
    } catch (error) {
      this.#leave(id, false);
      pushOutcome(error);
      return false;
    }
    if (pending === null) {
      this.#leave(id, false);
      pushOutcome(undefined);
      return false;
    }
    this.#leave(id, true);
    pending.then(
      () => settled(undefined),
      (error: unknown) => settled(error),
    );
    return true;
  }

  /** An async call settled: it frees its place (unless an abort already did); its outcome, pushed next, is sent this turn. */
  #asyncSettled(id: number, started: number, paceSlot: number): void {
    this.#running.delete(id);
    const spent = performance.now() - started;
    this.#busyMs += spent;
    this.#learnPace(paceSlot, spent);
    this.#afterAsync();
  }

  /**
   * An async call settled. Calls waiting here behind it start from the next
   * turn of the event loop, not from this promise callback: messages that
   * came in while it ran (cancels of those very calls) are read first.
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

  /**
   * A short call is about to start while results wait here: they are copied
   * where a watcher outside this thread finds them if the call blocks
   * (src/worker/rescue.ts). False: they must be sent now instead.
   */
  #keepCopies(): boolean {
    if (this.#port.sameThread === true) return true; // inline: its caller's loop is blocked with it anyway
    return this.#copies?.copy(this.#outbox) === true;
  }

  /** Empties the outbox: what it held, minus what a watcher has delivered already. */
  #takeOutbox(): unknown[] {
    const outbox = this.#outbox;
    this.#outbox = [];
    const taken = this.#copies === null ? 0 : this.#copies.flushing();
    return taken > 0 ? outbox.slice(taken) : outbox;
  }

  #flush(): void {
    if (this.#outbox.length === 0 || this.#ended) return;
    const outbox = this.#takeOutbox();
    this.#lastFlush = performance.now();
    outbox.push(W_STATS, this.#busyMs);
    try {
      this.#port.send(outbox);
    } catch {
      this.#sendOneByOne(outbox);
    }
    this.#copies?.flushed();
  }

  /** A value in the batch could not be serialized: find it, and fail only its call. */
  #sendOneByOne(batch: Batch): void {
    for (let i = 0; i < batch.length; ) {
      const tag = batch[i] as number;
      const width = 1 + FRAME_FIELDS[tag];
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
 * it idle. The pool runs a measured call alone on its worker, so the loop's
 * activity is the call's own. The auto backend routes tasks by that share.
 */
class Measurement {
  readonly #started = performance.now();
  readonly #loop = startLoopActivity();
  constructor(readonly id: number) {}

  report(outbox: unknown[], result: unknown): void {
    const wall = performance.now() - this.#started;
    const active = Math.min(wall, this.#loop.stop());
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
    value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function'
  );
}
