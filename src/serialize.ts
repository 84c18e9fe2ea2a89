import { SerializationError } from './errors.js';
import { isShareable, toMarker } from './shareable.js';
import { FLAG_SHARED } from './protocol.js';

/**
 * Checks, before anything is queued, that arguments survive the trip to a
 * worker unchanged, so a bad argument fails at submit, naming itself, instead
 * of failing later inside a batch of other people's tasks or, worse, arriving
 * silently changed (a class instance loses its prototype on the way).
 *
 * Shareable objects (locks, shared values) are swapped for markers that the
 * worker rebuilds; where that happens the containers on the way are copied,
 * never the caller's own objects mutated.
 */

/** What may cross: `thread` (structured clone) or `process` (V8 serializer, no shared memory). */
export type Boundary = 'thread' | 'process';

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

/** Returns the arguments ready to send (copied only where a shareable was swapped). */
export function checkArguments(args: unknown[], boundary: Boundary): CheckedArgs {
  let out = args;
  let flags = 0;
  for (let i = 0; i < args.length; i++) {
    const value = args[i];
    if (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol') continue;
    const state: WalkState = { boundary, index: i, seen: null, shared: false };
    const replaced = walk(value, `args[${i}]`, state);
    if (state.shared) flags |= FLAG_SHARED;
    if (replaced !== value) {
      if (out === args) out = args.slice();
      out[i] = replaced;
    }
  }
  return { args: out, flags };
}

/** Same check for a single value (a map item), reported as argument 0. */
export function checkValue(value: unknown, boundary: Boundary, path: string): { value: unknown; shared: boolean } {
  if (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol') return { value, shared: false };
  const state: WalkState = { boundary, index: 0, seen: null, shared: false };
  return { value: walk(value, path, state), shared: state.shared };
}

interface WalkState {
  boundary: Boundary;
  index: number;
  seen: Set<object> | null;
  shared: boolean;
}

function fail(state: WalkState, path: string, why: string): never {
  throw new SerializationError(state.index, path, why);
}

function walk(value: unknown, path: string, state: WalkState): unknown {
  switch (typeof value) {
    case 'function':
      return fail(
        state,
        path,
        `it is a function (${(value as Function).name || 'anonymous'}); functions cannot be copied to another thread or process. Pass data, and put code in a task`,
      );
    case 'symbol':
      return fail(state, path, 'it is a symbol; symbols cannot be copied to another thread or process');
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null) return value;
  const object = value as object;
  if (isShareable(object)) {
    if (state.boundary === 'process') {
      fail(state, path, 'it lives in shared memory, which only threads share; use the thread backend to pass it');
    }
    state.shared = true;
    return toMarker(object);
  }
  const seen = (state.seen ??= new Set());
  if (seen.has(object)) return value; // structured clone keeps cycles
  seen.add(object);

  if (Array.isArray(object)) return walkEntries(object, path, state, true);
  const proto = Object.getPrototypeOf(object) as object | null;
  if (proto === Object.prototype || proto === null) return walkEntries(object, path, state, false);
  if (CLONEABLE.has(proto) || proto === TYPED_ARRAY_PROTO || Object.getPrototypeOf(proto) === TYPED_ARRAY_PROTO) {
    return value;
  }
  if (object instanceof SharedArrayBuffer) {
    if (state.boundary === 'process') fail(state, path, 'a SharedArrayBuffer cannot be shared with another process; use the thread backend');
    return value;
  }
  if (object instanceof Map) {
    for (const [k, v] of object) {
      walk(k, `${path}<key>`, state);
      walk(v, `${path}.get(${typeof k === 'string' ? JSON.stringify(k) : '…'})`, state);
    }
    return value;
  }
  if (object instanceof Set) {
    for (const v of object) walk(v, `${path}<item>`, state);
    return value;
  }
  if (object instanceof Error) return value;
  if (isTransferOnly(object)) {
    if (state.boundary === 'process') fail(state, path, `a ${ctorName(object)} cannot cross to another process`);
    return value;
  }
  return fail(
    state,
    path,
    `it is an instance of class ${ctorName(object)}, which would arrive as a plain object without its prototype and methods; pass plain data (for example { ...value }) and rebuild the instance inside the task`,
  );
}

function walkEntries(object: object, path: string, state: WalkState, isArray: boolean): unknown {
  let copy: Record<string, unknown> | unknown[] | null = null;
  const source = object as Record<string, unknown>;
  const keys = Object.keys(object);
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!;
    const item = source[key];
    if (typeof item !== 'object' && typeof item !== 'function' && typeof item !== 'symbol') continue;
    const replaced = walk(item, isArray ? `${path}[${key}]` : `${path}.${key}`, state);
    if (replaced !== item) {
      copy ??= isArray ? (object as unknown[]).slice() : { ...source };
      (copy as Record<string, unknown>)[key] = replaced;
    }
  }
  return copy ?? object;
}

function isTransferOnly(object: object): boolean {
  const name = ctorName(object);
  return name === 'MessagePort' || name === 'ReadableStream' || name === 'WritableStream' || name === 'TransformStream';
}

function ctorName(object: object): string {
  const proto = Object.getPrototypeOf(object) as { constructor?: { name?: string } } | null;
  return proto?.constructor?.name || 'anonymous';
}
