/**
 * `tandem worker`: serves a BullMQ queue on one host.
 *
 *   queue NAME ──► BullMQ Worker (concurrency: jobs held at once) ──► local Pool (threads: all cores)
 *                                                                        │
 *   caller's reply list ◄── RPUSH [W_OK | W_FAIL | W_CHUNK_OK | W_CHUNK_FAIL, id, …] ◄┘
 *
 * A job carries one call or a chunk of map items; the chunk is mapped over the
 * local pool, so one job keeps every core of the host busy. Only tasks exported
 * by the `--tasks` modules run, looked up by portable name (./names.ts); a job
 * naming anything else fails at once, with nothing executed.
 *
 * Failures use BullMQ's own mechanisms: a throwing processor is retried by its
 * `attempts` with backoff, and only the last attempt's failure is replied; a
 * host killed mid-job stops renewing the job's lock, so another host's stalled
 * check puts the job back in the queue and it runs again there (the caller
 * drops the second reply if the first host had replied before dying).
 */
import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { availableParallelism } from 'node:os';
import { InvalidOptionError, RedisUnavailableError, TaskError, WorkerCrashedError } from '../errors.js';
import { Pool } from '../pool/pool.js';
import { encodeResult } from '../serialize.js';
import { rehydrate } from '../worker/rehydrate.js';
import { FLAG_SHARED, FLAG_SINGLE, FLAG_STAR, type RemoteError, W_CHUNK_FAIL, W_CHUNK_OK, W_FAIL, W_OK, encodeError } from '../protocol.js';
import { markWorkerThread } from '../worker/current.js';
import { connectRedis, loadBullmq, requireRedisPackages } from './connect.js';
import { TaskDirectory } from './names.js';
import { serveSharedObjectsFromRedis } from '../share/redis/link.js';
import {
  type JobData,
  REPLY_TTL_MS,
  type ReplyEntry,
  cancelChannel,
  cancelledKey,
  decodeValue,
  encodeReply,
  isJobData,
  redactUrl,
} from './wire.js';

/** Options of {@link runWorker}: those of `tandem worker`, plus hooks for a program that embeds it. */
export interface RedisWorkerOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). */
  redis: string;
  /** The queue the callers' `queue` option names. */
  queue: string;
  /** Modules whose exported tasks this worker serves. */
  tasks: readonly string[];
  /** Local pool backend. @default 'thread' */
  backend?: 'thread' | 'process';
  /** Local pool size. @default os.availableParallelism() */
  size?: number;
  /** Jobs held at once: one running per local worker, one more fetched, so a core never waits on Redis. @default size × 2 */
  concurrency?: number;
  /** BullMQ lock of a running job; a host silent this long is presumed dead and its jobs run elsewhere. @default 30000 */
  lockDuration?: number;
  /** How often this worker looks for jobs whose host died. @default 30000 */
  stalledInterval?: number;
  /** Where the few lines of log go. @default console.error */
  log?: (line: string) => void;
  /** Aborting it drains the worker, as SIGTERM does. */
  signal?: AbortSignal;
  /** Drain on SIGTERM and SIGINT. @default true */
  handleSignals?: boolean;
}

/** What {@link runWorker} resolves with once it has drained. */
export interface RedisWorkerSummary {
  /** Jobs that succeeded (a job is one call or one chunk of a map). */
  jobs: number;
  /** Calls and map items that succeeded. */
  items: number;
  /** Jobs that failed for good. */
  failed: number;
}

/** Errors whose failure was already replied to the caller, so the 'failed' event must not reply again. */
const REPLIED = Symbol('tandem.replied');

/**
 * Runs a `tandem worker` until SIGTERM / SIGINT (or `signal`): then it takes no
 * more jobs, finishes those it holds, and resolves. Rejects with
 * RedisUnavailableError when Redis cannot be reached at start, and with
 * MissingDependencyError when bullmq or ioredis is not installed.
 */
export async function runWorker(options: RedisWorkerOptions): Promise<RedisWorkerSummary> {
  const log = options.log ?? ((line: string) => console.error(line));
  const backend = options.backend ?? 'thread';
  if (backend !== 'thread' && backend !== 'process') throw new InvalidOptionError('backend', backend, "'thread' or 'process'");
  const size = options.size ?? availableParallelism();
  if (!Number.isInteger(size) || size < 1) throw new InvalidOptionError('size', size, 'a positive integer');
  if (options.tasks.length === 0) throw new InvalidOptionError('tasks', options.tasks, 'at least one module (--tasks ./dist/tasks.js)');
  requireRedisPackages('tandem worker');
  // This process serves tasks: a task module's `if (!isWorker())` main code must not run here.
  markWorkerThread();
  const directory = await TaskDirectory.load(options.tasks);
  if (directory.size === 0) {
    throw new InvalidOptionError('tasks', options.tasks.join(', '), 'modules that export tasks (made with task(import.meta.url, fn))');
  }
  const url = redactUrl(options.redis);
  const client = await connectRedis(options.redis, `tandem-worker-${process.pid}`);
  let subscriber: Redis;
  try {
    subscriber = await connectRedis(options.redis, `tandem-worker-${process.pid}-cancel`);
  } catch (error) {
    client.disconnect();
    throw error;
  }
  // Before the pool starts its threads: each receives how to reach the callers' shared objects.
  serveSharedObjectsFromRedis({ url: options.redis, queue: options.queue, backend });
  const pool = new Pool({ backend, size, minSize: size, idleTimeout: Infinity });
  const summary: RedisWorkerSummary = { jobs: 0, items: 0, failed: 0 };
  const reply = async (data: JobData, entry: ReplyEntry): Promise<void> => {
    let buffer: Buffer;
    try {
      buffer = encodeReply(entry);
    } catch (error) {
      // A result v8 cannot serialize (a function inside it, say) fails the call instead of the worker.
      buffer = encodeReply(failure(data, error));
    }
    await client.multi().rpush(data.reply, buffer).pexpire(data.reply, REPLY_TTL_MS).exec();
  };

  const { Worker: BullWorker, UnrecoverableError } = loadBullmq();
  const processor = async (job: Job, _token?: string, signal?: AbortSignal): Promise<void> => {
    const data: unknown = job.data;
    if (!isJobData(data)) throw new UnrecoverableError('not a tandem job (or one from another tandem version); nothing ran');
    // Started before (its host died, and the stalled check gave it to us): its caller may have cancelled it
    // since, when no host heard the message.
    if (job.attemptsStarted > 1 && job.id !== undefined && (await client.exists(cancelledKey(options.queue, job.id))) === 1) {
      throw Object.assign(new UnrecoverableError('cancelled by its caller'), { [REPLIED]: true });
    }
    const fn = directory.get(data.task) as ((...args: unknown[]) => unknown) | undefined;
    if (fn === undefined) {
      await reply(data, failure(data, directory.notFound(data.task)));
      throw Object.assign(new UnrecoverableError(directory.notFound(data.task).message), { [REPLIED]: true });
    }
    const callSignal = signal instanceof AbortSignal ? signal : undefined;
    try {
      // Instances of registered classes travel as markers: rebuilt here, encoded again for the way back.
      const payload = data.flags & FLAG_SHARED ? rehydrate(decodeValue(data.payload)) : decodeValue(data.payload);
      if (data.kind === 0) {
        const args = data.flags & FLAG_SINGLE ? [payload] : (payload as unknown[]);
        const value = await pool.submit(fn, args, { signal: callSignal });
        await reply(data, [W_OK, data.id, encodeResult(value)]);
        summary.items++;
      } else {
        const items = payload as unknown[];
        const results =
          data.flags & FLAG_STAR
            ? await pool.starmap(fn, items as unknown[][], { signal: callSignal })
            : await pool.map(fn, items, { signal: callSignal });
        await reply(data, [W_CHUNK_OK, data.id, encodeResult(results)]);
        summary.items += items.length;
      }
      summary.jobs++;
    } catch (error) {
      summary.failed++;
      // Cancelled by its caller, who waits for nothing more: no retry, no reply.
      if (callSignal?.aborted) throw new UnrecoverableError('cancelled by its caller');
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (last) await reply(data, failure(data, error));
      const thrown = new Error(error instanceof Error ? error.message : String(error));
      thrown.stack = error instanceof Error ? error.stack : thrown.stack;
      throw Object.assign(thrown, { [REPLIED]: last });
    }
  };

  const concurrency = options.concurrency ?? size * 2;
  let worker: Worker;
  try {
    worker = new BullWorker(options.queue, processor, {
      connection: client,
      concurrency,
      lockDuration: options.lockDuration ?? 30_000,
      stalledInterval: options.stalledInterval ?? 30_000,
      // A job whose host died takes one more try elsewhere, then counts as a failed attempt.
      maxStalledCount: 1,
    });
    await worker.waitUntilReady();
  } catch (error) {
    await pool.terminate();
    subscriber.disconnect();
    client.disconnect();
    throw new RedisUnavailableError(url, (error as Error)?.message ?? String(error), { cause: error });
  }
  // While Redis is away, BullMQ reports the same error on every retry: one line per minute is enough.
  let lastError = { message: '', at: 0 };
  worker.on('error', (error) => {
    const now = Date.now();
    if (error.message === lastError.message && now - lastError.at < 60_000) return;
    lastError = { message: error.message, at: now };
    log(`tandem worker: ${error.message}`);
  });
  // BullMQ fails a job that stalled too often (or started too often) without calling the processor: reply for it.
  worker.on('failed', (job, error) => {
    if (job === undefined || (error as { [REPLIED]?: boolean })[REPLIED] !== undefined || !isJobData(job.data)) return;
    const data = job.data;
    void job
      .isFailed()
      .then((failed) => {
        if (!failed) return;
        const crashed = new WorkerCrashedError({
          workerId: 0,
          exitCode: null,
          signal: null,
          reason: 'killed',
          detail: `its host stopped answering while running it (${error.message})`,
        });
        return reply(data, failure(data, crashed));
      })
      .catch(() => {});
  });
  await subscriber.subscribe(cancelChannel(options.queue));
  subscriber.on('message', (_channel: string, jobId: string) => worker.cancelJob(jobId, 'cancelled by its caller'));

  log(
    `tandem worker: serving queue '${options.queue}' at ${url} on ${size} ${backend} worker(s), ${concurrency} job(s) at once; ` +
      `${directory.size} task(s): ${directory.names.join(', ')}`,
  );

  await new Promise<void>((resolve) => {
    const stop = (why: string): void => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      options.signal?.removeEventListener('abort', onAbort);
      log(`tandem worker: ${why}: draining (finishing the jobs it holds, taking no more)`);
      resolve();
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    const onAbort = (): void => stop('stop requested');
    if (options.handleSignals !== false) {
      process.once('SIGTERM', onTerm);
      process.once('SIGINT', onInt);
    }
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });

  // close() waits for the running jobs (and their replies), and fetches no more.
  await worker.close();
  await pool.close();
  await subscriber.quit().catch(() => subscriber.disconnect());
  await client.quit().catch(() => client.disconnect());
  log(`tandem worker: stopped after ${summary.jobs} job(s), ${summary.items} item(s), ${summary.failed} failed`);
  return summary;
}

/** The reply for a call that failed, with the error as the task threw it on this host. */
function failure(data: JobData, error: unknown): ReplyEntry {
  const index = (error as { index?: unknown })?.index;
  const remote = toRemote(error);
  if (data.kind === 0) return [W_FAIL, data.id, remote];
  return [W_CHUNK_FAIL, data.id, typeof index === 'number' ? index : 0, remote];
}

/**
 * The local pool already turned what the task threw into a TaskError; the
 * caller must see the task's own error (name, message, stack, properties,
 * cause), not a TaskError wrapped in another.
 */
function toRemote(error: unknown): RemoteError {
  if (!(error instanceof TaskError)) {
    const remote = encodeError(error);
    if (remote.props) delete remote.props.index;
    return remote;
  }
  const prefix = `${error.remoteName}: `;
  const remote: RemoteError = {
    name: error.remoteName,
    message: error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message,
    stack: error.remoteStack,
  };
  const props = { ...error.properties };
  delete props.index;
  if (Object.keys(props).length > 0) remote.props = props;
  if (error.cause !== undefined) remote.cause = error.cause instanceof Error ? encodeError(error.cause) : { value: error.cause };
  const thrown = (error as { thrown?: unknown }).thrown;
  if (thrown !== undefined) remote.thrown = thrown;
  return remote;
}
