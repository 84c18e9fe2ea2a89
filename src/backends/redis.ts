/**
 * backend: 'redis' — calls run on `tandem worker` hosts through a BullMQ queue.
 *
 *   Scheduler ──P_RUN/P_CHUNK──► RedisHandle ──addBulk──► queue NAME ──► tandem worker hosts
 *       ▲                            │ (one job per frame: a chunk of map items, or one call)
 *       └──W_OK/W_FAIL/W_CHUNK_*─────┴◄──BLPOP── reply list of this caller ◄── RPUSH by a worker
 *
 * Like inline, one handle serves the whole pool: the Scheduler gives it up to
 * `size × concurrencyPerWorker × 16` jobs at once and learns nothing about
 * hosts. Completions come back on a list per caller (not QueueEvents: a
 * stream every caller would read in full, trimmed at 10k events, and carrying
 * every caller's results), read with one blocking connection. A host killed
 * mid-job makes BullMQ run the job again elsewhere, so a result may arrive
 * twice: the handle keeps the call ids it waits for and drops any result for
 * a call that is no longer pending, so each input gets exactly one result.
 */
import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CancelledError, SerializationError } from '../errors.js';
import {
  type Batch,
  FRAME_FIELDS,
  P_ABORT,
  P_CHUNK,
  P_DEFINE,
  P_RUN,
  P_SHUTDOWN,
  FLAG_SHARED,
  type TaskDefinition,
  W_CHUNK_FAIL,
  W_CHUNK_OK,
  W_FAIL,
  W_OK,
  W_READY,
  encodeError,
} from '../protocol.js';
import { connectRedis, loadBullmq, refSocket, requireRedisPackages } from '../redis/connect.js';
import { RedisShare, sharedObjectsCrossedToHosts } from '../share/redis/caller.js';
import { portableName, refusedSource } from '../redis/names.js';
import {
  FAILED_JOB_AGE_S,
  type JobData,
  REPLY_TTL_MS,
  WIRE_VERSION,
  cancelChannel,
  cancelledKey,
  decodeReply,
  encodeValue,
  replyKey,
} from '../redis/wire.js';
import type { Backend, ExitInfo, WorkerEvents, WorkerHandle } from './backend.js';

export interface RedisConfig {
  url: string;
  queue: string;
  /** Pool option `retries`: a failed job runs up to `retries + 1` times (BullMQ attempts). */
  retries?: number;
}

/** First retry of a failed job after this long, doubling (BullMQ exponential backoff). */
const RETRY_BACKOFF_MS = 1_000;
/** Results taken from the reply list per round trip once one is there. */
const REPLY_BATCH = 1_000;

/** terminate() and close() wait at most this long for Redis to take the last commands. */
const CLOSE_GRACE_MS = 2_000;

function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([work.then(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

export function createRedisBackend(config: RedisConfig): Backend {
  requireRedisPackages("backend: 'redis'");
  return {
    kind: 'redis',
    // Hosts do not report when a job starts: a timeout counts from when the call is sent.
    reportsStart: false,
    // A timeout cannot stop a remote host's thread: the call rejects here and the job is cancelled there.
    preemptible: false,
    // Arguments cross to other machines: structured-clone types, no shared memory; shared objects served through Redis.
    boundary: 'host',
    // Jobs waiting in Redis cost nothing; enough in flight keeps every host busy.
    singleHandleConcurrency: (size, concurrencyPerWorker) => size * concurrencyPerWorker * 16,
    checkTask(definition: TaskDefinition) {
      if (definition.kind === 'source') throw refusedSource(definition.name);
    },
    spawn: (_spec, events) => new RedisHandle(config, events),
  };
}

class RedisHandle implements WorkerHandle {
  readonly #config: RedisConfig;
  readonly #events: WorkerEvents;
  readonly #caller = randomBytes(8).toString('hex');
  readonly #reply: string;
  /** Portable task name by task key, or why the task cannot run remotely. */
  readonly #names: (string | Error)[] = [];
  /** Calls sent and not yet answered: call id → BullMQ job id. */
  readonly #pending = new Map<number, string>();
  #client: Redis | null = null;
  #reader: Redis | null = null;
  #queue: Queue | null = null;
  /** Serves the shared objects of this pool's jobs to the hosts; taken with the first job that carries one. */
  #share: RedisShare | null = null;
  /** Batches are handled one after another: naming a task is asynchronous, and frames keep their order. */
  #chain: Promise<void>;
  #open = true;
  #ref = true;

  constructor(config: RedisConfig, events: WorkerEvents) {
    this.#config = config;
    this.#events = events;
    this.#reply = replyKey(config.queue, this.#caller);
    this.#chain = this.#start();
  }

  send(batch: Batch): void {
    // A failure nobody expected stops the handle (its calls fail) instead of silently skipping later batches.
    this.#chain = this.#chain.then(() => this.#handle(batch)).catch((error: unknown) => this.#stop(1, 'uncaught', error));
  }

  kill(): void {
    void this.#stop(0, 'killed');
  }

  setRef(ref: boolean): void {
    this.#ref = ref;
    if (this.#client) refSocket(this.#client, ref);
    if (this.#reader) refSocket(this.#reader, ref);
  }

  async #start(): Promise<void> {
    try {
      const { url, queue, retries = 0 } = this.#config;
      this.#client = await connectRedis(url, `tandem-caller-${this.#caller}`);
      this.#reader = await connectRedis(url, `tandem-caller-${this.#caller}-replies`);
      const { Queue } = loadBullmq();
      this.#queue = new Queue(queue, {
        connection: this.#client,
        defaultJobOptions: {
          attempts: retries + 1,
          backoff: { type: 'exponential', delay: RETRY_BACKOFF_MS },
          // The result travels on the reply list, so a completed job has nothing left worth keeping.
          removeOnComplete: true,
          removeOnFail: { age: FAILED_JOB_AGE_S },
        },
      });
      await this.#queue.waitUntilReady();
      // A reconnect makes a new socket: it must not keep an idle caller alive either.
      for (const client of [this.#client, this.#reader]) client.on('ready', () => refSocket(client, this.#ref));
      this.setRef(this.#ref);
    } catch (error) {
      if (!this.#open) return this.#close(); // killed while starting: it has already exited
      // The Scheduler treats a handle that exits while starting as "no worker could start" and rejects the waiting calls.
      return this.#stop(1, 'exit', error);
    }
    if (!this.#open) return this.#close();
    void this.#read(this.#reader);
    this.#events.message([W_READY, process.pid]);
  }

  async #handle(batch: Batch): Promise<void> {
    if (!this.#open) return;
    const jobs: { name: string; data: JobData; opts: { jobId: string } }[] = [];
    const failed: unknown[] = [];
    for (let i = 0; i < batch.length; ) {
      const tag = batch[i] as number;
      if (tag === P_DEFINE) {
        try {
          this.#names[batch[i + 1] as number] = await portableName(batch[i + 2] as TaskDefinition);
        } catch (error) {
          this.#names[batch[i + 1] as number] = error as Error;
        }
      } else if (tag === P_RUN || tag === P_CHUNK) {
        const id = batch[i + 1] as number;
        const name = this.#names[batch[i + 2] as number];
        try {
          if (name instanceof Error || name === undefined)
            throw name ?? new SerializationError(-1, 'task', 'its definition was never sent');
          // Hosts reach the caller's shared objects through the share thread: it serves before they can ask.
          if ((batch[i + 4] as number) & FLAG_SHARED && sharedObjectsCrossedToHosts()) {
            this.#share ??= RedisShare.take(this.#config.url, this.#config.queue);
            await this.#share.ready();
            if (!this.#open) return;
          }
          const jobId = `${this.#caller}.${id}`;
          const data: JobData = {
            v: WIRE_VERSION,
            reply: this.#reply,
            id,
            kind: tag === P_RUN ? 0 : 1,
            task: name,
            flags: batch[i + 4] as number,
            payload: encodeValue(batch[i + 3]),
          };
          jobs.push({ name, data, opts: { jobId } });
          this.#pending.set(id, jobId);
        } catch (error) {
          if (tag === P_RUN) failed.push(W_FAIL, id, encodeError(error));
          else failed.push(W_CHUNK_FAIL, id, 0, encodeError(error));
        }
      } else if (tag === P_ABORT) {
        const id = batch[i + 1] as number;
        // The Scheduler keeps a cancelled call in flight until its worker answers; the remote answer is dropped, so answer here.
        if (this.#abort(id)) failed.push(W_FAIL, id, encodeError(new CancelledError()));
      } else if (tag === P_SHUTDOWN) {
        await this.#add(jobs);
        return this.#stop(0, 'exit');
      }
      i += 1 + FRAME_FIELDS[tag];
    }
    if (failed.length > 0) this.#events.message(failed);
    await this.#add(jobs);
  }

  async #add(jobs: { name: string; data: JobData; opts: { jobId: string } }[]): Promise<void> {
    // Killed while naming a task: what it would add has been given up already.
    if (jobs.length === 0 || !this.#open) return;
    try {
      // One round trip for every call of the tick.
      await this.#queue!.addBulk(jobs);
    } catch (error) {
      const failed: unknown[] = [];
      for (const job of jobs) {
        if (!this.#pending.delete(job.data.id)) continue;
        if (job.data.kind === 0) failed.push(W_FAIL, job.data.id, encodeError(error));
        else failed.push(W_CHUNK_FAIL, job.data.id, 0, encodeError(error));
      }
      if (this.#open && failed.length > 0) this.#events.message(failed);
    }
  }

  /** Reads outcomes until the handle stops; each round trip takes all that are there. */
  async #read(reader: Redis): Promise<void> {
    while (this.#open) {
      let buffers: Buffer[];
      try {
        const first = await reader.blpopBuffer(this.#reply, 0);
        if (first === null) continue;
        const more = await reader.lpopBuffer(this.#reply, REPLY_BATCH);
        buffers = more ? [first[1], ...more] : [first[1]];
      } catch (error) {
        if (this.#open) void this.#stop(1, 'exit', error);
        return;
      }
      this.#deliver(buffers);
    }
  }

  #deliver(buffers: Buffer[]): void {
    const out: unknown[] = [];
    for (const buffer of buffers) {
      let entry: ReturnType<typeof decodeReply>;
      try {
        entry = decodeReply(buffer);
      } catch {
        continue; // not ours to understand: never let a foreign value break the caller
      }
      if (entry === null) continue;
      const [tag, id] = entry;
      if (tag !== W_OK && tag !== W_FAIL && tag !== W_CHUNK_OK && tag !== W_CHUNK_FAIL) continue;
      // A job that ran twice (its first host died after replying) answers twice: the first answer wins.
      if (!this.#pending.delete(id)) continue;
      out.push(tag, id, entry[2]);
      if (tag === W_CHUNK_FAIL) out.push(entry[3]);
    }
    if (out.length > 0 && this.#open) this.#events.message(out);
  }

  /** A call was cancelled or timed out: a waiting job is removed; a running one is told to stop on its host. */
  #abort(id: number): boolean {
    const jobId = this.#pending.get(id);
    if (jobId === undefined) return false;
    this.#pending.delete(id);
    void this.#cancelJobs([jobId]);
    return true;
  }

  async #cancelJobs(jobIds: string[]): Promise<void> {
    const queue = this.#queue;
    const client = this.#client;
    if (!queue || !client) return;
    await Promise.allSettled(
      jobIds.map(async (jobId) => {
        // remove() refuses a job a worker holds the lock of (it is running).
        const removed = await queue.remove(jobId).catch(() => 0);
        if (removed !== 1) {
          await client
            .multi()
            .set(cancelledKey(this.#config.queue, jobId), '1', 'PX', REPLY_TTL_MS)
            .publish(cancelChannel(this.#config.queue), jobId)
            .exec();
        }
      }),
    );
  }

  async #stop(exitCode: number, reason: ExitInfo['reason'], error: unknown = null): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    // Leave nothing behind: what this caller still waits for is removed (waiting) or cancelled (running).
    if (this.#pending.size > 0) {
      const jobIds = [...this.#pending.values()];
      this.#pending.clear();
      await within(this.#cancelJobs(jobIds), CLOSE_GRACE_MS);
    }
    await this.#close();
    this.#events.exit({ exitCode, signal: null, reason, error });
  }

  async #close(): Promise<void> {
    const share = this.#share;
    this.#share = null;
    // Its last pool's close removes every key the hosts used to reach this caller's objects.
    await share?.release();
    this.#reader?.disconnect();
    // Polite when Redis answers; bounded when it does not (commands wait out a reconnect forever).
    await within(Promise.allSettled([this.#queue?.close(), this.#client?.quit()]), CLOSE_GRACE_MS);
    this.#client?.disconnect();
  }
}
