/**
 * What travels through Redis between a caller (src/backends/redis.ts) and
 * `tandem worker` hosts (./worker.ts), in one file as the message protocol is.
 *
 *   caller ──addBulk──► BullMQ queue `NAME` ──► worker host ──► local Pool
 *     ▲                    (JobData)                  │
 *     └──BLPOP── list `tandem:NAME:reply:<caller>` ◄──┘ RPUSH ReplyEntry, PEXPIRE
 *
 * Values (arguments, results, errors) are v8-serialized, so they keep every
 * structured-clone type (Date, Map, Set, BigInt, typed arrays, Error); job data
 * holds them as base64 because BullMQ stores data as JSON. Nothing read from
 * Redis is ever evaluated: a job names its task by a portable name, which a
 * worker looks up among the tasks it was started with.
 */
import { deserialize, serialize } from 'node:v8';
import type { RemoteError } from '../protocol.js';

export const WIRE_VERSION = 1;

/** BullMQ job data: one P_RUN or P_CHUNK frame of one caller. */
export interface JobData {
  v: typeof WIRE_VERSION;
  /** The caller's reply list. */
  reply: string;
  /** The caller's call id (P_RUN / P_CHUNK id), echoed in the reply. */
  id: number;
  /** 0: one call (payload is the argument list, or the argument with FLAG_SINGLE); 1: a chunk of items. */
  kind: 0 | 1;
  /** Portable task name, see ./names.ts. */
  task: string;
  /** P_RUN / P_CHUNK flags (FLAG_SINGLE, FLAG_STAR). */
  flags: number;
  /** v8.serialize(payload) as base64. */
  payload: string;
}

/**
 * One outcome in a reply list: the worker → pool frame itself,
 * `[W_OK, id, value]`, `[W_FAIL, id, RemoteError]`, `[W_CHUNK_OK, id, results]`
 * or `[W_CHUNK_FAIL, id, itemIndex, RemoteError]`.
 */
export type ReplyEntry = [tag: number, id: number, ...fields: unknown[]];

/** A reply list outlives its last write by this long, so a caller that went away leaves nothing for good. */
export const REPLY_TTL_MS = 60 * 60_000;

/** Failed jobs stay inspectable (bull-board, `queue.getFailed()`) this long, then BullMQ removes them. */
export const FAILED_JOB_AGE_S = 24 * 60 * 60;

export function replyKey(queue: string, caller: string): string {
  return `tandem:${queue}:reply:${caller}`;
}

/** Workers subscribe here to hear which running jobs their caller cancelled (or timed out). */
export function cancelChannel(queue: string): string {
  return `tandem:${queue}:cancel`;
}

/**
 * The key that says job `jobId` was cancelled while it ran. The message on
 * the cancel channel reaches only the hosts listening then: if the job's
 * host was dead, BullMQ's stalled check gives the job to another host later,
 * which looks for this key first (it expires with the reply lists).
 */
export function cancelledKey(queue: string, jobId: string): string {
  return `tandem:${queue}:cancelled:${jobId}`;
}

export function encodeValue(value: unknown): string {
  return serialize(value).toString('base64');
}

export function decodeValue(base64: string): unknown {
  return deserialize(Buffer.from(base64, 'base64'));
}

export function encodeReply(entry: ReplyEntry): Buffer {
  return serialize(entry);
}

export function decodeReply(buffer: Buffer): ReplyEntry | null {
  const entry = deserialize(buffer) as unknown;
  return Array.isArray(entry) && typeof entry[0] === 'number' && typeof entry[1] === 'number' ? (entry as ReplyEntry) : null;
}

/** Checks the shape of job data read from Redis before anything trusts it. */
export function isJobData(data: unknown): data is JobData {
  if (data === null || typeof data !== 'object') return false;
  const d = data as Record<string, unknown>;
  return (
    d.v === WIRE_VERSION &&
    // Replies only ever go to tandem's own keys, whatever a job says.
    typeof d.reply === 'string' &&
    d.reply.startsWith('tandem:') &&
    typeof d.id === 'number' &&
    (d.kind === 0 || d.kind === 1) &&
    typeof d.task === 'string' &&
    typeof d.flags === 'number' &&
    typeof d.payload === 'string'
  );
}

/** The URL as it may be logged or put in an error message: no password. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

export type { RemoteError };
