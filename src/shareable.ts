/**
 * The seam through which objects that live in shared memory (locks, shared
 * values, queues) cross into thread workers and arrive there as live objects.
 *
 * An object that can be shared implements `[encodeShared]()` and returns the
 * kind it is plus a structured-cloneable state (normally holding its
 * SharedArrayBuffer). The pool replaces it in the arguments by a marker; the
 * worker runtime finds the marker and calls the decoder registered for that
 * kind, which rebuilds the object over the same memory with its prototype.
 *
 * Decoders live on `globalThis` under a registered symbol so that every copy of
 * tandem loaded in one thread (ESM and CommonJS builds, a task module's own
 * import) sees the same table.
 */
import { SerializationError } from './errors.js';

/** The method a {@link Shareable} implements to say how it crosses to a thread worker. */
export const encodeShared: unique symbol = Symbol.for('tandem.shareable.encode') as never;

/** What a shareable object hands to the pool: its kind and its cloneable state. */
export interface SharedState {
  /** The name its decoder was registered under with {@link registerShareable}. */
  kind: string;
  /** What the decoder rebuilds it from: structured-cloneable, normally holding its SharedArrayBuffer. */
  state: unknown;
}

/** An object that can be passed, live, to thread workers. */
export interface Shareable {
  /** Its kind and state, from which the worker rebuilds it over the same memory. */
  [encodeShared](): SharedState;
}

/**
 * Set on the objects a process worker received from its caller (src/share/client.ts):
 * they stand for an object of another process, so they can be used but not passed on.
 */
export const REMOTE_OBJECT: unique symbol = Symbol.for('tandem.shareable.remote') as never;

/** The key of the marker object that stands for a shareable in a message. */
export const SHARED_MARKER = '__tandemShared__';

export interface SharedMarker {
  [SHARED_MARKER]: string;
  state: unknown;
}

type Decoder = (state: unknown) => unknown;

const DECODERS_KEY = Symbol.for('tandem.shareable.decoders');
const globals = globalThis as unknown as Record<symbol, Map<string, Decoder> | undefined>;
const decoders: Map<string, Decoder> = (globals[DECODERS_KEY] ??= new Map());

/** Registers how to rebuild a shareable of `kind` from its state. Called at module load by each shareable class. */
export function registerShareable(kind: string, decode: Decoder): void {
  decoders.set(kind, decode);
}

export function isShareable(value: object): value is Shareable {
  return typeof (value as Partial<Shareable>)[encodeShared] === 'function';
}

export function isSharedMarker(value: object): value is SharedMarker {
  return typeof (value as Partial<SharedMarker>)[SHARED_MARKER] === 'string';
}

export function toMarker(value: Shareable): SharedMarker {
  const { kind, state } = value[encodeShared]();
  return { [SHARED_MARKER]: kind, state };
}

export function fromMarker(marker: SharedMarker): unknown {
  const decode = decoders.get(marker[SHARED_MARKER]);
  if (!decode) {
    throw new SerializationError(
      -1,
      `a shared object of kind '${marker[SHARED_MARKER]}'`,
      'no decoder is registered for it in this worker; import the module that defines it from src/worker/shared-kinds.ts',
    );
  }
  return decode(marker.state);
}

/**
 * Process-wide shared state that every thread worker must receive at start
 * (for example the deadlock detector's wait-for graph). A provider registered
 * in the parent is called for each new thread worker; the worker runtime
 * installs the value before any task runs, where `threadGlobal(key)` finds it.
 */
const PROVIDERS_KEY = Symbol.for('tandem.threadGlobals.providers');
const VALUES_KEY = Symbol.for('tandem.threadGlobals.values');
const globalTables = globalThis as unknown as Record<symbol, Map<string, unknown> | undefined>;
const providers = (globalTables[PROVIDERS_KEY] ??= new Map()) as Map<string, () => unknown>;
const threadValues = (globalTables[VALUES_KEY] ??= new Map()) as Map<string, unknown>;

export function registerThreadGlobal(key: string, provide: () => unknown): void {
  providers.set(key, provide);
}

/** Values of all registered providers, sent in the hello of a new thread worker. */
export function collectThreadGlobals(): Record<string, unknown> | null {
  if (providers.size === 0) return null;
  const out: Record<string, unknown> = {};
  for (const [key, provide] of providers) out[key] = provide();
  return out;
}

export function installThreadGlobals(values: Record<string, unknown> | null | undefined): void {
  if (!values) return;
  for (const key of Object.keys(values)) threadValues.set(key, values[key]);
}

/** The value installed for `key` in this thread, if any. */
export function threadGlobal<T>(key: string): T | undefined {
  return threadValues.get(key) as T | undefined;
}
