/**
 * What a child process and its server thread in the caller say to each other
 * about shared objects (see ./host.ts for the picture), and the seam a
 * transport plugs into.
 *
 *   request  [id, objectId, op, args, task]  the child asks for `op` on object `objectId`;
 *                                            `task` ([name, call id] or undefined) is the
 *                                            child's task that asks, for deadlock reports
 *   cancel   [id]                         the child's signal aborted request `id`: withdraw it
 *   reply    [id, true, value]            done; `value` is what the op returned
 *            [id, true, true, lockId]     an acquire of a Lock, done, which leaves the lock leased to the child
 *            [id, false, WireError]       the op threw (or was withdrawn: CancelledError)
 *   notice   [RECALL | REVOKE, true, lockId]  the server asks a lease back / voids it (./lease.ts)
 *
 * Every request gets exactly one reply, in the order the ops end (an acquire
 * that waits does not hold up the requests behind it), except a one-way
 * request (id ONE_WAY), which gets none: its error, if any, is the reply to
 * the child's next request on the same object. A request for object
 * SETTLE_OBJECT does nothing and is answered at once: since the server does
 * requests in order, its reply says that all before it are done. On a byte stream each
 * message is a frame: its length (uint32 LE), then the message in the V8
 * serialization format, the one `child_process` uses with `serialization:
 * 'advanced'`, so values cross to and from a SharedQueue as they would in a
 * task's arguments.
 */
import { serialize, deserialize } from 'node:v8';
import type { WaitingTask } from '../sync/deadlock.js';
import {
  BrokenBarrierError,
  CancelledError,
  DeadlockError,
  InvalidOptionError,
  LockNotHeldError,
  MainThreadBlockingError,
  QueueClosedError,
  SemaphoreOverReleaseError,
  SerializationError,
  SharedObjectUnavailableError,
  SyncTimeoutError,
  TandemError,
} from '../errors.js';

export type Request = [id: number, objectId: number, op: string, args: unknown[], task?: WaitingTask];

/** The id of a request that wants no reply (see above). */
export const ONE_WAY = 0;
/** The object id of a request that does nothing: its reply says the server did every request before it. */
export const SETTLE_OBJECT = 0;
export type Cancel = [id: number];
/** `lease`: the Lock of this id is leased to the child with this reply (./lease.ts); a negative id is a lease notice, not a reply. */
export type Reply = [id: number, ok: boolean, value: unknown, lease?: number];

/**
 * How a server reaches one client (a child process, or a holder on a
 * `tandem worker` host, ./redis/serve.ts). The server calls `onMessage` for
 * each request or cancel, `send` for each reply, and `onGone` once when the
 * client cannot ask anything any more (it closed, or its process died): the
 * server then ends, and with it everything the client held.
 */
export interface ShareTransport {
  onMessage(handler: (message: Request | Cancel) => void): void;
  onGone(handler: () => void): void;
  send(reply: Reply): void;
  /**
   * Whether the client's link takes Lock leases: it answers RECALL and
   * REVOKE notices by itself (client.ts's socket link thread). A server
   * leases nothing to a client without it, which could not give a lease back.
   */
  readonly leases?: boolean;
}

/** An error as it crosses: enough to rebuild the tandem error class on the other side. */
export interface WireError {
  code: string | undefined;
  name: string;
  message: string;
  stack: string | undefined;
  fields: Record<string, unknown>;
}

export function toWire(error: unknown): WireError {
  if (!(error instanceof Error)) return { code: undefined, name: 'Error', message: String(error), stack: undefined, fields: {} };
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(error)) {
    const value = (error as unknown as Record<string, unknown>)[key];
    if (key !== 'code' && (value === null || typeof value !== 'function')) fields[key] = value;
  }
  return { code: (error as { code?: string }).code, name: error.name, message: error.message, stack: error.stack, fields };
}

// The errors a shared object's methods throw, by code, so they arrive with their class.
const CLASSES: Record<string, Function> = {
  ERR_TANDEM_DEADLOCK: DeadlockError,
  ERR_TANDEM_LOCK_NOT_HELD: LockNotHeldError,
  ERR_TANDEM_SEMAPHORE_OVER_RELEASE: SemaphoreOverReleaseError,
  ERR_TANDEM_BROKEN_BARRIER: BrokenBarrierError,
  ERR_TANDEM_SYNC_TIMEOUT: SyncTimeoutError,
  ERR_TANDEM_QUEUE_CLOSED: QueueClosedError,
  ERR_TANDEM_INVALID_OPTION: InvalidOptionError,
  ERR_TANDEM_CANCELLED: CancelledError,
  ERR_TANDEM_SERIALIZATION: SerializationError,
  ERR_TANDEM_MAIN_THREAD_BLOCKING: MainThreadBlockingError,
  ERR_TANDEM_SHARED_OBJECT_UNAVAILABLE: SharedObjectUnavailableError,
};

/** The error a WireError stands for, with its class (a real Error, its stack from where it was thrown). */
export function fromWire(wire: WireError): Error {
  const cls = wire.code === undefined ? undefined : CLASSES[wire.code];
  const error: Error = wire.code === undefined ? new Error(wire.message) : new TandemError(wire.code, wire.message);
  if (cls) Object.setPrototypeOf(error, cls.prototype as object);
  Object.assign(error, wire.fields);
  if (wire.stack) error.stack = wire.stack;
  return error;
}

/** One message as a frame: length, then the V8 serialization of the message. */
export function frame(message: unknown): Buffer {
  const body = serialize(message);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32LE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/**
 * A frame whose length word has this bit set is a stream frame, not V8: a
 * one-way SharedQueue op of a process worker (./queue-side.ts), the most
 * frequent frames there are, built and read without V8 serialization:
 *
 *   [length | STREAM_FRAME : u32 LE] [op : u8] [objectId : u32 LE] [value's bytes, as the queue stores them]
 */
const STREAM_FRAME = 0x80000000;
/** Stream frame ops. */
export const STREAM_PUT = 1;
export const STREAM_TOOK = 2;
const STREAM_OPS = ['', 'stream:put', 'stream:took'];

/** A stream frame (see STREAM_FRAME): `op` on queue `objectId`, with `bytes` for a put. */
export function streamFrame(op: number, objectId: number, bytes?: Uint8Array): Buffer {
  const length = 5 + (bytes?.length ?? 0);
  const out = Buffer.allocUnsafe(4 + length);
  out.writeUInt32LE((length | STREAM_FRAME) >>> 0, 0);
  out[4] = op;
  out.writeUInt32LE(objectId, 5);
  if (bytes) out.set(bytes, 9);
  return out;
}

/** Cuts a byte stream into messages; `feed` returns those complete so far. */
export class Deframer {
  #partial: Buffer = Buffer.alloc(0);

  feed(chunk: Buffer): unknown[] {
    const data = this.#partial.length > 0 ? Buffer.concat([this.#partial, chunk]) : chunk;
    const out: unknown[] = [];
    let at = 0;
    while (at + 4 <= data.length) {
      const word = data.readUInt32LE(at);
      const length = (word & ~STREAM_FRAME) >>> 0;
      if (at + 4 + length > data.length) break;
      if (word === length) {
        out.push(deserialize(data.subarray(at + 4, at + 4 + length)));
      } else {
        const op = data[at + 4];
        const args = op === STREAM_PUT ? [data.subarray(at + 9, at + 4 + length)] : [];
        out.push([ONE_WAY, data.readUInt32LE(at + 5), STREAM_OPS[op], args, undefined]);
      }
      at += 4 + length;
    }
    this.#partial = at === data.length ? Buffer.alloc(0) : data.subarray(at);
    return out;
  }
}
