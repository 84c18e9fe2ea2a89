/**
 * How data flows through a pool:
 *
 *   Pool.submit/map ──► Job ──► TaskQueue ──► pump() ──► Worker.outbox ──► WorkerHandle (Backend) ──► worker runtime
 *                                  ▲            (dispatch.ts:       one batch per tick                     │
 *     retries, calls a dead worker │             which worker)                                             │
 *     never started, calls taken   │                                                                       ▼
 *     back (failure.ts)            └──────── onMessage() ◄── readBatch() (inbox.ts) ◄──────────── results, W_STARTED
 *                                                │
 *   Future / map collector (JobOwner) ◄──────────┘
 *
 * The scheduler owns the queue and the workers; each Worker (worker.ts) owns
 * the calls it holds, so "assigned ⇔ in flight ⇔ counted" is kept by one
 * class, and `running` is derived from it, never counted by hand. It speaks
 * to workers only through the Backend interface. Which worker takes a call
 * is decided in dispatch.ts, what a worker's death does to its calls in
 * failure.ts; docs/architecture.md shows where each promise of the pool is
 * kept.
 */
import type { Backend, ExitInfo } from '../backends/backend.js';
import type { Explanation } from '../auto/profile.js';
import {
  CancelledError,
  PoolClosedError,
  QueueFullError,
  SerializationError,
  TaskTimeoutError,
  WorkerCrashedError,
  WorkerInitError,
} from '../errors.js';
import type { Future, FutureOwner } from '../future.js';
import {
  type Batch,
  FLAG_REPORT_START,
  P_ABORT,
  P_CHUNK,
  P_DEFINE,
  P_HELLO,
  P_REVOKE,
  P_RUN,
  P_SHUTDOWN,
  PROTOCOL_VERSION,
  type RemoteError,
  type TaskDefinition,
  W_CHUNK_FAIL,
  W_CHUNK_OK,
  W_FAIL,
  W_OK,
} from '../protocol.js';
import { collectThreadGlobals } from '../shareable.js';
import { definitionOf } from '../task.js';
import { checkArguments, decodeResult } from '../serialize.js';
import { remoteToError } from '../remote-error.js';
import { tickNow } from './clock.js';
import { timerDelay } from '../timer.js';
import { Deadlines } from './deadlines.js';
import { Dispatch } from './dispatch.js';
import type { Executor, Lane } from './executor.js';
import { crashError, exitReason, fatesOf } from './failure.js';
import { type InboxHandler, readBatch } from './inbox.js';
import { DONE, type Job, type JobOwner, RUN } from './job.js';
import type { ResolvedOptions } from './options.js';
import { Outbox } from './outbox.js';
import { PoolCounters, type PoolStats } from './stats.js';
import { TaskQueue } from './task-queue.js';
import { type LastWords, type StopCause, Worker } from './worker.js';

/** How long a worker that said its last words may take to exit before it is stopped. */
const LINGER_AFTER_LAST_WORDS_MS = 2_000;

/** The outcome of a call goes to its future. */
export const FUTURE_OWNER: JobOwner = {
  jobDone: (job, value) => job.future!.settleFulfilled(value),
  jobFailed: (job, error, handled) => job.future!.settleRejected(error, handled),
};

let nextWorkerId = 1;

export class Scheduler implements Executor, FutureOwner, InboxHandler {
  readonly #options: ResolvedOptions;
  readonly #backend: Backend;
  /** Calls waiting for a worker. */
  readonly #queue = new TaskQueue();
  /** Measured calls waiting for a worker of their own (they never wait in #queue, so nothing waits behind them). */
  readonly #aside = new TaskQueue();
  readonly #workers: Worker[] = [];
  readonly #dispatch = new Dispatch();
  readonly #deadlines = new Deadlines((job) => this.#timedOut(job));
  readonly #taskKeys = new Map<Function, number>();
  readonly #definitions: TaskDefinition[] = [];
  readonly #counters = new PoolCounters();
  readonly #outbox = new Outbox((worker, frame, cause) => this.#unsendable(worker, frame, cause));
  readonly #places: number;
  readonly #lane: Lane;
  #closing = false;
  #terminated = false;
  /** A worker may be reserved for a measured call (see #placeMeasured). */
  #reserving = false;
  /** Inside #takeBack: answers that come at once are pumped after the loop. */
  #takingBack = false;
  /** The last pump left the queue's head waiting, and the pool could not grow. */
  #stalled = false;
  readonly #canGrowNow = (): boolean => this.#canGrow();
  #startBroken = false;
  #onIdle: (() => void)[] = [];
  #onReady: { resolve: () => void; reject: (error: unknown) => void }[] = [];

  constructor(options: ResolvedOptions, backend: Backend) {
    this.#options = options;
    this.#backend = backend;
    // The inline (and redis) backend is one handle whose concurrency is the whole pool's.
    this.#places = backend.singleHandleConcurrency
      ? backend.singleHandleConcurrency(options.size, options.concurrencyPerWorker)
      : options.concurrencyPerWorker;
    this.#lane = { scheduler: this, flags: 0, owner: null };
    if (options.minSize > 0) this.#grow();
  }

  get closed(): boolean {
    return this.#closing;
  }

  /** What may cross to this scheduler's workers. */
  get boundary(): Backend['boundary'] {
    return this.#backend.boundary;
  }

  lane(): Lane {
    return this.#lane;
  }

  schedulerFor(): Scheduler {
    return this;
  }

  isUndecided(): boolean {
    return false;
  }

  explain(): Explanation | null {
    return null;
  }

  /** Small integer key of a task; the definition travels once per worker. */
  keyOf(fn: unknown): number {
    let key = this.#taskKeys.get(fn as Function);
    if (key === undefined) {
      const definition = definitionOf(fn);
      this.#backend.checkTask?.(definition);
      key = this.#definitions.length;
      this.#definitions.push(definition);
      this.#taskKeys.set(fn as Function, key);
    }
    return key;
  }

  /** Throws unless `count` more jobs fit in the queue (checked before anything is accepted). */
  checkAccept(count: number): void {
    if (this.#closing) throw new PoolClosedError();
    if (this.#queue.size + this.#aside.size + count > this.#options.maxQueue) throw new QueueFullError(this.#options.maxQueue);
  }

  enqueue(job: Job): void {
    this.#startBroken = false;
    this.#counters.accepted++;
    if (job.exclusive) this.#aside.push(job);
    else {
      const stalled = this.#stalled && job.priority <= (this.#queue.peek()?.priority ?? -Infinity);
      this.#queue.push(job);
      // Behind a head that no worker can take now, it cannot go either.
      if (stalled) return;
    }
    this.#pump();
  }

  cancelFuture(future: Future<unknown>): boolean {
    const job = (future as unknown as { job?: Job }).job;
    if (!job) return false;
    this.cancelJob(job, new CancelledError());
    return true;
  }

  /**
   * Cancels a job. A queued job is removed and never runs. A job on a worker
   * is told to stop (its signal aborts) and keeps its place, and its timeout,
   * until the worker answers: the worker is still busy with it.
   */
  cancelJob(job: Job, reason: CancelledError): void {
    if (job.cancelled || job.place === DONE) return;
    job.cancelled = true;
    this.#counters.cancelled++;
    if ((job.exclusive ? this.#aside : this.#queue).remove(job)) job.place = DONE;
    else if (job.worker !== null) this.#stopOnWorker(job);
    else job.place = DONE; // not queued yet (its signal had aborted already)
    this.#detach(job);
    if (job.future !== null) job.future.settleCancelled(reason);
    else job.owner.jobFailed(job, reason);
    this.#maybeFinishClose();
  }

  /**
   * A cancelled call on a worker: one sent ahead that has not started is taken
   * back (it never runs); one that runs is told to stop (its signal aborts).
   */
  #stopOnWorker(job: Job): void {
    if (job.revoking) return; // the answer to the take-back under way decides (#tookBack)
    if (!job.started && job.worker!.handle.takeBack !== undefined) {
      this.#askBack(job);
      return;
    }
    this.#outbox.push(job.worker!, P_ABORT, job.id, 0);
  }

  /** Starts `size` workers and resolves once all serve. */
  ready(): Promise<void> {
    if (this.#closing) return Promise.reject(new PoolClosedError());
    this.#grow(this.#options.size);
    if (this.#workers.length > 0 && this.#workers.every((w) => w.state !== 'starting')) return Promise.resolve();
    return new Promise((resolve, reject) => this.#onReady.push({ resolve, reject }));
  }

  close(): Promise<void> {
    this.#closing = true;
    const done = new Promise<void>((resolve) => this.#onIdle.push(resolve));
    this.#maybeFinishClose();
    return done;
  }

  terminate(): Promise<void> {
    this.#closing = true;
    this.#terminated = true;
    this.#deadlines.clear();
    const closed = new PoolClosedError('the pool was terminated before this call finished');
    for (const job of [...this.#aside.drain(), ...this.#queue.drain()]) this.#settleFailed(job, closed, true);
    for (const worker of this.#workers) {
      for (const job of worker.releaseAll()) if (!job.cancelled) this.#settleFailed(job, closed, true);
    }
    const done = new Promise<void>((resolve) => this.#onIdle.push(resolve));
    for (const worker of [...this.#workers]) this.#stop(worker, 'terminate');
    this.#maybeFinishClose();
    return done;
  }

  stats(): PoolStats {
    return this.#counters.snapshot(this.#backend.kind, this.#options.size, this.#workers, this.#queue.size + this.#aside.size);
  }

  // ── dispatch ────────────────────────────────────────────────────────────

  #pump(): void {
    if (this.#terminated) return;
    const workers = this.#workers;
    this.#placeMeasured(workers);
    const queue = this.#queue;
    while (queue.size > 0) {
      const worker = this.#dispatch.choose(queue.peek()!, workers, this.#canGrowNow);
      if (worker === null) break;
      this.#send(worker, queue.shift()!);
    }
    this.#stalled = false;
    if (queue.size + this.#aside.size > 0) {
      this.#grow();
      // Nothing changes for the queue's head until a worker answers, starts or
      // exits (each of which pumps again): calls queued behind it need no pump
      // of their own (bench "submit 100k trivial": one pump per call was a
      // tenth of the caller's time).
      this.#stalled = queue.size > 0 && !this.#canGrow();
    } else this.#takeBack();
  }

  /** Measured calls run alone on a worker: one is reserved to empty for the first that finds none. */
  #placeMeasured(workers: Worker[]): void {
    const aside = this.#aside;
    if (aside.size === 0 && !this.#reserving) return;
    this.#reserving = aside.size > 0;
    for (const worker of workers) worker.reserved = false;
    while (aside.size > 0) {
      const worker = this.#dispatch.choose(aside.peek()!, workers, () => false);
      if (worker === null) {
        if (!this.#canGrow()) this.#dispatch.reserveFor(workers);
        return;
      }
      this.#send(worker, aside.shift()!);
    }
  }

  #canGrow(): boolean {
    if (this.#startBroken) return false;
    let alive = 0;
    for (const worker of this.#workers) if (worker.alive) alive++;
    return alive < this.#limit();
  }

  #limit(): number {
    return this.#backend.singleHandleConcurrency ? 1 : this.#options.size;
  }

  #send(worker: Worker, job: Job): void {
    worker.assign(job, this.#options.maxTasksPerWorker);
    if (worker.defined[job.key] !== true) {
      worker.defined[job.key] = true;
      this.#outbox.push(worker, P_DEFINE, job.key, this.#definitions[job.key]);
    }
    if (job.transfer !== undefined && job.transfer.length > 0) (worker.transfer ??= []).push(...job.transfer);
    // The hottest line of the pool: pushed field by field, no frame array per call.
    worker.outbox.push(
      job.kind === RUN ? P_RUN : P_CHUNK,
      job.id,
      job.key,
      job.payload,
      job.timeout > 0 ? job.flags | FLAG_REPORT_START : job.flags,
      job.seq,
    );
    this.#outbox.touched(worker);
    // Like Python's executors: a call handed to a worker can no longer be taken back by cancel() alone.
    job.future?.markRunning();
    if (job.timeout > 0 && !this.#backend.reportsStart) this.#deadlines.add(job, performance.now() + job.timeout);
  }

  /** Calls sent ahead to a busy worker come back when a worker elsewhere has a free place. */
  #takeBack(): void {
    const jobs = this.#dispatch.toTakeBack(this.#workers);
    if (jobs.length === 0) return;
    this.#takingBack = true;
    let requeued = false;
    for (const job of jobs) requeued = this.#askBack(job) || requeued;
    this.#takingBack = false;
    // Threads answer at once: what came back goes to the free places now.
    if (requeued) this.#pump();
  }

  /**
   * Asks a call's worker to give it back: through its claim word if the backend
   * has one (exact, even while the worker is busy), else by message. True if it
   * came back at once.
   */
  #askBack(job: Job): boolean {
    const worker = job.worker!;
    job.revoking = true;
    const handle = worker.handle;
    if (handle.takeBack === undefined) {
      this.#outbox.push(worker, P_REVOKE, job.id);
      return false;
    }
    let now = false;
    handle.takeBack(job.seq, (taken) => {
      now = this.#tookBack(worker, job, taken);
    });
    return now;
  }

  /** The answer to a take-back; true if the call came back to the queue. */
  #tookBack(worker: Worker, job: Job, taken: boolean): boolean {
    if (job.worker !== worker) return false; // settled meanwhile (its worker died)
    job.revoking = false;
    if (!taken) {
      // It had started: it runs. A cancel that waited for this answer goes to the worker now.
      job.started = true;
      if (job.cancelled) this.#outbox.push(worker, P_ABORT, job.id, 0);
      return false;
    }
    worker.release(job);
    if (!job.cancelled) this.#requeue(job);
    if (!this.#takingBack) this.#afterRelease(worker);
    return !job.cancelled;
  }

  /** A frame that could not be serialized even alone: fail its call only. */
  #unsendable(worker: Worker, frame: unknown[], cause: unknown): void {
    const tag = frame[0];
    if (tag !== P_RUN && tag !== P_CHUNK) return;
    const job = worker.call(frame[1] as number);
    if (job === undefined || !worker.release(job)) return;
    if (!job.cancelled)
      this.#fail(job, new SerializationError(0, 'args', `${(cause as Error)?.message ?? String(cause)}`, { cause }), false);
    this.#afterRelease(worker);
  }

  // ── what workers say (inbox.ts reads the frames) ────────────────────────

  #onMessage(worker: Worker, batch: Batch): void {
    readBatch(worker, batch, this);
    this.#afterRelease(worker);
  }

  answered(worker: Worker, job: Job, tag: number, batch: Batch, at: number): void {
    worker.release(job);
    if (job.cancelled) return;
    if (tag === W_OK || tag === W_CHUNK_OK) {
      let value: unknown;
      try {
        // Shareables and registered class instances in a result are rebuilt here (src/serialize.ts).
        value = decodeResult(batch[at + 2]);
      } catch (error) {
        return this.#fail(job, error, false);
      }
      this.#counters.completedJob(job.submittedAt, tickNow());
      job.place = DONE;
      this.#detach(job);
      job.owner.jobDone(job, value);
    } else if (tag === W_FAIL) {
      this.#fail(job, remoteToError(batch[at + 2] as RemoteError), true);
    } else if (tag === W_CHUNK_FAIL) {
      const error = remoteToError(batch[at + 3] as RemoteError);
      (error as { index?: number }).index = job.offset + (batch[at + 2] as number);
      this.#fail(job, error, true);
    }
  }

  started(_worker: Worker, job: Job): void {
    job.started = true;
    // The clock of a timeout starts here, not when the call was sent: loading its module does not count.
    if (job.timeout > 0 && job.deadline === 0) this.#deadlines.add(job, performance.now() + job.timeout);
  }

  revoked(worker: Worker, job: Job): void {
    worker.release(job);
    if (!job.cancelled) this.#requeue(job);
  }

  pace(key: number, kind: number, short: boolean): void {
    this.#dispatch.pace(key, kind, short);
  }

  busy(worker: Worker, busyMs: number, answered: number): void {
    const spent = busyMs - worker.busyMs;
    worker.busyMs = busyMs;
    if (answered > 0) this.#dispatch.learn(spent, answered);
  }

  measured(job: Job, wallMs: number, activeMs: number, resultBytes: number): void {
    job.owner.jobMeasured?.(job, wallMs, activeMs, resultBytes);
  }

  workerReady(worker: Worker): void {
    if (!worker.becameReady()) return;
    if (this.#onReady.length > 0 && this.#workers.every((w) => w.state !== 'starting')) {
      for (const waiter of this.#onReady.splice(0)) waiter.resolve();
    }
  }

  initFailed(worker: Worker, remote: RemoteError): void {
    const error = new WorkerInitError(worker.id, remoteToError(remote));
    this.#stop(worker, 'init');
    this.#startFailed(error);
  }

  dying(worker: Worker, words: LastWords): void {
    worker.lastWords = words;
    // Its exit follows at once on Node and Bun. A Deno thread can run on after process.exit(): the calls its
    // words named as running fail only at its exit, so it is stopped if it lingers.
    setTimeout(() => {
      if (worker.state !== 'exited') worker.handle.kill();
    }, LINGER_AFTER_LAST_WORDS_MS).unref();
  }

  /** After a worker's calls changed: it may be idle, calls may be waiting, close may be done. */
  #afterRelease(worker: Worker): void {
    if (worker.load === 0) this.#idle(worker);
    this.#pump();
    this.#maybeFinishClose();
  }

  // ── workers ─────────────────────────────────────────────────────────────

  /** Starts workers while there is work (or minSize) for them, up to size. */
  #grow(atLeast = 0): void {
    // A closing pool still starts workers for calls it accepted before close().
    if (this.#terminated || this.#startBroken || (this.#closing && this.#queue.size + this.#aside.size === 0)) return;
    let alive = 0;
    let load = 0;
    for (const worker of this.#workers) {
      if (!worker.alive) continue;
      alive++;
      load += worker.load;
    }
    const wanted = Math.max(atLeast, this.#options.minSize, Math.ceil((this.#queue.size + this.#aside.size + load) / this.#places));
    for (let n = Math.min(wanted, this.#limit()) - alive; n > 0 && !this.#startBroken; n--) this.#spawn();
  }

  #spawn(): void {
    const worker = new Worker(nextWorkerId++, this.#places);
    this.#workers.push(worker);
    const options = this.#options;
    try {
      worker.handle = this.#backend.spawn(
        { workerId: worker.id, resourceLimits: options.resourceLimits, env: options.env, execArgv: options.execArgv },
        { message: (batch) => this.#onMessage(worker, batch), exit: (info) => this.#onExit(worker, info) },
      );
    } catch (error) {
      // Refused before it started (an execArgv a thread does not accept, say): nothing to wait for.
      this.#workers.splice(this.#workers.indexOf(worker), 1);
      worker.exited();
      this.#startFailed(
        new WorkerCrashedError({
          workerId: worker.id,
          exitCode: null,
          signal: null,
          reason: 'exit',
          detail: `it could not be started (${(error as Error)?.message ?? String(error)})`,
          cause: error,
          starting: true,
        }),
      );
      return;
    }
    let init = null;
    if (options.init) {
      const checked =
        this.#backend.boundary === 'none'
          ? { args: options.init.args, flags: 0 }
          : checkArguments(options.init.args, this.#backend.boundary);
      init = { definition: definitionOf(options.init.task), args: checked.args, flags: checked.flags };
    }
    this.#outbox.push(worker, P_HELLO, {
      version: PROTOCOL_VERSION,
      workerId: worker.id,
      concurrency: this.#places,
      init,
      threadGlobals: this.#backend.boundary === 'thread' ? collectThreadGlobals() : null,
    });
  }

  /** No worker could start: fail what waits for one instead of retrying forever. Cleared by the next call. */
  #startFailed(error: unknown): void {
    if (this.#workers.some((w) => w.state === 'ready')) return;
    this.#startBroken = true;
    for (const job of [...this.#aside.drain(), ...this.#queue.drain()]) {
      this.#counters.failed++;
      this.#settleFailed(job, error, false);
    }
    for (const waiter of this.#onReady.splice(0)) waiter.reject(error);
  }

  #idle(worker: Worker): void {
    if (worker.state === 'retiring') {
      if (worker.load === 0) this.#stop(worker, 'shutdown');
      return;
    }
    if (worker.state !== 'ready' || worker.load > 0 || this.#queue.size > 0) return;
    if (this.#options.idleTimeout === Infinity) return;
    worker.idleSince = performance.now();
    if (worker.idleTimer) worker.idleTimer.refresh();
    else {
      worker.idleTimer = setTimeout(() => this.#idleExpired(worker), timerDelay(this.#options.idleTimeout));
      worker.idleTimer.unref();
    }
  }

  #idleExpired(worker: Worker): void {
    if (worker.state !== 'ready' || worker.load > 0) return;
    let alive = 0;
    for (const w of this.#workers) if (w.alive) alive++;
    if (alive <= this.#options.minSize) return;
    const left = worker.idleSince + this.#options.idleTimeout - performance.now();
    if (left > 1) {
      worker.idleTimer = setTimeout(() => this.#idleExpired(worker), timerDelay(left));
      worker.idleTimer.unref();
      return;
    }
    this.#stop(worker, 'shutdown');
  }

  #stop(worker: Worker, cause: StopCause): void {
    if (worker.state === 'exited') return;
    const alreadyStopping = worker.state === 'stopping';
    if (worker.stopping(cause)) {
      worker.handle.kill();
    } else if (!alreadyStopping && !worker.shutdownSent) {
      worker.shutdownSent = true;
      this.#outbox.push(worker, P_SHUTDOWN);
    }
  }

  #onExit(worker: Worker, info: ExitInfo): void {
    const wasStarting = worker.state === 'starting';
    worker.exited();
    this.#workers.splice(this.#workers.indexOf(worker), 1);
    this.#counters.workerExited(worker);
    const jobs = worker.releaseAll();
    const fates = fatesOf(worker, jobs);
    // Back to the head of the queue in their order, then the failed ones (retried first: they were older).
    for (let i = fates.unstarted.length - 1; i >= 0; i--) {
      const job = fates.unstarted[i];
      if (!job.cancelled) this.#requeue(job);
    }
    const failed = [
      ...fates.running.map((job) => [job, 'running'] as const),
      ...fates.lost.map((job) => [job, 'lost'] as const),
      ...fates.unknown.map((job) => [job, 'unknown'] as const),
    ];
    failed.sort((a, b) => b[0].seq - a[0].seq);
    // Only a call known to have been running runs again: the others may have run already.
    for (const [job, state] of failed) if (!job.cancelled) this.#fail(job, crashError(worker, info, job, state), state === 'running');
    if (wasStarting && worker.stopCause === null) {
      this.#startFailed(
        new WorkerCrashedError({
          workerId: worker.id,
          exitCode: info.exitCode,
          signal: info.signal,
          reason: exitReason(worker, info),
          detail: `it died while starting (${describeExit(info)})`,
          cause: info.error,
          starting: true,
        }),
      );
    }
    this.#grow();
    this.#pump();
    this.#maybeFinishClose();
  }

  #timedOut(job: Job): void {
    const worker = job.worker;
    if (worker === null) return;
    worker.release(job);
    if (this.#backend.preemptible) {
      worker.timedOutSeq = job.seq;
      this.#stop(worker, 'timeout');
    } else {
      // The inline backend cannot stop the call: its signal aborts and its place goes to the next call.
      this.#outbox.push(worker, P_ABORT, job.id, 1);
    }
    if (!job.cancelled) this.#fail(job, new TaskTimeoutError(job.timeout, job.id), true);
    this.#afterRelease(worker);
  }

  // ── outcomes ────────────────────────────────────────────────────────────

  /** A job goes back to the head of the queue (retry, never started, taken back): it is pending again. */
  #requeue(job: Job): void {
    job.started = false;
    job.future?.markPending();
    (job.exclusive ? this.#aside : this.#queue).pushFront(job);
  }

  /** A call failed: run it again while retries allow, else reject it. */
  #fail(job: Job, error: unknown, retryable: boolean): void {
    if (retryable && job.retriesLeft > 0 && !this.#terminated) {
      job.retriesLeft--;
      this.#requeue(job);
      return;
    }
    this.#counters.failed++;
    this.#settleFailed(job, error, false);
  }

  #settleFailed(job: Job, error: unknown, handled: boolean): void {
    job.place = DONE;
    this.#detach(job);
    job.owner.jobFailed(job, error, handled);
  }

  /** The job settles: the caller's AbortSignal no longer needs watching. */
  #detach(job: Job): void {
    if (job.abortListener !== null) {
      job.abortListener();
      job.abortListener = null;
    }
  }

  /**
   * close() is done once nothing accepted is left unsettled: the queue is empty
   * and no worker holds a call its caller still waits for. Workers then stop:
   * idle ones finish and exit, ones still running only cancelled calls are
   * killed (nobody waits for those calls, and they may never end).
   */
  #maybeFinishClose(): void {
    if (!this.#closing || this.#onIdle.length === 0) return;
    if (this.#queue.size + this.#aside.size > 0) return;
    for (const worker of this.#workers) {
      for (const job of worker.calls()) if (!job.cancelled) return;
    }
    for (const worker of [...this.#workers]) {
      if (worker.state === 'starting' || worker.load > 0) this.#stop(worker, 'terminate');
      else this.#stop(worker, 'shutdown');
    }
    if (this.#workers.length > 0) return;
    this.#deadlines.clear();
    for (const resolve of this.#onIdle.splice(0)) resolve();
  }
}

function describeExit(info: ExitInfo): string {
  const detail = info.error
    ? `: ${String(info.error instanceof Error ? info.error.message : info.error)
        .trim()
        .split('\n')
        .slice(-3)
        .join(' ')}`
    : '';
  return `${info.signal ? `signal ${info.signal}` : `exit code ${String(info.exitCode)}`}${detail}`;
}
