/**
 * SharedQueue streams from process workers, the child's side (the server's
 * side, and why, is ./queue-side.ts): puts leave without waiting, a window
 * at a time; gets take values ahead, as many as the task uses quickly.
 *
 * The state is per queue and per process, not per object: every remote
 * object of one queue in this process shares what was taken ahead, so the
 * server's list of loaned values and this one stay in the same order.
 */
import { CancelledError } from '../errors.js';
import { decodeQueueValue, encodeQueueValue } from '../shared/queue.js';
import type { WaitingTask } from '../sync/deadlock.js';
import { checkTimeout } from '../sync/wait.js';
import { MAX_TAKE, unpack } from './queue-side.js';
import { fromWire, STREAM_PUT, STREAM_TOOK, type Reply, type WireError } from './wire.js';

/** Puts a process worker sends without waiting before one waits (fewer for a smaller maxSize). */
const WINDOW = 256;
/** Bytes a process worker sends without waiting (fewer for a smaller byteLength). */
const WINDOW_BYTES = 1 << 20;
/** A task that used the values it took ahead this fast (ms each) takes twice as many next time... */
const FAST_MS = 0.5;
/** ...and one this slow takes one at a time again, leaving the others to other consumers. */
const SLOW_MS = 5;

type TaskRef = WaitingTask | undefined;

/** What a queue's remote object asks through (a process worker's own link: it settles). */
export interface StreamLink {
  ask(objectId: number, op: string, args: unknown[], task: TaskRef, signal?: AbortSignal): Promise<unknown>;
  askSync(objectId: number, op: string, args: unknown[], task: TaskRef): unknown;
  tell(objectId: number, op: string, args: unknown[], task: TaskRef): void;
  tellStream(op: number, queueId: number, bytes?: Uint8Array): void;
  send(objectId: number, op: string, args: unknown[], task: TaskRef): number;
  receive(id: number, block: boolean, op?: string): Reply | undefined;
}

interface QueueState {
  /** Values taken ahead, oldest first, as the queue stores them. */
  ahead: Uint8Array[];
  /** Puts and bytes sent one-way since the last put that waited. */
  sent: number;
  sentBytes: number;
  /** Values the next take asks for at most. */
  batch: number;
  /** When the last take came back, and how many of the values since then the task used. */
  tookAt: number;
  used: number;
  /** The id of a take ahead in flight (a Sync request of the link), or 0. */
  pending: number;
}

const EMPTY = Symbol('empty');

const states = new Map<number, QueueState>();

function stateOf(id: number): QueueState {
  let state = states.get(id);
  if (!state) {
    state = { ahead: [], sent: 0, sentBytes: 0, batch: 1, tookAt: 0, used: 0, pending: 0 };
    states.set(id, state);
  }
  return state;
}

/**
 * Before a process worker's results leave (client.ts, settle): values taken
 * ahead and not used go back to their queues, and the windows start again
 * (the settle that follows waits for every put sent).
 */
export function dropTakenAhead(link: StreamLink): void {
  for (const [id, state] of states) {
    if (state.pending !== 0) {
      // Its values are loaned already: they go back with the others.
      const reply = link.receive(state.pending, true);
      if (reply?.[1]) state.ahead.push(...unpack(reply[2] as Uint8Array));
    }
    if (state.ahead.length > 0) link.tell(id, 'stream:giveBack', [state.ahead.length], undefined);
  }
  states.clear();
}

/** Whether any queue has values taken ahead (a settle must then happen even with nothing else sent). */
export function holdsTakenAhead(): boolean {
  for (const state of states.values()) if (state.ahead.length > 0 || state.pending !== 0) return true;
  return false;
}

type Options = { timeout?: number; signal?: AbortSignal } | undefined;

/** Replaces the put and get members of a process worker's remote SharedQueue `object` by streamed ones. */
export function pipelineQueue(object: Record<PropertyKey, unknown>, id: number, task: () => TaskRef, link: () => StreamLink): void {
  const byteLength = object.byteLength as number;
  const window = Math.max(1, Math.min(WINDOW, object.maxSize as number));
  const windowBytes = Math.min(WINDOW_BYTES, byteLength);

  /** The value's bytes, and whether this put waits for its answer (a window is full, or it has options). */
  const prepare = (value: unknown, options: Options): [Uint8Array, boolean] => {
    checkTimeout(options?.timeout);
    const bytes = encodeQueueValue(value, byteLength);
    const state = stateOf(id);
    if (
      options?.timeout !== undefined ||
      options?.signal !== undefined ||
      state.sent + 1 >= window ||
      state.sentBytes + bytes.length > windowBytes
    ) {
      state.sent = 0;
      state.sentBytes = 0;
      return [bytes, true];
    }
    state.sent++;
    state.sentBytes += bytes.length;
    link().tellStream(STREAM_PUT, id, bytes);
    return [bytes, false];
  };
  /** After a put that waited failed: the next waits too (so that a closed queue keeps saying so). */
  const failed = (error: unknown): never => {
    stateOf(id).sent = window;
    throw error;
  };
  const timeoutOnly = (options: Options): { timeout?: number } | undefined =>
    options?.timeout === undefined ? undefined : { timeout: options.timeout };

  define(object, 'putSync', (value: unknown, options?: Options) => {
    const [bytes, wait] = prepare(value, options);
    if (!wait) return;
    try {
      link().askSync(id, 'stream:put', [bytes, timeoutOnly(options)], task());
    } catch (error) {
      failed(error);
    }
  });
  define(object, 'put', (value: unknown, options?: Options) => {
    try {
      if (options?.signal?.aborted) throw new CancelledError('put() was aborted by its signal', { cause: options.signal.reason });
      const [bytes, wait] = prepare(value, options);
      if (!wait) return Promise.resolve();
      return link()
        .ask(id, 'stream:put', [bytes, timeoutOnly(options)], task(), options?.signal)
        .then(() => undefined, failed);
    } catch (error) {
      return Promise.reject(error);
    }
  });

  /** The oldest value taken ahead; the server learns it is used before the task sees it. */
  const handOut = (state: QueueState): unknown => {
    collect(state, false);
    const bytes = state.ahead.shift()!;
    state.used++;
    link().tellStream(STREAM_TOOK, id);
    takeAhead(state);
    return decodeQueueValue(bytes);
  };
  /** A waiting take came back: its first value is the caller's, the others wait here. */
  const received = (packed: Uint8Array): unknown => {
    const state = stateOf(id);
    const values = unpack(packed);
    arrived(state, values.length);
    state.used = 1;
    for (let i = 1; i < values.length; i++) state.ahead.push(values[i]);
    return decodeQueueValue(values[0]);
  };
  /**
   * While the task uses values quickly, asks for the next ones before it runs out: a request the
   * server answers at once with what is there (nothing, when another consumer waits).
   */
  const takeAhead = (state: QueueState): void => {
    if (state.pending !== 0 || state.batch < 2 || state.ahead.length > state.batch / 2) return;
    state.pending = link().send(id, 'stream:take', [nextBatch(state), undefined, true], task());
  };
  /** Adds what a take ahead brought, once its reply is here (`block`: waiting for it). */
  const collect = (state: QueueState, block: boolean): void => {
    if (state.pending === 0) return;
    const reply = link().receive(state.pending, block, 'get');
    if (!reply) return;
    state.pending = 0;
    if (!reply[1]) throw fromWire(reply[2] as WireError);
    const values = unpack(reply[2] as Uint8Array);
    arrived(state, values.length);
    for (const value of values) state.ahead.push(value);
  };
  const arrived = (state: QueueState, count: number): void => {
    state.tookAt = performance.now();
    state.used = 0;
    if (count === 0) state.batch = Math.max(1, state.batch >> 1);
  };
  /** How many values the next take asks for: more while the task uses them quickly, one when it is slow. */
  const nextBatch = (state: QueueState): number => {
    if (state.used > 0) {
      const each = (performance.now() - state.tookAt) / state.used;
      if (each < FAST_MS) state.batch = Math.min(MAX_TAKE, state.batch * 2);
      else if (each > SLOW_MS) state.batch = 1;
    }
    return state.batch;
  };
  /** A value from those taken ahead (after waiting for a take ahead in flight), or EMPTY. */
  const fromAhead = (state: QueueState): unknown => {
    if (state.ahead.length === 0) collect(state, true);
    return state.ahead.length > 0 ? handOut(state) : EMPTY;
  };

  define(object, 'getSync', (options?: Options) => {
    checkTimeout(options?.timeout);
    const state = stateOf(id);
    const value = fromAhead(state);
    if (value !== EMPTY) return value;
    return received(link().askSync(id, 'stream:take', [nextBatch(state), timeoutOnly(options)], task()) as Uint8Array);
  });
  define(object, 'get', (options?: Options) => {
    try {
      checkTimeout(options?.timeout);
      const state = stateOf(id);
      const value = fromAhead(state);
      if (value !== EMPTY) return Promise.resolve(value);
      // Values taken ahead come through Sync requests only, each collected before the next is sent:
      // the order of this process's list is then the order of the server's list of loans. A reply to
      // an async request may still be on its way while a Sync one is read, so a waiting get takes one
      // value and loans none.
      const most = nextBatch(state);
      if (most > 1) {
        state.pending = link().send(id, 'stream:take', [most, undefined, true], task());
        const taken = fromAhead(state);
        if (taken !== EMPTY) return Promise.resolve(taken);
      }
      if (options?.signal?.aborted) throw new CancelledError('get() was aborted by its signal', { cause: options.signal.reason });
      return link()
        .ask(id, 'stream:take', [1, timeoutOnly(options)], task(), options?.signal)
        .then((packed) => received(packed as Uint8Array));
    } catch (error) {
      return Promise.reject(error);
    }
  });
  const tryGet = object.tryGet as () => unknown;
  define(object, 'tryGet', () => {
    const state = stateOf(id);
    const value = fromAhead(state);
    return value !== EMPTY ? { value } : tryGet();
  });
}

function define(object: object, key: PropertyKey, value: unknown): void {
  Object.defineProperty(object, key, { configurable: true, value });
}
