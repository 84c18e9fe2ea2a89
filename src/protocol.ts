/**
 * The message protocol between the pool (parent) and a worker runtime. This is
 * the only file both sides share besides the task and shareable registries.
 *
 * Every postMessage / process.send carries one *batch*: a flat array of frames,
 * each frame a tag followed by a fixed number of fields for that tag. Frames
 * sent in the same tick are coalesced into one batch, so a burst of 10k submits
 * costs a handful of messages instead of 10k (bench: "submit 100k trivial").
 * Flat arrays of numbers and values are the cheapest shape for structured
 * clone and for Node's advanced IPC serialization alike.
 *
 * Parent → worker frames                       fields
 *   P_HELLO    first frame a worker receives  {@link HelloData}
 *   P_DEFINE   bind a small integer key       key, TaskDefinition
 *   P_RUN      run one call                   id, key, args[], flags, ticket
 *   P_CHUNK    run a task over many items     id, key, items[], flags, ticket
 *              (ticket: the call's number in the order this worker receives calls;
 *              see src/worker/claims.ts)
 *   P_ABORT    cancel a call                  id, release (1: the pool gave up on it,
 *                                             free its place now — inline timeouts)
 *   P_REVOKE   give back a call sent ahead    id (answered by W_REVOKED if it had not
 *              that has not started           started; otherwise it runs and answers).
 *                                             Workers with claims (threads, processes)
 *                                             are taken back through them instead.
 *   P_SHUTDOWN finish what is held, then exit (none)
 *
 * Worker → parent frames
 *   W_READY       init done, ready to serve      pid
 *   W_INIT_FAILED init threw                     RemoteError
 *   W_STARTED     a call starts now              id
 *   W_OK          call fulfilled                 id, value
 *   W_FAIL        call rejected                  id, RemoteError
 *   W_CHUNK_OK    chunk fulfilled                id, results[]
 *   W_CHUNK_FAIL  item of a chunk rejected       id, itemIndex, RemoteError
 *   W_REVOKED     a revoked call will not run    id
 *   W_PACE        a task's calls became short    key, kind (0 run, 1 chunk), short (1) or
 *                 or long on this worker          long (0)
 *   W_STATS       closes every batch             busy milliseconds since start
 *   W_MEASURE     a measured call (FLAG_MEASURE)  id, wall ms, active ms, result bytes
 *   W_DYING       last words before an exit the   ids of the calls running, RemoteError of
 *                 pool did not ask for            an uncaught error or null
 *
 * Every call the parent sends is answered exactly once: W_OK, W_FAIL,
 * W_CHUNK_OK, W_CHUNK_FAIL or W_REVOKED — or the worker dies.
 *
 * What the parent can know of a call at any moment, and why it is enough to
 * blame a crash exactly (see src/pool/failure.ts): a worker reports W_STARTED,
 * and flushes everything it holds, before it starts any call that is not known
 * to be short (or that has a timeout), and flushes again as soon as such a call
 * ends. Only calls that are known to be short run without a word, batched.
 */
export const PROTOCOL_VERSION = 2;

export const P_HELLO = 1;
export const P_DEFINE = 2;
export const P_RUN = 3;
export const P_CHUNK = 4;
export const P_ABORT = 5;
export const P_SHUTDOWN = 6;
export const P_REVOKE = 7;

export const W_READY = 11;
export const W_INIT_FAILED = 12;
export const W_OK = 13;
export const W_FAIL = 14;
export const W_CHUNK_OK = 15;
export const W_CHUNK_FAIL = 16;
export const W_STATS = 17;
export const W_MEASURE = 18;
export const W_DYING = 19;
export const W_STARTED = 20;
export const W_REVOKED = 21;
export const W_PACE = 22;

/** Number of fields that follow each tag in a batch. */
export const FRAME_FIELDS: Readonly<Record<number, number>> = {
  [P_HELLO]: 1,
  [P_DEFINE]: 2,
  [P_RUN]: 5,
  [P_CHUNK]: 5,
  [P_ABORT]: 2,
  [P_SHUTDOWN]: 0,
  [P_REVOKE]: 1,
  [W_READY]: 1,
  [W_INIT_FAILED]: 1,
  [W_OK]: 2,
  [W_FAIL]: 2,
  [W_CHUNK_OK]: 2,
  [W_CHUNK_FAIL]: 3,
  [W_STATS]: 1,
  [W_MEASURE]: 4,
  [W_DYING]: 2,
  [W_STARTED]: 1,
  [W_REVOKED]: 1,
  [W_PACE]: 3,
};

/**
 * The pool may take back a call sent ahead at any moment through its claim
 * word (src/worker/claims.ts); a call taken back is never answered.
 */

/** Flag bits of P_RUN / P_CHUNK. */
export const FLAG_SHARED = 1; // args hold markers to rehydrate (shared objects, registered class instances)
export const FLAG_STAR = 2; // chunk items are argument lists (starmap)
// P_RUN payload is the only argument itself, not an argument list: one array
// less to serialize and rebuild per call (bench: "submit 100k trivial").
export const FLAG_SINGLE = 4;
// Report how long the call took and how much of it kept the event loop busy
// (W_MEASURE), for the auto backend's choice; off for ordinary calls.
export const FLAG_MEASURE = 8;
// Report W_STARTED even if the task is known to be short: the call has a
// timeout, whose clock starts when the call does.
export const FLAG_REPORT_START = 16;

/** Kinds of call, as W_PACE names them. */
export const KIND_RUN = 0;
export const KIND_CHUNK = 1;

export type Batch = unknown[];

/** How a worker finds a task again. */
export type TaskDefinition =
  | { kind: 'module'; module: string; name: string; index: number }
  | { kind: 'source'; source: string; name: string };

export interface HelloData {
  version: number;
  workerId: number;
  /** Async tasks this worker may run at the same time. */
  concurrency: number;
  init: { definition: TaskDefinition; args: unknown[]; flags: number } | null;
  /** Thread workers only: process-wide shared state (see registerThreadGlobal in ../shareable.ts). */
  threadGlobals: Record<string, unknown> | null;
}

/** An error as it crosses the boundary: what structured clone would drop, kept by hand. */
export interface RemoteError {
  name: string;
  message: string;
  stack: string | undefined;
  cause?: RemoteError | { value: unknown };
  props?: Record<string, unknown>;
  /** Set when the thrown value was not an Error. */
  thrown?: unknown;
}

const MAX_CAUSE_DEPTH = 8;

/** Turns anything a task threw into a cloneable {@link RemoteError}. */
export function encodeError(error: unknown, depth = 0): RemoteError {
  if (!(error instanceof Error)) {
    return {
      name: 'NonErrorThrown',
      message: `the task threw a non-Error value: ${safeString(error)}`,
      stack: undefined,
      thrown: cloneable(error) ? error : safeString(error),
    };
  }
  const encoded: RemoteError = { name: error.name, message: error.message, stack: error.stack };
  const props: Record<string, unknown> = {};
  let hasProps = false;
  for (const key of Object.keys(error)) {
    if (key === 'cause' || key === 'name' || key === 'message' || key === 'stack') continue;
    const value = (error as unknown as Record<string, unknown>)[key];
    if (cloneable(value)) {
      props[key] = value;
      hasProps = true;
    }
  }
  if (hasProps) encoded.props = props;
  if ('cause' in error && depth < MAX_CAUSE_DEPTH) {
    const cause = error.cause;
    encoded.cause = cause instanceof Error ? encodeError(cause, depth + 1) : { value: cloneable(cause) ? cause : safeString(cause) };
  }
  return encoded;
}

/** Rebuilds an Error from a {@link RemoteError} (used for causes; the top level becomes a TaskError). */
export function decodeErrorValue(remote: RemoteError): Error {
  const error = new Error(remote.message, remote.cause ? { cause: decodeCause(remote.cause) } : undefined);
  Object.defineProperty(error, 'name', { value: remote.name, configurable: true, writable: true, enumerable: false });
  error.stack = remote.stack;
  if (remote.props) Object.assign(error, remote.props);
  return error;
}

export function decodeCause(cause: RemoteError | { value: unknown }): unknown {
  return 'value' in cause && !('message' in cause) ? cause.value : decodeErrorValue(cause as RemoteError);
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function cloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}
