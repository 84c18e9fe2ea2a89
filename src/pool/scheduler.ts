/**
 * How data flows through a pool:
 *
 *   Pool.submit/map ──► Job ──► TaskQueue ──► pump() ──► WorkerSlot.outbox
 *                                  ▲  (priority, FIFO)       │ one batch per tick
 *                    retry / unstarted calls of a dead worker │
 *                                  │                          ▼
 *   Future / ChunkOwner ◄── onMessage() ◄──── WorkerHandle (Backend) ◄── worker runtime
 *
 * The scheduler owns the queue, the workers' slots and every job until it
 * settles. It speaks to workers only through the Backend interface. pump()
 * hands queued jobs to the least-loaded ready worker, up to a pipeline depth
 * that grows when calls are short (so tiny calls travel many to a message and
 * a worker never waits for the next one) and stays at `concurrencyPerWorker`
 * when calls are long (so no call waits behind another on a busy worker while
 * a worker is free). A worker's death fails only the calls it was running;
 * calls it had received but not started go back to the head of the queue.
 */
import type { Backend, ExitInfo } from '../backends/backend.js';
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
  FRAME_FIELDS,
  P_ABORT,
  P_CHUNK,
  P_DEFINE,
  P_HELLO,
  P_RUN,
  P_SHUTDOWN,
  FLAG_SHARED,
  PROTOCOL_VERSION,
  type RemoteError,
  type TaskDefinition,
  W_CHUNK_FAIL,
  W_CHUNK_OK,
  W_FAIL,
  W_INIT_FAILED,
  W_MEASURE,
  W_OK,
  W_READY,
  W_STATS,
} from '../protocol.js';
import { collectThreadGlobals } from '../shareable.js';
import { definitionOf } from '../task.js';
import { checkArguments, decodeResult } from '../serialize.js';
import { Deadlines } from './deadlines.js';
import { type Job, RUN } from './job.js';
import type { ResolvedOptions } from './options.js';
import { remoteToError } from '../remote-error.js';
import { tickNow } from './clock.js';
import { Outbox } from './outbox.js';
import { PoolCounters, type PoolStats } from './stats.js';
import { TaskQueue } from './task-queue.js';
import { WorkerSlot } from './worker-slot.js';

/** How the auto backend follows a scheduler's calls. */
export interface SchedulerHooks {
  /** A call sent with FLAG_MEASURE reported its times. */
  measured(task: Function, wallMs: number, activeMs: number, resultBytes: number): void;
  /** A call failed: another scheduler to run it on instead, or null. */
  reroute(task: Function, error: unknown): Scheduler | null;
}

let nextWorkerId = 1;

export class Scheduler implements FutureOwner {
  readonly #options: ResolvedOptions;
  readonly #backend: Backend;
  readonly #queue = new TaskQueue();
  readonly #slots: WorkerSlot[] = [];
  readonly #deadlines = new Deadlines((job) => this.#timedOut(job));
  readonly #taskKeys = new Map<Function, number>();
  readonly #definitions: TaskDefinition[] = [];
  readonly #counters = new PoolCounters();
  readonly #outbox = new Outbox((slot, frame, cause) => this.#unsendable(slot, frame, cause));
  readonly #concurrency: number;
  #depth: number;
  #callMs = -1;
  #running = 0;
  #closing = false;
  #terminated = false;
  #startBroken = false;
  #onIdle: (() => void)[] = [];
  #onReady: { resolve: () => void; reject: (error: unknown) => void }[] = [];

  readonly #hooks: SchedulerHooks | null;
  readonly #functions: Function[] = [];

  constructor(options: ResolvedOptions, backend: Backend, hooks: SchedulerHooks | null = null) {
    this.#options = options;
    this.#backend = backend;
    this.#hooks = hooks;
    // The inline (and redis) backend is one handle whose concurrency is the whole pool's.
    this.#concurrency = backend.singleHandleConcurrency
      ? backend.singleHandleConcurrency(options.size, options.concurrencyPerWorker)
      : options.concurrencyPerWorker;
    this.#depth = this.#concurrency;
    if (options.minSize > 0) this.#grow();
  }

  get closed(): boolean {
    return this.#closing;
  }

  /** What may cross to this scheduler's workers. */
  get boundary(): Backend['boundary'] {
    return this.#backend.boundary;
  }

  /** Small integer key of a task; the definition travels once per worker. */
  keyOf(fn: unknown): number {
    let key = this.#taskKeys.get(fn as Function);
    if (key === undefined) {
      const definition = definitionOf(fn);
      this.#backend.checkTask?.(definition);
      key = this.#definitions.length;
      this.#definitions.push(definition);
      this.#functions.push(fn as Function);
      this.#taskKeys.set(fn as Function, key);
    }
    return key;
  }

  /** Throws unless `count` more jobs fit in the queue (checked before anything is accepted). */
  checkAccept(count: number): void {
    if (this.#closing) throw new PoolClosedError();
    if (this.#queue.size + count > this.#options.maxQueue) throw new QueueFullError(this.#options.maxQueue);
  }

  enqueue(job: Job): void {
    this.#startBroken = false;
    this.#queue.push(job);
    this.#pump();
  }

  cancelFuture(future: Future<unknown>): boolean {
    const job = (future as unknown as { job?: Job }).job;
    if (!job) return false;
    // A rerouted call lives in the scheduler that adopted it.
    (job.scheduler ?? this).cancelJob(job, new CancelledError());
    return true;
  }

  /** Takes over a call another scheduler could not run (auto backend). */
  adopt(job: Job, fn: Function): void {
    job.key = this.keyOf(fn);
    job.scheduler = this;
    this.enqueue(job);
  }

  /** Cancels a job: removed if queued; if running, its signal is aborted and its result will be ignored. */
  cancelJob(job: Job, reason: CancelledError): void {
    if (job.cancelled) return;
    job.cancelled = true;
    this.#counters.cancelled++;
    if (this.#queue.remove(job)) {
      // Nothing ran: the job is gone.
    } else if (job.slot !== null) {
      this.#outbox.push(job.slot, P_ABORT, job.id, 0);
    }
    this.#release(job);
    if (job.future) job.future.settleCancelled(reason);
    else job.owner!.chunkFailed(job, reason);
    this.#maybeFinishClose();
  }

  /** Starts `size` workers and resolves once all serve. */
  ready(): Promise<void> {
    if (this.#closing) return Promise.reject(new PoolClosedError());
    this.#grow(this.#options.size);
    if (this.#slots.length > 0 && this.#slots.every((s) => s.state !== 'starting')) return Promise.resolve();
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
    for (const job of this.#queue.drain()) this.#settleError(job, closed, true);
    for (const slot of this.#slots) {
      for (const job of slot.inFlight.values()) this.#settleError(job, closed, true);
      slot.inFlight.clear();
    }
    this.#running = 0;
    const done = new Promise<void>((resolve) => this.#onIdle.push(resolve));
    for (const slot of this.#slots) this.#stop(slot, 'terminate');
    this.#maybeFinishClose();
    return done;
  }

  stats(): PoolStats {
    return this.#counters.snapshot(this.#backend.kind, this.#options.size, this.#slots, this.#queue.size, this.#concurrency);
  }

  // ── dispatch ────────────────────────────────────────────────────────────

  #pump(): void {
    const queue = this.#queue;
    while (queue.size > 0) {
      const slot = this.#leastLoaded(this.#depth);
      if (slot === null) break;
      const job = queue.shift()!;
      // A call with a timeout starts its clock when sent, so it must not wait behind another call.
      const target = job.timeout > 0 && slot.inFlight.size >= this.#concurrency ? this.#leastLoaded(this.#concurrency) : slot;
      if (target === null) {
        queue.pushFront(job);
        break;
      }
      this.#assign(target, job);
    }
    if (queue.size > 0) this.#grow();
  }

  #leastLoaded(limit: number): WorkerSlot | null {
    let best: WorkerSlot | null = null;
    for (const slot of this.#slots) {
      if (slot.state !== 'ready' || slot.inFlight.size >= limit) continue;
      if (best === null || slot.inFlight.size < best.inFlight.size) best = slot;
    }
    return best;
  }

  #assign(slot: WorkerSlot, job: Job): void {
    job.slot = slot;
    slot.inFlight.set(job.id, job);
    this.#running++;
    if (!slot.referenced) {
      slot.referenced = true;
      slot.handle.setRef(true);
    }
    if (slot.defined[job.key] !== true) {
      slot.defined[job.key] = true;
      this.#outbox.push(slot, P_DEFINE, job.key, this.#definitions[job.key]);
    }
    if (job.transfer !== undefined && job.transfer.length > 0) (slot.transfer ??= []).push(...job.transfer);
    // The hottest line of the pool: pushed field by field, no frame array per call.
    slot.outbox.push(job.kind === RUN ? P_RUN : P_CHUNK, job.id, job.key, job.payload, job.flags);
    this.#outbox.touched(slot);
    // Only a call among the first `concurrency` on its worker is running; one
    // pipelined behind them is still pending (see #markStarted).
    if (slot.inFlight.size <= this.#concurrency) job.future?.markRunning();
    if (job.timeout > 0) this.#deadlines.add(job, performance.now() + job.timeout);
    if (++slot.assigned >= this.#options.maxTasksPerWorker) slot.state = 'retiring';
  }

  /** A frame that could not be serialized even alone: fail its call only. */
  #unsendable(slot: WorkerSlot, frame: unknown[], cause: unknown): void {
    const tag = frame[0];
    if (tag !== P_RUN && tag !== P_CHUNK) return;
    const job = slot.inFlight.get(frame[1] as number);
    if (!job) return;
    slot.inFlight.delete(job.id);
    this.#running--;
    this.#fail(job, new SerializationError(0, 'args', `${(cause as Error)?.message ?? String(cause)}`, { cause }), false);
  }

  // ── workers ─────────────────────────────────────────────────────────────

  /** Starts workers while there is work (or minSize) for them, up to size. */
  #grow(atLeast = 0): void {
    // A closing pool still starts workers for calls it accepted before close().
    if (this.#terminated || this.#startBroken || (this.#closing && this.#queue.size === 0)) return;
    const wanted = Math.max(
      atLeast,
      this.#options.minSize,
      Math.ceil((this.#queue.size + this.#running) / this.#concurrency),
    );
    const limit = this.#backend.singleHandleConcurrency ? 1 : this.#options.size;
    let alive = 0;
    for (const slot of this.#slots) if (slot.state === 'starting' || slot.state === 'ready') alive++;
    for (let n = Math.min(wanted, limit) - alive; n > 0 && !this.#startBroken; n--) this.#spawn();
  }

  #spawn(): void {
    const slot = new WorkerSlot(nextWorkerId++);
    this.#slots.push(slot);
    const options = this.#options;
    try {
      slot.handle = this.#backend.spawn(
        { workerId: slot.id, resourceLimits: options.resourceLimits, env: options.env, execArgv: options.execArgv },
        { message: (batch) => this.#onMessage(slot, batch), exit: (info) => this.#onExit(slot, info) },
      );
    } catch (error) {
      // Refused before it started (an execArgv a thread does not accept, say): nothing to wait for.
      this.#slots.splice(this.#slots.indexOf(slot), 1);
      slot.state = 'exited';
      this.#startFailed(
        new WorkerCrashedError({ workerId: slot.id, exitCode: null, signal: null, reason: 'exit', detail: `it could not be started (${(error as Error)?.message ?? String(error)})`, cause: error, starting: true }),
      );
      return;
    }
    let init = null;
    if (options.init) {
      const checked = this.#backend.boundary === 'none' ? { args: options.init.args, flags: 0 } : checkArguments(options.init.args, this.#backend.boundary);
      init = { definition: definitionOf(options.init.task), args: checked.args, flags: checked.flags };
    }
    this.#outbox.push(slot, P_HELLO, {
      version: PROTOCOL_VERSION,
      workerId: slot.id,
      concurrency: this.#concurrency,
      init,
      threadGlobals: this.#backend.boundary === 'thread' ? collectThreadGlobals() : null,
    });
  }

  #onMessage(slot: WorkerSlot, batch: Batch): void {
    let answered = 0;
    for (let i = 0; i < batch.length; ) {
      const tag = batch[i] as number;
      switch (tag) {
        case W_OK:
        case W_FAIL:
        case W_CHUNK_OK:
        case W_CHUNK_FAIL: {
          answered++;
          const job = slot.inFlight.get(batch[i + 1] as number);
          if (job !== undefined) this.#answer(slot, job, tag, batch, i);
          break;
        }
        case W_STATS:
          this.#learn(slot, batch[i + 1] as number, answered);
          break;
        case W_MEASURE: {
          const job = slot.inFlight.get(batch[i + 1] as number);
          if (job !== undefined && this.#hooks !== null) {
            this.#hooks.measured(this.#functions[job.key]!, batch[i + 2] as number, batch[i + 3] as number, batch[i + 4] as number);
          }
          break;
        }
        case W_READY:
          this.#ready(slot);
          break;
        case W_INIT_FAILED:
          this.#initFailed(slot, batch[i + 1] as RemoteError);
          break;
      }
      i += 1 + FRAME_FIELDS[tag]!;
    }
    if (answered > 0) this.#markStarted(slot);
    if (slot.inFlight.size === 0) this.#idle(slot);
    this.#pump();
    this.#maybeFinishClose();
  }

  /** Calls that moved up to the first `concurrency` places of their worker have started. */
  #markStarted(slot: WorkerSlot): void {
    let place = 0;
    for (const job of slot.inFlight.values()) {
      if (place++ >= this.#concurrency) break;
      job.future?.markRunning();
    }
  }

  #answer(slot: WorkerSlot, job: Job, tag: number, batch: Batch, at: number): void {
    slot.inFlight.delete(job.id);
    this.#running--;
    job.slot = null;
    job.deadline = 0;
    if (job.cancelled) return;
    if (tag === W_OK || tag === W_CHUNK_OK) {
      // Shareables and registered class instances in a result are rebuilt here (src/serialize.ts).
      try {
        batch[at + 2] = decodeResult(batch[at + 2]);
      } catch (error) {
        return this.#fail(job, error, false);
      }
    }
    if (tag === W_OK) {
      this.#counters.completedJob(job.submittedAt, tickNow());
      this.#release(job);
      job.future!.settleFulfilled(batch[at + 2]);
    } else if (tag === W_CHUNK_OK) {
      this.#counters.completedJob(job.submittedAt, tickNow());
      this.#release(job);
      job.owner!.chunkDone(job, batch[at + 2] as unknown[]);
    } else if (tag === W_FAIL) {
      this.#fail(job, remoteToError(batch[at + 2] as RemoteError), true);
    } else {
      const index = batch[at + 2] as number;
      const error = remoteToError(batch[at + 3] as RemoteError);
      (error as { index?: number }).index = job.offset + index;
      this.#fail(job, error, true);
    }
  }

  /** Tunes the pipeline depth from how long calls take on the workers. */
  #learn(slot: WorkerSlot, busyMs: number, answered: number): void {
    const spent = busyMs - slot.busyMs;
    slot.busyMs = busyMs;
    if (answered === 0) return;
    const perCall = spent / answered;
    this.#callMs = this.#callMs < 0 ? perCall : this.#callMs * 0.7 + perCall * 0.3;
    // About 2 ms of work queued on each worker: enough to hide a round trip, too
    // little to unbalance. The cap bounds how many calls one message carries
    // (bench "submit 100k trivial": 64 → 256 took threads from ~360k to ~410k/s).
    const depth = Math.min(256, Math.max(1, Math.floor(2 / Math.max(this.#callMs, 0.001))));
    this.#depth = this.#concurrency * depth;
  }

  #ready(slot: WorkerSlot): void {
    if (slot.state !== 'starting') return;
    slot.state = 'ready';
    this.#idle(slot);
    if (this.#onReady.length > 0 && this.#slots.every((s) => s.state !== 'starting')) {
      for (const waiter of this.#onReady.splice(0)) waiter.resolve();
    }
  }

  #initFailed(slot: WorkerSlot, remote: RemoteError): void {
    const error = new WorkerInitError(slot.id, remoteToError(remote));
    this.#stop(slot, 'init');
    this.#startFailed(error);
  }

  /** No worker could start: fail what waits for one instead of retrying forever. Cleared by the next call. */
  #startFailed(error: unknown): void {
    if (this.#slots.some((s) => s.state === 'ready')) return;
    this.#startBroken = true;
    for (const job of this.#queue.drain()) this.#settleError(job, error, false);
    for (const waiter of this.#onReady.splice(0)) waiter.reject(error);
  }

  #idle(slot: WorkerSlot): void {
    if (slot.state === 'retiring') {
      if (slot.inFlight.size === 0) this.#stop(slot, 'shutdown');
      return;
    }
    if (slot.state !== 'ready' || slot.inFlight.size > 0 || this.#queue.size > 0) return;
    if (slot.referenced) {
      slot.referenced = false;
      slot.handle.setRef(false);
    }
    if (this.#options.idleTimeout === Infinity) return;
    slot.idleSince = performance.now();
    if (slot.idleTimer) slot.idleTimer.refresh();
    else {
      slot.idleTimer = setTimeout(() => this.#idleExpired(slot), this.#options.idleTimeout);
      slot.idleTimer.unref();
    }
  }

  #idleExpired(slot: WorkerSlot): void {
    if (slot.state !== 'ready' || slot.inFlight.size > 0) return;
    let alive = 0;
    for (const s of this.#slots) if (s.state === 'ready' || s.state === 'starting') alive++;
    if (alive <= this.#options.minSize) return;
    const left = slot.idleSince + this.#options.idleTimeout - performance.now();
    if (left > 1) {
      slot.idleTimer = setTimeout(() => this.#idleExpired(slot), left);
      slot.idleTimer.unref();
      return;
    }
    this.#stop(slot, 'shutdown');
  }

  #stop(slot: WorkerSlot, cause: NonNullable<WorkerSlot['stopCause']>): void {
    if (slot.state === 'exited') return;
    slot.stopCause ??= cause;
    if (slot.idleTimer) clearTimeout(slot.idleTimer);
    // Until it has exited, a stopping worker keeps the process alive, so that
    // `await pool.close()` returns before the program ends.
    if (!slot.referenced) {
      slot.referenced = true;
      slot.handle.setRef(true);
    }
    if (cause === 'shutdown' && slot.state !== 'starting' && slot.inFlight.size === 0) {
      slot.state = 'stopping';
      if (!slot.shutdownSent) {
        slot.shutdownSent = true;
        this.#outbox.push(slot, P_SHUTDOWN);
      }
      return;
    }
    slot.state = 'stopping';
    slot.handle.kill();
  }

  #onExit(slot: WorkerSlot, info: ExitInfo): void {
    const wasStarting = slot.state === 'starting';
    slot.state = 'exited';
    if (slot.idleTimer) clearTimeout(slot.idleTimer);
    this.#slots.splice(this.#slots.indexOf(slot), 1);
    this.#counters.workerExited(slot);
    this.#workerLost(slot, info);
    if (wasStarting && slot.stopCause === null) {
      this.#startFailed(
        new WorkerCrashedError({ workerId: slot.id, exitCode: info.exitCode, signal: info.signal, reason: info.reason, detail: `it died while starting (${describeExit(info)})`, cause: info.error, starting: true }),
      );
    }
    this.#grow();
    this.#pump();
    this.#maybeFinishClose();
  }

  /** Fails the calls a dead worker was running; puts back the ones it had not started. */
  #workerLost(slot: WorkerSlot, info: ExitInfo): void {
    if (slot.inFlight.size === 0) return;
    const jobs = [...slot.inFlight.values()];
    slot.inFlight.clear();
    this.#running -= jobs.length;
    // The worker starts calls in the order it receives them, at most `concurrency` at once;
    // a call that timed out held one of those places and has already been settled.
    const running = slot.stopCause === 'timeout' ? this.#concurrency - 1 : this.#concurrency;
    const started = jobs.slice(0, running);
    const unstarted = jobs.slice(running);
    for (let i = unstarted.length - 1; i >= 0; i--) {
      const job = unstarted[i]!;
      job.slot = null;
      job.deadline = 0;
      if (!job.cancelled) this.#queue.pushFront(job);
    }
    for (const job of started) {
      job.slot = null;
      job.deadline = 0;
      if (job.cancelled) continue;
      const stoppedForTimeout = slot.stopCause === 'timeout';
      this.#fail(
        job,
        new WorkerCrashedError({
          workerId: slot.id,
          exitCode: info.exitCode,
          signal: info.signal,
          reason: stoppedForTimeout ? 'stopped' : info.reason,
          taskId: job.id,
          detail: stoppedForTimeout ? 'it was stopped because another call on it timed out' : undefined,
          cause: info.error ?? undefined,
        }),
        true,
      );
    }
  }

  #timedOut(job: Job): void {
    const slot = job.slot;
    if (slot === null || job.cancelled) return;
    slot.inFlight.delete(job.id);
    this.#running--;
    job.slot = null;
    if (this.#backend.preemptible) this.#stop(slot, 'timeout');
    else this.#outbox.push(slot, P_ABORT, job.id, 1);
    this.#fail(job, new TaskTimeoutError(job.timeout, job.id), true);
    this.#pump();
  }

  // ── outcomes ────────────────────────────────────────────────────────────

  /** A call failed: run it again while retries allow, else reject it. */
  #fail(job: Job, error: unknown, retryable: boolean): void {
    const elsewhere = this.#hooks?.reroute(this.#functions[job.key]!, error) ?? null;
    if (elsewhere !== null && elsewhere !== this && job.kind === RUN && (job.flags & FLAG_SHARED) === 0) {
      elsewhere.adopt(job, this.#functions[job.key]!);
      return;
    }
    if (retryable && job.retriesLeft > 0 && !this.#closing) {
      job.retriesLeft--;
      this.#queue.pushFront(job);
      return;
    }
    this.#counters.failed++;
    this.#settleError(job, error, false);
  }

  #settleError(job: Job, error: unknown, handled: boolean): void {
    this.#release(job);
    if (job.future) job.future.settleRejected(error, handled);
    else job.owner!.chunkFailed(job, error);
  }

  #release(job: Job): void {
    if (job.abortListener !== null) {
      job.abortListener();
      job.abortListener = null;
    }
  }

  #maybeFinishClose(): void {
    if (!this.#closing || this.#onIdle.length === 0) return;
    if (this.#queue.size > 0 || this.#running > 0) return;
    for (const slot of [...this.#slots]) {
      if (slot.state === 'starting') this.#stop(slot, 'terminate');
      else this.#stop(slot, 'shutdown');
    }
    if (this.#slots.length > 0) return;
    this.#deadlines.clear();
    for (const resolve of this.#onIdle.splice(0)) resolve();
  }
}

function describeExit(info: ExitInfo): string {
  const detail = info.error ? `: ${String(info.error instanceof Error ? info.error.message : info.error).trim().split('\n').slice(-3).join(' ')}` : '';
  return `${info.signal ? `signal ${info.signal}` : `exit code ${String(info.exitCode)}`}${detail}`;
}

