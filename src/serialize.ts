import { type Registration, cannotSend, classMarker, registrationOf } from './classes.js';
import { SerializationError } from './errors.js';
import { isShareable, REMOTE_OBJECT, toMarker, type Shareable, type SharedMarker } from './shareable.js';
import { toRemoteMarker } from './share/host.js';
import { toHostMarker } from './share/redis/caller.js';
import { FLAG_SHARED, W_CHUNK_FAIL, W_CHUNK_OK, W_FAIL, W_OK, encodeError } from './protocol.js';
import { rehydrate } from './worker/rehydrate.js';

/**
 * One rule for what may cross between the caller and a task, in both
 * directions and on every backend: arguments are checked before anything is
 * queued, results before they are sent back, so a bad value fails its own
 * call, naming itself, instead of failing later inside a batch of other
 * people's tasks or, worse, arriving silently changed (a class instance
 * without its prototype). Inline calls are checked by the same rule, so a
 * task behaves the same before and after `auto` moves it.
 *
 * Values are walked once to check them. Only when they hold something that
 * travels as a marker — a shareable (lock, shared value), an instance of a
 * registered class — a second walk copies them with the markers in place
 * (arrays, objects, Maps and Sets on the way are copied, keeping cycles and
 * shared references; the caller's own objects are never mutated), and the
 * receiver rebuilds the markers (see ./worker/rehydrate.ts). Inline values
 * are handed over as they are: checked, never copied.
 */

/**
 * What may cross: `thread` (structured clone), `process` (V8 serializer; shared
 * objects as remote objects served by the caller) or `host` (another machine:
 * the same, the caller serving them through Redis).
 */
export type Boundary = 'thread' | 'process' | 'host';
/** `none`: the value stays on this event loop (inline), checked by the thread rule but passed as it is. */
export type Crossing = Boundary | 'none';

/** Whether values cross into another process (a child, or another host): no shared memory, nothing transferred. */
export function leavesProcess(boundary: Crossing): boolean {
  return boundary === 'process' || boundary === 'host';
}

/**
 * Deeper values fail the check. Structured clone and the V8 serializer
 * recurse on the native stack and overflow near 2,000 levels (less when
 * called deep in a stack), with a raw RangeError at send time.
 */
export const MAX_DEPTH = 1_000;

/** Built-in classes that structured clone rebuilds with their prototype (errors: see the instanceof Error check). */
const CLONEABLE = new Set<unknown>([
  Date.prototype,
  RegExp.prototype,
  ArrayBuffer.prototype,
  DataView.prototype,
  Boolean.prototype,
  Number.prototype,
  String.prototype,
]);
const TYPED_ARRAY_PROTO = Object.getPrototypeOf(Uint8Array.prototype) as object;

export interface CheckedArgs {
  args: unknown[];
  flags: number;
}

/** Returns the arguments ready to send (copied only where a marker was swapped in; as they are for `none`). */
export function checkArguments(args: unknown[], boundary: Crossing): CheckedArgs {
  let out = args;
  let flags = 0;
  for (let i = 0; i < args.length; i++) {
    const value = args[i];
    if (isPrimitive(value)) continue;
    const state = newState(boundary, i, false);
    check(value, `args[${i}]`, state);
    if (state.markers && boundary !== 'none') {
      flags |= FLAG_SHARED;
      if (out === args) out = args.slice();
      out[i] = encode(value, new Map(), markerFor(boundary));
    }
  }
  return { args: out, flags };
}

/** Same check for a single value (a map item), reported as argument 0. */
export function checkValue(value: unknown, boundary: Crossing, path: string): { value: unknown; shared: boolean } {
  if (isPrimitive(value)) return { value, shared: false };
  const state = newState(boundary, 0, false);
  check(value, path, state);
  if (!state.markers || boundary === 'none') return { value, shared: false };
  return { value: encode(value, new Map(), markerFor(boundary)), shared: true };
}

/** How a shared object crosses: over the same memory to a thread, as a remote object served by the caller elsewhere. */
function markerFor(boundary: Crossing): (object: Shareable) => SharedMarker {
  return boundary === 'process' ? toRemoteMarker : boundary === 'host' ? toHostMarker : toMarker;
}

/**
 * The key of the envelope around a result that holds markers: the caller
 * rebuilds only results that carry it (see {@link decodeResult}), so plain
 * results cost one property read there.
 */
const RESULT_ENVELOPE = '__tandemResult__';

/**
 * Worker side: queues a call's result, checked and encoded, or its
 * SerializationError (path `result…`) when it cannot be sent back.
 * `sameThread` (inline): checked only, passed as it is.
 */
export function pushResult(outbox: unknown[], id: number, value: unknown, sameThread: boolean): void {
  if (isPrimitive(value)) {
    outbox.push(W_OK, id, value);
    return;
  }
  let sent: unknown;
  try {
    sent = encodeResult(value, sameThread);
  } catch (error) {
    outbox.push(W_FAIL, id, encodeError(error));
    return;
  }
  outbox.push(W_OK, id, sent);
}

/**
 * A result ready to cross back to the caller: checked, and wrapped in the
 * envelope {@link decodeResult} opens when it holds instances of registered
 * classes (or shareables). Throws SerializationError naming the part of the
 * result that cannot be sent. `sameThread` (inline): checked only.
 */
export function encodeResult(value: unknown, sameThread = false): unknown {
  if (isPrimitive(value)) return value;
  // Results are checked by the thread rule: what a process cannot take
  // (shared memory) fails when it is sent, and is reported for that call alone.
  const state = newState('thread', -1, true);
  check(value, 'result', state);
  return state.markers && !sameThread ? { [RESULT_ENVELOPE]: encode(value, new Map()) } : value;
}

/** Worker side: the same for a chunk's results; an item that cannot be sent back fails the chunk at that item. */
export function pushChunkResults(outbox: unknown[], id: number, results: unknown[], sameThread: boolean): void {
  let markers = false;
  for (let i = 0; i < results.length; i++) {
    const value = results[i];
    if (isPrimitive(value)) continue;
    const state = newState('thread', -1, true);
    try {
      check(value, 'result', state);
    } catch (error) {
      outbox.push(W_CHUNK_FAIL, id, i, encodeError(error));
      return;
    }
    if (state.markers) markers = true;
  }
  outbox.push(W_CHUNK_OK, id, markers && !sameThread ? { [RESULT_ENVELOPE]: encode(results, new Map()) } : results);
}

/**
 * Caller side: a result as the worker sent it, with the instances of
 * registered classes (and shareables) it holds rebuilt. Throws
 * SerializationError when a class cannot be found here.
 */
export function decodeResult(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  const inner = (value as Record<string, unknown>)[RESULT_ENVELOPE];
  return inner === undefined ? value : rehydrate(inner, 'result');
}

interface WalkState {
  boundary: Crossing;
  index: number;
  result: boolean;
  seen: Set<object> | null;
  /** Something on the way travels as a marker: the value must be encoded. */
  markers: boolean;
}

function newState(boundary: Crossing, index: number, result: boolean): WalkState {
  return { boundary, index, result, seen: null, markers: false };
}

function isPrimitive(value: unknown): boolean {
  return (typeof value !== 'object' || value === null) && typeof value !== 'function' && typeof value !== 'symbol';
}

/**
 * Why a value cannot cross, on its way up from where the walk found it: each
 * level adds its step to the path, so a value that passes builds no path
 * strings at all.
 */
class Refusal {
  readonly steps: string[] = [];
  constructor(
    readonly why: string,
    /** Report the value as a whole (too deep: a path of a thousand steps helps nobody). */
    readonly whole = false,
  ) {}
}

/** Throws `error` with `step` added to its path (a Refusal), or as it is. */
function through(error: unknown, step: string): never {
  if (error instanceof Refusal && !error.whole) error.steps.push(step);
  throw error;
}

/** Checks `value`, reported as `root`; throws SerializationError naming the path. */
function check(value: unknown, root: string, state: WalkState): void {
  try {
    walk(value, state, 0);
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    throw new SerializationError(state.index, root + error.steps.reverse().join(''), error.why, { result: state.result });
  }
}

/** Checks `value` (throws a Refusal); sets `state.markers` when it must be encoded. */
function walk(value: unknown, state: WalkState, depth: number): void {
  switch (typeof value) {
    case 'function':
      throw new Refusal(
        `it is a function (${(value as Function).name || 'anonymous'}); functions cannot be copied to another thread or process. Pass ` +
          `data, and put code in a task`,
      );
    case 'symbol':
      throw new Refusal('it is a symbol; symbols cannot be copied to another thread or process');
    case 'object':
      break;
    default:
      return;
  }
  if (value === null) return;
  if (depth >= MAX_DEPTH) {
    throw new Refusal(
      `it is nested more than ${MAX_DEPTH} levels deep, deeper than structured clone can copy; flatten it (a long linked list into an ` +
        `array, say)`,
      true,
    );
  }
  const object = value as object;
  if (isShareable(object)) {
    if (!state.result && state.boundary !== 'none' && REMOTE_OBJECT in object) {
      // Its requests go through this process's one link to the caller, which a worker of this process does not have.
      throw new Refusal(
        'it is a shared object this process worker received from its caller: usable here, but it cannot be passed on to ' +
          "another pool's workers; create the pool in the process that created the object, or pass it to an inline pool",
      );
    }
    // To a process or host it crosses as a remote object, served by the caller (src/share/host.ts, src/share/redis/).
    state.markers = true;
    return;
  }
  const seen = (state.seen ??= new Set());
  if (seen.has(object)) return; // structured clone keeps cycles and shared references
  seen.add(object);

  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      const item: unknown = object[i];
      if (isPrimitive(item)) continue;
      try {
        walk(item, state, depth + 1);
      } catch (error) {
        through(error, `[${i}]`);
      }
    }
    return;
  }
  const proto = Object.getPrototypeOf(object) as object | null;
  if (proto === Object.prototype || proto === null) return walkProperties(object, state, depth);
  if (CLONEABLE.has(proto) || proto === TYPED_ARRAY_PROTO || Object.getPrototypeOf(proto) === TYPED_ARRAY_PROTO) return;
  if (object instanceof SharedArrayBuffer) {
    if (leavesProcess(state.boundary))
      throw new Refusal('a SharedArrayBuffer cannot be shared with another process; use the thread backend');
    return;
  }
  if (object instanceof Map) {
    for (const [k, v] of object) {
      try {
        if (!isPrimitive(k)) walk(k, state, depth + 1);
      } catch (error) {
        through(error, '<key>');
      }
      try {
        if (!isPrimitive(v)) walk(v, state, depth + 1);
      } catch (error) {
        through(error, `.get(${typeof k === 'string' ? JSON.stringify(k) : '…'})`);
      }
    }
    return;
  }
  if (object instanceof Set) {
    for (const v of object) {
      try {
        if (!isPrimitive(v)) walk(v, state, depth + 1);
      } catch (error) {
        through(error, '<item>');
      }
    }
    return;
  }
  if (object instanceof Error) return;
  if (isTransferOnly(object)) {
    if (leavesProcess(state.boundary)) throw new Refusal(`a ${ctorName(object)} cannot cross to another process`);
    return;
  }
  const registration = registrationOf(proto);
  if (registration !== undefined) {
    const why = cannotSend(registration);
    if (why !== null) throw new Refusal(why);
    state.markers = true;
    return walkProperties(object, state, depth);
  }
  const name = ctorName(object);
  throw new Refusal(
    `it is an instance of class ${name}, which would arrive as a plain object without its prototype and methods. Register the class in ` +
      `the module that exports it, registerClass(import.meta.url, ${/^[A-Za-z_$][\w$]*$/.test(name) ? name : 'TheClass'}), to send it ` +
      `with its prototype, or pass plain data (for example { ...value }) and rebuild the instance inside the task`,
  );
}

function walkProperties(object: object, state: WalkState, depth: number): void {
  const source = object as Record<string, unknown>;
  for (const key in source) {
    if (!Object.hasOwn(source, key)) continue;
    const item = source[key];
    if (isPrimitive(item)) continue;
    try {
      walk(item, state, depth + 1);
    } catch (error) {
      through(error, `.${key}`);
    }
  }
}

/**
 * Copies a checked value with its markers in place: every container on the
 * way is copied (once: `copies` keeps cycles and shared references as they
 * were, and the same instance becomes the same marker). `mark` makes the
 * marker of a shared object (see {@link markerFor}).
 */
function encode(value: unknown, copies: Map<object, unknown>, mark: (object: Shareable) => SharedMarker = toMarker): unknown {
  if (value === null || typeof value !== 'object') return value;
  const object = value as object;
  const done = copies.get(object);
  if (done !== undefined) return done;
  if (isShareable(object)) {
    const marker = mark(object);
    copies.set(object, marker);
    return marker;
  }
  if (Array.isArray(object)) {
    const copy = new Array<unknown>(object.length);
    copies.set(object, copy);
    for (let i = 0; i < object.length; i++) copy[i] = encode(object[i], copies, mark);
    return copy;
  }
  const proto = Object.getPrototypeOf(object) as object | null;
  if (proto === Object.prototype || proto === null) {
    const copy: Record<string, unknown> = proto === null ? (Object.create(null) as Record<string, unknown>) : {};
    copies.set(object, copy);
    copyProperties(object, copy, copies, mark);
    return copy;
  }
  if (object instanceof Map) {
    const copy = new Map<unknown, unknown>();
    copies.set(object, copy);
    for (const [k, v] of object) copy.set(encode(k, copies, mark), encode(v, copies, mark));
    return copy;
  }
  if (object instanceof Set) {
    const copy = new Set<unknown>();
    copies.set(object, copy);
    for (const v of object) copy.add(encode(v, copies, mark));
    return copy;
  }
  const registration: Registration | undefined = registrationOf(proto);
  if (registration === undefined) return value; // a built-in structured clone copies as it is
  const marker = classMarker(registration);
  copies.set(object, marker);
  copyProperties(object, marker.data, copies, mark);
  return marker;
}

function copyProperties(
  source: object,
  target: Record<string, unknown>,
  copies: Map<object, unknown>,
  mark: (object: Shareable) => SharedMarker,
): void {
  const from = source as Record<string, unknown>;
  for (const key in from) if (Object.hasOwn(from, key)) target[key] = encode(from[key], copies, mark);
}

function isTransferOnly(object: object): boolean {
  const name = ctorName(object);
  return name === 'MessagePort' || name === 'ReadableStream' || name === 'WritableStream' || name === 'TransformStream';
}

function ctorName(object: object): string {
  const proto = Object.getPrototypeOf(object) as { constructor?: { name?: string } } | null;
  return proto?.constructor?.name || 'anonymous';
}
